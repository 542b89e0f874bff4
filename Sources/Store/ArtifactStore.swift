import Crypto
import FileSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where large blobs (checkpoints) live, outside the database rows: content-addressed by their
/// SHA-256, written whole or not at all. SQLite keeps what refers to them (run, phase, step,
/// size, hash), so a blob becomes visible in the same transaction that records it, and a blob
/// nothing records is garbage (`Store.collectGarbage`).
///
/// One small protocol so that a shared filesystem path (Slurm clusters: every node mounts it) or
/// an object store can stand in without touching the queue: uploads stream in and commit under
/// their hash, downloads stream out by hash.
public protocol ArtifactStore: Sendable {
    /// Starts receiving a blob; nothing is visible until `commit`. `label` says what it is while
    /// it streams in (a run key and step: `uploads/` then shows whose checkpoints are in flight).
    func beginUpload(label: String) throws -> any ArtifactUpload
    /// The size of a stored blob, nil when there is none.
    func size(of sha256: String) -> Int?
    /// Reads a stored blob in order, a chunk at a time.
    func reader(for sha256: String) throws -> any ArtifactReader
    /// Removes a stored blob (no error when it is already gone).
    func remove(_ sha256: String) throws
    /// Every stored blob, with its size and when it was written.
    func list() throws -> [StoredArtifact]
    /// Uploads that never committed (a crashed or disconnected sender), older than `age` seconds;
    /// removed when `remove`.
    @discardableResult
    func abandonedUploads(olderThan age: Double, remove: Bool) throws -> (count: Int, bytes: Int)
}

extension ArtifactStore {
    /// Starts receiving a blob that needs no label.
    public func beginUpload() throws -> any ArtifactUpload { try beginUpload(label: "") }
}

public struct StoredArtifact: Sendable, Equatable {
    public var sha256: String
    public var size: Int
    /// Unix seconds.
    public var modified: Double
}

/// A blob being received.
public protocol ArtifactUpload: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
    var bytesWritten: Int { get }
    /// The SHA-256 of what was written so far (lowercase hex).
    var sha256: String { get }
    /// Makes the blob durable and visible under its hash; returns the hash.
    func commit() throws -> String
    /// Drops what was written.
    func abort()
}

/// A stored blob read in order.
public protocol ArtifactReader: AnyObject, Sendable {
    /// Up to `maximum` next bytes; empty at the end.
    func read(upTo maximum: Int) throws -> [UInt8]
    var size: Int { get }
}

public enum ArtifactError: Error, CustomStringConvertible {
    case io(path: String, operation: String, errno: Int32)
    case missing(String)

    public var description: String {
        switch self {
        case let .io(path, operation, code): "artifact store: \(operation) \(path) failed: \(String(cString: strerror(code)))"
        case let .missing(hash): "artifact \(hash) is not in the store"
        }
    }
}

/// Artifacts as files under a directory: `sha256/ab/abcd…` (two-character fan-out, so no folder
/// grows past a few thousand entries) and `uploads/` for blobs in flight. A blob is written to
/// `uploads/`, fsynced, renamed into place and its folder fsynced: a crash leaves either the whole
/// blob or an abandoned upload, never a torn file under a hash.
public final class FileArtifactStore: ArtifactStore {
    public let root: String

    public init(root: String) throws {
        self.root = root
        for folder in [root, "\(root)/sha256", "\(root)/uploads"] {
            if mkdir(folder, 0o755) != 0, errno != EEXIST { throw ArtifactError.io(path: folder, operation: "mkdir", errno: errno) }
        }
    }


    func path(of sha256: String) -> String { "\(root)/sha256/\(sha256.prefix(2))/\(sha256)" }

    public func beginUpload(label: String) throws -> any ArtifactUpload { try FileUpload(store: self, label: label) }

    public func size(of sha256: String) -> Int? {
        guard ContentAddress.isSHA256(sha256) else { return nil }
        var info = stat()
        return stat(path(of: sha256), &info) == 0 ? Int(info.st_size) : nil
    }

    public func reader(for sha256: String) throws -> any ArtifactReader {
        guard ContentAddress.isSHA256(sha256) else { throw ArtifactError.missing(sha256) }
        do {
            return try FileChunkReader(path: path(of: sha256))
        } catch ArtifactError.io(_, "open", ENOENT) {
            throw ArtifactError.missing(sha256)
        }
    }

    public func remove(_ sha256: String) throws {
        guard ContentAddress.isSHA256(sha256) else { return }
        if unlink(path(of: sha256)) != 0, errno != ENOENT { throw ArtifactError.io(path: path(of: sha256), operation: "unlink", errno: errno) }
    }

    public func list() throws -> [StoredArtifact] {
        var found: [StoredArtifact] = []
        for fan in try entries(of: "\(root)/sha256") {
            for name in try entries(of: "\(root)/sha256/\(fan)") where ContentAddress.isSHA256(name) {
                var info = stat()
                guard stat(path(of: name), &info) == 0 else { continue }
                found.append(StoredArtifact(sha256: name, size: Int(info.st_size), modified: Double(info.st_mtim.tv_sec)))
            }
        }
        return found.sorted { $0.sha256 < $1.sha256 }
    }

    public func abandonedUploads(olderThan age: Double, remove: Bool) throws -> (count: Int, bytes: Int) {
        let cutoff = Date().timeIntervalSince1970 - age
        var count = 0, bytes = 0
        for name in try entries(of: "\(root)/uploads") {
            let file = "\(root)/uploads/\(name)"
            var info = stat()
            guard stat(file, &info) == 0, Double(info.st_mtim.tv_sec) <= cutoff else { continue }
            if !remove || unlink(file) == 0 {
                count += 1
                bytes += Int(info.st_size)
            }
        }
        return (count, bytes)
    }

    private func entries(of folder: String) throws -> [String] {
        guard let directory = opendir(folder) else {
            if errno == ENOENT { return [] }
            throw ArtifactError.io(path: folder, operation: "opendir", errno: errno)
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }
}

/// An upload is an `AtomicFile` in `uploads/`, named by its SHA-256 once whole.
private final class FileUpload: ArtifactUpload {
    private let store: FileArtifactStore
    private let file: AtomicFile
    private var hasher = SHA256()
    var bytesWritten: Int { file.bytesWritten }

    init(store: FileArtifactStore, label: String) throws {
        self.store = store
        // Only characters that are safe in a file name reach it.
        let safe = String(label.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || $0 == "-" }.prefix(100))
        file = try AtomicFile(temporaryIn: "\(store.root)/uploads", label: safe.isEmpty ? "" : safe + "-")
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bufferPointer: bytes)
        try file.write(bytes)
    }

    var sha256: String {
        // finalize() does not consume the running hash: writing may go on.
        let digest = hasher.finalize()
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: digest.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }, as: UTF8.self)
    }

    func commit() throws -> String {
        let hash = sha256
        let folder = "\(store.root)/sha256/\(hash.prefix(2))"
        if mkdir(folder, 0o755) != 0, errno != EEXIST {
            let code = errno
            file.abandon()
            throw ArtifactError.io(path: folder, operation: "mkdir", errno: code)
        }
        // Same content, same name: renaming over an existing copy changes nothing a reader can see.
        try file.commit(to: store.path(of: hash))
        return hash
    }

    func abort() { file.abandon() }
}

/// A file read in order, a chunk at a time (stored artifacts, and checkpoint files a worker
/// uploads). Read by one consumer at a time (a body is iterated once).
public final class FileChunkReader: ArtifactReader, @unchecked Sendable {
    private let descriptor: Int32
    public let size: Int

    public init(path: String) throws {
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ArtifactError.io(path: path, operation: "open", errno: errno) }
        var info = stat()
        fstat(descriptor, &info)
        size = Int(info.st_size)
    }

    deinit { close(descriptor) }

    public func read(upTo maximum: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maximum)
        while true {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress!, maximum) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ArtifactError.io(path: "artifact", operation: "read", errno: errno)
            }
            buffer.removeLast(maximum - count)
            return buffer
        }
    }
}
