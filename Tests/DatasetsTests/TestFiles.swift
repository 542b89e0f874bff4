import Foundation
import Datasets

/// A fresh directory under the system temp directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-datasets-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    /// Writes `bytes` raw to `name` and returns the full path.
    @discardableResult
    func write(_ bytes: [UInt8], to name: String) throws -> String {
        let full = file(name)
        let directory = (full as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        return full
    }

    /// Writes `bytes` gzip-compressed to `name` and returns the full path.
    @discardableResult
    func writeGzip(_ bytes: [UInt8], to name: String) throws -> String {
        let full = file(name)
        try GzipFile.write(bytes, to: full)
        return full
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Builders for small files in the on-disk formats.
enum Fixtures {
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }

    /// An IDX image file of `count` images of `rows`x`columns` whose pixel i of image n is `(n * 7 + i) % 256`.
    static func idxImages(count: Int, rows: Int, columns: Int, magic: UInt32 = 0x0000_0803) -> [UInt8] {
        var bytes = bigEndian(magic) + bigEndian(UInt32(count)) + bigEndian(UInt32(rows)) + bigEndian(UInt32(columns))
        for n in 0..<count {
            for i in 0..<(rows * columns) { bytes.append(UInt8((n * 7 + i) % 256)) }
        }
        return bytes
    }

    static func idxLabels(_ labels: [UInt8], magic: UInt32 = 0x0000_0801) -> [UInt8] {
        bigEndian(magic) + bigEndian(UInt32(labels.count)) + labels
    }

    /// One CIFAR record whose R plane is all `red`, G plane all `green`, B plane all `blue`,
    /// except pixel (y 1, x 2) of the G plane, which is 200.
    static func cifarRecord(labels: [UInt8], red: UInt8, green: UInt8, blue: UInt8) -> [UInt8] {
        var green = [UInt8](repeating: green, count: 1024)
        green[1 * 32 + 2] = 200
        return labels + [UInt8](repeating: red, count: 1024) + green + [UInt8](repeating: blue, count: 1024)
    }
}
