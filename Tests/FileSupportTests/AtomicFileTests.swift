import FileSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct AtomicFileTests {
    /// A fresh folder, removed by `defer` at the call site.
    static func folder() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-atomic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    static func contents(_ folder: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: folder).sorted() }

    @Test func aWriteReplacesTheOldFileWhole() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/file.bin"
        try AtomicFile.write(Data(repeating: 1, count: 10_000), to: path)
        try AtomicFile.write(Data("short".utf8), to: path)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("short".utf8), "no tail of the longer old file")
        #expect(try Self.contents(folder) == ["file.bin"], "no temporary left")
    }

    /// Written in pieces: nothing at the destination until the commit, then all of it.
    @Test func piecesAreInvisibleUntilTheCommit() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/checkpoint.bin"
        try AtomicFile.write(Data("old".utf8), to: path)
        let file = try AtomicFile(path: path)
        #expect(URL(fileURLWithPath: file.temporaryPath).deletingLastPathComponent().path == folder)
        var expected = Data()
        for piece in 0..<100 {
            let chunk = Data(repeating: UInt8(piece), count: 1000 + piece)
            try file.write(chunk)
            expected.append(chunk)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("old".utf8))
        }
        #expect(file.bytesWritten == expected.count)
        try file.commit()
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == expected)
        #expect(try Self.contents(folder) == ["checkpoint.bin"])
    }

    /// A file dropped uncommitted (a failure half way) leaves the old file and no temporary.
    @Test func anAbandonedWriteLeavesTheOldFileAndNoTemporary() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/masks.npz"
        try AtomicFile.write(Data("old".utf8), to: path)
        do {
            let file = try AtomicFile(path: path)
            try file.write(Data(repeating: 7, count: 5000))
            #expect(try Self.contents(folder).count == 2, "the temporary exists while writing")
        }
        #expect(try Self.contents(folder) == ["masks.npz"])
        let explicit = try AtomicFile(path: path)
        try explicit.write(Data("new".utf8))
        explicit.abandon()
        #expect(throws: FileWriteError.self) { try explicit.write(Data("late".utf8)) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("old".utf8))
        #expect(try Self.contents(folder) == ["masks.npz"])
    }

    /// A rename that cannot happen (the destination is a non-empty folder) fails naming the
    /// destination and errno, and leaves no temporary.
    @Test func aFailedRenameNamesThePathAndLeavesNoTemporary() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/taken"
        try FileManager.default.createDirectory(atPath: "\(path)/inside", withIntermediateDirectories: true)
        let error = try #require(throws: FileWriteError.self) { try AtomicFile.write(Data("x".utf8), to: path) }
        #expect(error.path == path && error.description.contains(path) && error.description.contains("(errno \(error.errno))"), "\(error)")
        #expect(try Self.contents(folder) == ["taken"])
    }

    @Test func aMissingFolderFailsNamingTheTemporaryAndErrno() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let error = try #require(throws: FileWriteError.self) { try AtomicFile.write(Data("x".utf8), to: "\(folder)/missing/file") }
        #expect(error.errno == ENOENT && error.path.hasPrefix("\(folder)/missing/"), "\(error)")
        #expect(error.description.contains("\(folder)/missing/") && error.description.contains(String(cString: strerror(ENOENT))), "\(error)")
        #expect(try Self.contents(folder).isEmpty)
    }

    /// Out of space is told apart (the service answers it with 507), and its text says so.
    @Test func diskFullIsToldApart() {
        #expect(FileWriteError.io(path: "/a", operation: "write", errno: ENOSPC).isDiskFull)
        #expect(FileWriteError.io(path: "/a", operation: "fsync", errno: EDQUOT).isDiskFull)
        #expect(!FileWriteError.io(path: "/a", operation: "write", errno: EIO).isDiskFull)
        #expect(FileWriteError.io(path: "/a", operation: "write", errno: ENOSPC).description.contains("No space left on device"))
    }

    /// A content-addressed file: its temporary in another folder, its name given at the commit.
    @Test func aTemporaryElsewhereIsNamedAtTheCommit() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: "\(folder)/uploads", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(folder)/store", withIntermediateDirectories: true)
        let file = try AtomicFile(temporaryIn: "\(folder)/uploads")
        try file.write(Data("blob".utf8))
        #expect(try Self.contents("\(folder)/uploads").count == 1)
        try file.commit(to: "\(folder)/store/abcd")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/store/abcd")) == Data("blob".utf8))
        #expect(try Self.contents("\(folder)/uploads").isEmpty)
    }

    /// A library that writes to a path of its own: its file lands whole; when it fails, the old
    /// file stays and whatever it left at the temporary path is removed.
    @Test func replaceByABodyCommitsOrLeavesTheOldFile() throws {
        struct Refused: Error {}
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/backup.sqlite"
        let size = try AtomicFile.replace(path) { temporary in
            #expect(!FileManager.default.fileExists(atPath: temporary), "the body creates the file")
            try Data("first".utf8).write(to: URL(fileURLWithPath: temporary))
            return 5
        }
        #expect(size == 5)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("first".utf8))
        #expect(throws: Refused.self) {
            try AtomicFile.replace(path) { temporary in
                try Data("half".utf8).write(to: URL(fileURLWithPath: temporary))
                throw Refused()
            }
        }
        let missing = try #require(throws: FileWriteError.self) { try AtomicFile.replace(path) { _ in } }
        #expect(missing.errno == ENOENT, "a body that made no file: \(missing)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("first".utf8))
        #expect(try Self.contents(folder) == ["backup.sqlite"])
    }
}
