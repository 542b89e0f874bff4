import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file written in pieces under a temporary name beside its destination, then fsynced and
/// renamed over it: readers see the old file or the whole new one, never a torn one, also after a
/// crash. The SHA-256 of everything written is kept as it goes (content addresses, checksums).
final class AtomicFile {
    let path: String
    private let temporary: String
    private var descriptor: Int32
    private var hasher = SHA256()
    private(set) var bytesWritten = 0

    init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
        descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ExperimentsError.runDirectory(path: path, reason: "cannot create \(temporary): \(String(cString: strerror(errno))) (errno \(errno))") }
    }

    deinit { abandon() }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard !bytes.isEmpty else { return }
        hasher.update(bufferPointer: bytes)
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw ExperimentsError.runDirectory(path: path, reason: "write failed: \(String(cString: strerror(errno))) (errno \(errno))")
            }
            offset += written
        }
        bytesWritten += bytes.count
    }

    func write(_ data: Data) throws { try data.withUnsafeBytes { try write($0) } }

    /// The SHA-256 of the bytes written so far.
    var digest: SHA256.Digest { hasher.finalize() }

    /// Flushes the file to disk and renames it over `path`.
    func commit() throws {
        guard fsync(descriptor) == 0 else { throw ExperimentsError.runDirectory(path: path, reason: "fsync failed: \(String(cString: strerror(errno))) (errno \(errno))") }
        close(descriptor)
        descriptor = -1
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw ExperimentsError.runDirectory(path: path, reason: "rename failed (errno \(errno))")
        }
    }

    /// Removes the temporary file (nothing is left behind when writing fails).
    func abandon() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
        unlink(temporary)
    }
}

/// Writes `data` to a temporary file beside `path`, then renames it over `path`.
func writeAtomically(_ data: Data, to path: String) throws {
    let file = try AtomicFile(path: path)
    try file.write(data)
    try file.commit()
}
