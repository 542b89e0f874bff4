import FileSupport
import Foundation

/// Compiled kernel images by content key: in memory for the process, on disk across processes. Disk
/// failures are not errors: the cache only saves time, so an unreadable or unwritable directory means
/// compiling again.
enum KernelCache {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var images: [String: [UInt8]] = [:]

    /// 64-bit FNV-1a of everything that changes the image, as 16 hex digits. Not cryptographic: a
    /// cache key among our own few sources, and no package dependency for it.
    static func key(source: String, target: String, compilerVersion: String, options: [String]) -> String {
        // Each part ends in 0xff, a byte no UTF-8 text contains, so ("ab", "c") and ("a", "bc") differ.
        var bytes: [UInt8] = []
        for part in [source, target, compilerVersion] + options { bytes += Array(part.utf8) + [0xff] }
        let hex = String(fnv1a64(bytes), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The 64-bit FNV-1a hash (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
    static func fnv1a64<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// Forgets the in-memory image for `key` (tests use it to see the disk cache at work).
    static func forget(_ key: String) {
        lock.withLock { _ = images.removeValue(forKey: key) }
    }

    static func memory(_ key: String) -> [UInt8]? {
        lock.withLock { images[key] }
    }

    static func remember(_ key: String, _ image: [UInt8]) {
        lock.withLock { images[key] = image }
    }

    static func path(key: String, format: CompiledKernels.Format, directory: String) -> String {
        "\(directory)/\(key).\(format.rawValue)"
    }

    /// The cached image, if the file is there and looks whole (CUBIN is ELF, PTX ends in NUL).
    static func read(key: String, format: CompiledKernels.Format, directory: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path(key: key, format: format, directory: directory))
        else { return nil }
        let image = [UInt8](data)
        switch format {
        case .cubin: return image.starts(with: [0x7f, 0x45, 0x4c, 0x46]) ? image : nil
        case .ptx: return image.count > 1 && image.last == 0 ? image : nil
        }
    }

    /// Written atomically (`AtomicFile`), so a reader never sees half an image, also after a crash,
    /// and concurrent writers of the same key leave one whole file.
    static func write(_ image: [UInt8], key: String, format: CompiledKernels.Format, directory: String) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? AtomicFile.write(Data(image), to: path(key: key, format: format, directory: directory))
    }
}
