import Foundation
import Datasets

/// A miniature tiny-imagenet-200 tree: 3 classes listed out of alphabetical order, 2 training
/// images a class (one of them grayscale, one split red|blue), 2 validation images.
///
/// Expected order: train labels [0, 0, 1, 1, 2, 2]; within class 0 `n0003_10` before `n0003_9`
/// (byte order, not numeric); test = [val_1 (class 0, red), val_0 (class 2, blue)].
enum TinyImageNetFixture {
    static let classIDs = ["n0003", "n0001", "n0002"]
    static let size = 64

    static let red: [UInt8] = [255, 0, 0]
    static let green: [UInt8] = [0, 255, 0]
    static let blue: [UInt8] = [0, 0, 255]
    static let gray: UInt8 = 200

    /// Paths, relative to the tree's root, in the order the reader must return them.
    static let trainFiles = [
        "train/n0003/images/n0003_10.JPEG", "train/n0003/images/n0003_9.JPEG",
        "train/n0001/images/n0001_0.JPEG", "train/n0001/images/n0001_1.JPEG",
        "train/n0002/images/n0002_0.JPEG", "train/n0002/images/n0002_1.JPEG",
    ]
    static let annotations = "val_0.JPEG\tn0002\t0\t0\t63\t63\nval_1.JPEG\tn0003\t1\t2\t40\t50\n"

    /// Writes the tree under `directory` (below `prefix`, e.g. "tiny-imagenet-200/") and returns its root.
    @discardableResult
    static func write(in directory: TemporaryDirectory, prefix: String = "") throws -> String {
        let root = prefix.isEmpty ? directory.path : directory.file(String(prefix.dropLast(prefix.hasSuffix("/") ? 1 : 0)))
        try directory.write(Array((classIDs.joined(separator: "\n") + "\n").utf8), to: "\(prefix)wnids.txt")
        try writeSolid(red, to: "\(prefix)train/n0003/images/n0003_9.JPEG", in: directory)
        try writeSolid([128, 0, 0], to: "\(prefix)train/n0003/images/n0003_10.JPEG", in: directory)
        try writeGray(gray, to: "\(prefix)train/n0001/images/n0001_0.JPEG", in: directory)
        try writeRGB(splitRedBlue(), to: "\(prefix)train/n0001/images/n0001_1.JPEG", in: directory)
        try writeSolid(blue, to: "\(prefix)train/n0002/images/n0002_0.JPEG", in: directory)
        try writeSolid(green, to: "\(prefix)train/n0002/images/n0002_1.JPEG", in: directory)
        try writeSolid(blue, to: "\(prefix)val/images/val_0.JPEG", in: directory)
        try writeSolid(red, to: "\(prefix)val/images/val_1.JPEG", in: directory)
        try directory.write(Array(annotations.utf8), to: "\(prefix)val/val_annotations.txt")
        return root
    }

    /// Left half (x < size/2) red, right half blue.
    static func splitRedBlue(size: Int = size) -> [UInt8] {
        var pixels: [UInt8] = []
        for _ in 0..<size {
            for x in 0..<size { pixels += x < size / 2 ? red : blue }
        }
        return pixels
    }

    static func writeSolid(_ colour: [UInt8], to name: String, in directory: TemporaryDirectory, size: Int = size) throws {
        try writeRGB(Array([[UInt8]](repeating: colour, count: size * size).joined()), to: name, in: directory, size: size)
    }

    static func writeRGB(_ pixels: [UInt8], to name: String, in directory: TemporaryDirectory, size: Int = size) throws {
        try JPEGFile.write(rgb: pixels, width: size, height: size, quality: 100, to: try prepare(name, in: directory))
    }

    static func writeGray(_ value: UInt8, to name: String, in directory: TemporaryDirectory) throws {
        try JPEGFile.write(gray: [UInt8](repeating: value, count: size * size), width: size, height: size, quality: 100,
                           to: try prepare(name, in: directory))
    }

    /// Creates the folders of `name` and returns its full path.
    static func prepare(_ name: String, in directory: TemporaryDirectory) throws -> String {
        let full = directory.file(name)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        return full
    }

    /// `jpeg` cut in the middle of its entropy-coded data (headers intact).
    static func truncatedInScan(_ jpeg: [UInt8]) -> [UInt8] {
        let scan = (2..<(jpeg.count - 1)).last { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xDA } ?? 0
        return Array(jpeg.prefix(scan + (jpeg.count - scan) / 2))
    }

    /// `jpeg` with its first Huffman table's 16 code counts set to 255, which passes the structural
    /// checks but makes libjpeg fail fatally ("Bogus Huffman table definition").
    static func withBogusHuffmanTable(_ jpeg: [UInt8]) throws -> [UInt8] {
        var bytes = jpeg
        guard let marker = (2..<(bytes.count - 1)).first(where: { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC4 }) else {
            throw CocoaError(.fileReadCorruptFile)   // the encoder wrote no DHT segment
        }
        for i in 0..<16 { bytes[marker + 5 + i] = 255 }   // marker, 2 length bytes, class/id byte, then the counts
        return bytes
    }
}
