import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file replaced whole or not at all. Its bytes go to a temporary file in the destination's
/// folder, are fsynced, renamed over the destination, and the folder is fsynced: readers, and the
/// file system after a crash, see the old file or the whole new one, never a torn one. On any
/// failure (or when dropped uncommitted) the temporary is removed and the destination is as it was.
///
/// Two ways to fill it: write the bytes through it (`write`, then `commit`), or, for a library that
/// wants a path of its own (SQLite, a zip writer), `AtomicFile.replace(_:by:)`.
public final class AtomicFile {
    /// Where the bytes are while the file is written.
    public let temporaryPath: String
    /// Where `commit()` puts the file; nil when the caller names it at `commit(to:)`.
    public let path: String?
    /// Bytes written so far.
    public private(set) var bytesWritten = 0
    private var descriptor: Int32

    /// Starts replacing `path`: an empty temporary file beside it.
    public convenience init(path: String) throws {
        try self.init(temporary: Self.temporaryPath(beside: path), destination: path)
    }

    /// Starts a file whose name is known only once written (a content address): an empty temporary
    /// in `folder`, which must be on the destination's file system, its name starting with `label`
    /// (what it is, for whoever looks into the folder); `commit(to:)` names the destination.
    public convenience init(temporaryIn folder: String, label: String = "") throws {
        try self.init(temporary: "\(folder)/\(label)\(UUID().uuidString)", destination: nil)
    }

    private init(temporary: String, destination: String?) throws {
        temporaryPath = temporary
        path = destination
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw FileWriteError.io(path: temporary, operation: "create", errno: errno) }
    }

    deinit { abandon() }

    /// Appends `bytes`, all of them (a write cut short by a signal or a partial write goes on).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard descriptor >= 0 else { throw FileWriteError.io(path: temporaryPath, operation: "write after close", errno: EBADF) }
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            #if canImport(Glibc)
            let written = Glibc.write(descriptor, base + offset, bytes.count - offset)
            #else
            let written = Darwin.write(descriptor, base + offset, bytes.count - offset)
            #endif
            if written < 0 {
                if errno == EINTR { continue }
                throw FileWriteError.io(path: temporaryPath, operation: "write", errno: errno)
            }
            offset += written
        }
        bytesWritten += bytes.count
    }

    /// Appends `data`.
    public func write(_ data: Data) throws { try data.withUnsafeBytes { try write($0) } }

    /// Makes the file durable and puts it at `path`.
    public func commit() throws {
        guard let path else { preconditionFailure("AtomicFile(temporaryIn:) is committed with commit(to:)") }
        try commit(to: path)
    }

    /// Makes the file durable and puts it at `destination` (its folder must exist).
    public func commit(to destination: String) throws {
        guard descriptor >= 0 else { throw FileWriteError.io(path: temporaryPath, operation: "commit after close", errno: EBADF) }
        guard fsync(descriptor) == 0 else {
            let code = errno
            abandon()
            throw FileWriteError.io(path: temporaryPath, operation: "fsync", errno: code)
        }
        close(descriptor)
        descriptor = -1
        try Self.rename(temporaryPath, to: destination)
    }

    /// Drops what was written: the temporary is removed, the destination left alone.
    public func abandon() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporaryPath)
    }

    /// Replaces `path` with `data`.
    public static func write(_ data: Data, to path: String) throws {
        let file = try AtomicFile(path: path)
        try file.write(data)
        try file.commit()
    }

    /// Replaces `path` with the file `body` creates at the path it is given (beside `path`, not yet
    /// existing): fsynced, renamed into place, its folder fsynced. When `body` or any of that fails
    /// the temporary is removed and `path` is left as it was. Returns what `body` returns.
    public static func replace<Result>(_ path: String, by body: (_ temporaryPath: String) throws -> Result) throws -> Result {
        let temporary = temporaryPath(beside: path)
        do {
            let result = try body(temporary)
            let descriptor = open(temporary, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw FileWriteError.io(path: temporary, operation: "open", errno: errno) }
            let synced = fsync(descriptor) == 0
            let code = errno
            close(descriptor)
            guard synced else { throw FileWriteError.io(path: temporary, operation: "fsync", errno: code) }
            try rename(temporary, to: path)
            return result
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Renames the synced `temporary` over `destination`, then makes the rename itself durable.
    private static func rename(_ temporary: String, to destination: String) throws {
        #if canImport(Glibc)
        let renamed = Glibc.rename(temporary, destination) == 0
        #else
        let renamed = Darwin.rename(temporary, destination) == 0
        #endif
        guard renamed else {
            let code = errno
            unlink(temporary)
            throw FileWriteError.io(path: destination, operation: "rename \(temporary) to", errno: code)
        }
        syncFolder(of: destination)
    }

    /// fsync on a folder makes a rename in it durable. Best effort: the rename has happened and
    /// cannot be undone, and some file systems refuse fsync on a folder (EINVAL).
    static func syncFolder(of path: String) {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let descriptor = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        fsync(descriptor)
        close(descriptor)
    }

    /// `.NAME.UUID.tmp` in the folder of `path`: hidden, unique, on the same file system.
    static func temporaryPath(beside path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
    }
}

/// A file-system call that failed while writing a file: what was done, to which path, and errno.
public enum FileWriteError: Error, CustomStringConvertible, Equatable {
    case io(path: String, operation: String, errno: Int32)

    public var path: String { switch self { case let .io(path, _, _): path } }
    public var errno: Int32 { switch self { case let .io(_, _, code): code } }
    /// ENOSPC or EDQUOT: the same write can succeed once space is freed.
    public var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }

    public var description: String {
        switch self {
        case let .io(path, operation, code): "\(operation) \(path) failed: \(String(cString: strerror(code))) (errno \(code))"
        }
    }
}
