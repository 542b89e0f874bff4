import FileSupport
import Foundation
import ZIPFoundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// NumPy `.npz` archives: a zip file of `.npy` arrays, stored (`np.savez`) or deflated
/// (`np.savez_compressed`), each entry named after its array plus `.npy`.
public enum NPZArchive {
    /// Chunk size for ZIPFoundation's reads, writes and (de)compression: large enough that a
    /// VGG-16 mask set (~15 MB) takes a handful of calls, not a thousand.
    static let chunkSize = 1 << 20

    /// Reads every array of the archive at `path` in archive order, names without `.npy`.
    public static func read(path: String) throws(NPZError) -> [(name: String, array: NPYArray)] {
        try entries(path: path).map { ($0.name, NPYArray($0.array)) }
    }

    /// Every entry of the archive at `path` in archive order, parsed but not converted: what the
    /// arrays are (names, shapes, dtypes) before any values are widened.
    static func entries(path: String) throws(NPZError) -> [(name: String, array: NPYEntry)] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .cannotOpen(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue else { throw .cannotOpen(path: path, reason: "is a directory") }
        guard FileManager.default.isReadableFile(atPath: path) else { throw .cannotOpen(path: path, reason: "permission denied") }
        let url = URL(fileURLWithPath: path)
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch Archive.ArchiveError.missingEndOfCentralDirectoryRecord {
            throw .corruptArchive(path: path, reason: "not a zip file (no end-of-central-directory record)")
        } catch {
            throw .corruptArchive(path: path, reason: "unreadable zip file (\(error))")
        }
        // A corrupt central directory makes ZIPFoundation's iteration end early instead of failing,
        // so the entry count the end record promises is checked against what iteration found.
        let promised = centralDirectoryEntryCount(of: url)
        var arrays: [(name: String, array: NPYEntry)] = []
        var names = Set<String>()
        var found = 0
        for entry in archive {
            found += 1
            guard entry.type == .file, entry.path.hasSuffix(".npy") else {
                throw .corruptArchive(path: path, reason: "entry '\(entry.path)' is not an .npy array")
            }
            let name = String(entry.path.dropLast(4))
            guard names.insert(name).inserted else { throw .corruptArchive(path: path, reason: "two entries named '\(entry.path)'") }
            let bytes = try contents(of: entry, in: archive, path: path, name: name)
            arrays.append((name, try NPYEntry(npyData: bytes, path: path, entry: name)))
        }
        if let promised, promised != found {
            throw .corruptArchive(path: path, reason: "the central directory promises \(promised) entries, \(found) are readable")
        }
        return arrays
    }

    /// Writes `arrays` as entries in the given order, deflated when `compressed` (as
    /// `np.savez_compressed`). Atomic (`AtomicFile`): the archive is written to a temporary file
    /// beside `path` and renamed over it, so on any error `path` is left as it was (absent or untouched).
    public static func write(_ arrays: [(name: String, array: NPYArray)], to path: String, compressed: Bool) throws(NPZError) {
        try write(entries: encoders(arrays, path: path), to: path, compressed: compressed)
    }

    /// Writes entries whose `.npy` bytes each encoder makes when its turn comes (so only one
    /// array's bytes are held twice), atomically as `write(_:to:compressed:)`.
    static func write(entries: [(name: String, npyData: () throws(NPZError) -> Data)], to path: String,
                      compressed: Bool) throws(NPZError) {
        try checkNames(entries.map(\.name), path: path)
        let destination = URL(fileURLWithPath: path)
        let directory = destination.deletingLastPathComponent()
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .cannotWrite(path: path, reason: "directory \(directory.path) does not exist")
        }
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .cannotWrite(path: path, reason: "is a directory")
        }
        do {
            try AtomicFile.replace(path) { temporary in
                try writeArchive(entries, to: URL(fileURLWithPath: temporary), path: path, compressed: compressed)
            }
        } catch let error as NPZError {
            throw error
        } catch {
            throw .cannotWrite(path: path, reason: "\(error)")
        }
    }

    /// The archive's bytes, built in memory (what a server sends as a download).
    public static func data(_ arrays: [(name: String, array: NPYArray)], compressed: Bool) throws(NPZError) -> Data {
        try checkNames(arrays.map(\.name), path: "<memory>")
        let archive: Archive
        do {
            archive = try Archive(data: Data(), accessMode: .create)
        } catch {
            throw .cannotWrite(path: "<memory>", reason: "cannot create an in-memory archive: \(error)")
        }
        try addEntries(encoders(arrays, path: "<memory>"), to: archive, path: "<memory>", compressed: compressed)
        guard let data = archive.data else { throw .cannotWrite(path: "<memory>", reason: "the in-memory archive has no data") }
        return data
    }

    private static func encoders(_ arrays: [(name: String, array: NPYArray)], path: String)
        -> [(name: String, npyData: () throws(NPZError) -> Data)] {
        arrays.map { name, array in (name, { () throws(NPZError) -> Data in try array.npyData(path: path, entry: name) }) }
    }

    private static func checkNames(_ names: [String], path: String) throws(NPZError) {
        var seen = Set<String>()
        for name in names {
            guard !name.isEmpty else { throw .invalidArray(path: path, entry: name, reason: "empty array name") }
            guard seen.insert(name).inserted else { throw .invalidArray(path: path, entry: name, reason: "name used twice") }
        }
    }

    /// Writes the archive to `temporary`; the archive is closed on return.
    private static func writeArchive(_ entries: [(name: String, npyData: () throws(NPZError) -> Data)], to temporary: URL,
                                     path: String, compressed: Bool) throws(NPZError) {
        let archive: Archive
        do {
            archive = try Archive(url: temporary, accessMode: .create)
        } catch {
            throw .cannotWrite(path: path, reason: "cannot create \(temporary.lastPathComponent): \(error)")
        }
        try addEntries(entries, to: archive, path: path, compressed: compressed)
    }

    private static func addEntries(_ entries: [(name: String, npyData: () throws(NPZError) -> Data)], to archive: Archive,
                                   path: String, compressed: Bool) throws(NPZError) {
        for (name, npyData) in entries {
            // Encoded one entry at a time, so only one array's bytes are held twice.
            let bytes = try npyData()
            do {
                try archive.addEntry(with: name + ".npy", type: .file, uncompressedSize: Int64(bytes.count),
                                     compressionMethod: compressed ? .deflate : .none, bufferSize: chunkSize) { position, size in
                    bytes.subdata(in: Int(position)..<(Int(position) + size))
                }
            } catch {
                throw .cannotWrite(path: path, reason: "cannot add entry '\(name).npy': \(error)")
            }
        }
    }

    private struct ExpandsPastClaim: Error {}

    /// The uncompressed bytes of one entry, its CRC-32 and size checked.
    private static func contents(of entry: Entry, in archive: Archive, path: String, name: String) throws(NPZError) -> Data {
        var bytes = Data()
        // A corrupt header may claim any size: reserve at most 256 MiB up front, grow past it if real.
        bytes.reserveCapacity(Int(min(entry.uncompressedSize, 1 << 28)))
        do {
            _ = try archive.extract(entry, bufferSize: chunkSize, skipCRC32: true) { chunk in
                // A deflated entry may expand far past the size its header claims (a zip bomb):
                // stop at the claim instead of following the data.
                guard UInt64(bytes.count + chunk.count) <= entry.uncompressedSize else { throw ExpandsPastClaim() }
                bytes.append(chunk)
            }
        } catch is ExpandsPastClaim {
            throw .corruptArray(path: path, entry: name, reason: "expands past the \(entry.uncompressedSize) bytes its header declares")
        } catch {
            throw .corruptArray(path: path, entry: name, reason: "cannot extract \(entry.path) (\(error))")
        }
        let checksum = CRC32Checksum.of(bytes)
        guard checksum == entry.checksum else {
            throw .corruptArray(path: path, entry: name, reason: "CRC-32 mismatch (stored \(entry.checksum), computed \(checksum))")
        }
        guard bytes.count == entry.uncompressedSize else {
            throw .corruptArray(path: path, entry: name, reason: "\(bytes.count) bytes extracted, \(entry.uncompressedSize) expected")
        }
        return bytes
    }

    /// The entry count of the end-of-central-directory record (the last one in the file), or nil
    /// when there is none or it defers to ZIP64 (0xFFFF).
    static func centralDirectoryEntryCount(of url: URL) -> Int? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return nil }
        // The record is 22 bytes plus a comment of at most 65 535 bytes.
        let tailLength = min(size, 22 + 0xFFFF)
        guard (try? handle.seek(toOffset: size - tailLength)) != nil, let tail = try? handle.read(upToCount: Int(tailLength)),
              tail.count >= 22 else { return nil }
        let bytes = [UInt8](tail)
        for start in stride(from: bytes.count - 22, through: 0, by: -1)
        where bytes[start] == 0x50 && bytes[start + 1] == 0x4B && bytes[start + 2] == 0x05 && bytes[start + 3] == 0x06 {
            let count = Int(bytes[start + 10]) | Int(bytes[start + 11]) << 8
            return count == 0xFFFF ? nil : count
        }
        return nil
    }
}
