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
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in [source, target, compilerVersion] + options {
            for byte in part.utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
            // A separator no UTF-8 text contains, so ("ab", "c") and ("a", "bc") differ.
            hash ^= 0xff
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    static func memory(_ key: String) -> [UInt8]? {
        lock.withLock { images[key] }
    }

    static func remember(_ key: String, _ image: [UInt8]) {
        lock.withLock { images[key] = image }
    }

    /// Forgets the in-memory images (tests use it to see the disk cache at work).
    static func forgetMemory() {
        lock.withLock { images.removeAll() }
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

    /// Writes to a temporary file and renames it into place, so a reader never sees half an image
    /// and concurrent writers of the same key leave one whole file.
    static func write(_ image: [UInt8], key: String, format: CompiledKernels.Format, directory: String) {
        let manager = FileManager.default
        try? manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let final = path(key: key, format: format, directory: directory)
        let temporary = "\(directory)/.\(key).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        guard manager.createFile(atPath: temporary, contents: Data(image)) else { return }
        if rename(temporary, final) != 0 { unlink(temporary) }
    }
}
