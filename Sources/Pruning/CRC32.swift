import CGzip
import Foundation

/// CRC-32 of zip entries by zlib, which folds several bytes per step. ZIPFoundation computes it a
/// byte at a time in Swift on Linux (its zlib module is not the one it checks for), a third of the
/// time it takes to read a VGG-19 mask file.
enum CRC32Checksum {
    static func of(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { raw in
            guard let base = raw.bindMemory(to: UInt8.self).baseAddress else { return 0 }
            return UInt32(crc32_z(0, base, raw.count))
        }
    }
}
