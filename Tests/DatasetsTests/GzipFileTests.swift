import Foundation
import Testing
@testable import Datasets

@Suite struct GzipFileTests {
    @Test func roundTripsThroughZlib() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let payload: [UInt8] = (0..<100_000).map { (i: Int) -> UInt8 in UInt8((i * 31 + i / 7) % 251) }
        let path = try directory.writeGzip(payload, to: "payload.gz")
        let stored = try FileBytes.readRaw(path)
        #expect(GzipFile.hasGzipMagic(stored))
        #expect(stored.count < payload.count)
        #expect(try GzipFile.read(path) == payload)
    }

    @Test func readsRawFilesUnchanged() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let payload: [UInt8] = [0, 1, 2, 0x1F, 0x8B]
        let path = try directory.write(payload, to: "raw.bin")
        #expect(try GzipFile.read(path) == payload)
    }

    @Test func readsConcatenatedMembers() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try FileBytes.readRaw(try directory.writeGzip([1, 2, 3], to: "a.gz"))
        let second = try FileBytes.readRaw(try directory.writeGzip([4, 5], to: "b.gz"))
        let path = try directory.write(first + second, to: "both.gz")
        #expect(try GzipFile.read(path) == [1, 2, 3, 4, 5])
    }

    @Test func truncatedStreamIsCorrupt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let payload = (0..<50_000).map { UInt8($0 % 253) }
        let whole = try FileBytes.readRaw(try directory.writeGzip(payload, to: "whole.gz"))
        let path = try directory.write(Array(whole.prefix(whole.count / 2)), to: "half.gz")
        #expect {
            _ = try GzipFile.read(path)
        } throws: { error in
            guard case .corruptFile(let reported, let reason) = error as? DatasetError else { return false }
            return reported == path && reason.contains("truncated")
        }
    }

    @Test func garbageAfterMagicIsCorrupt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write([0x1F, 0x8B, 0x08, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], to: "bad.gz")
        #expect {
            _ = try GzipFile.read(path)
        } throws: { error in
            guard case .corruptFile(let reported, _) = error as? DatasetError else { return false }
            return reported == path
        }
    }

    @Test func missingFileNamesThePath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("absent.gz")
        #expect(throws: DatasetError.missingFile(path: path)) { try GzipFile.read(path) }
    }
}
