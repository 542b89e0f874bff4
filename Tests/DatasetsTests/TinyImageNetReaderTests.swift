import Foundation
import Testing
@testable import Datasets

@Suite struct TinyImageNetReaderTests {
    static let tolerance: Float = 0.03   // JPEG at quality 100 still moves solid colours by a few levels

    /// The value at channel `c`, row `y`, column `x` of sample `n`.
    static func pixel(_ dataset: Dataset, _ n: Int, _ c: Int, _ y: Int, _ x: Int) -> Float {
        dataset.images[n * dataset.sampleSize + (c * 64 + y) * 64 + x]
    }

    static func expectColour(_ dataset: Dataset, sample n: Int, y: Int = 32, x: Int = 32, _ rgb: [Float],
                             sourceLocation: SourceLocation = #_sourceLocation) {
        for channel in 0..<3 {
            let value = pixel(dataset, n, channel, y, x)
            #expect(abs(value - rgb[channel]) < tolerance, "sample \(n) channel \(channel) at (\(y), \(x)) is \(value), expected \(rgb[channel])",
                    sourceLocation: sourceLocation)
        }
    }

    @Test func readsCountsLabelsOrderAndChannels() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        let splits = try TinyImageNetReader.read(directory: root)
        let train = splits.train, test = splits.test
        #expect(train.count == 6 && test.count == 2)
        #expect(train.sampleShape == [3, 64, 64] && test.sampleShape == [3, 64, 64])
        #expect(train.classes == 3 && test.classes == 3 && train.name == "tinyimagenet")
        #expect(train.labels == [0, 0, 1, 1, 2, 2])   // wnids.txt line order, not alphabetical
        #expect(test.labels == [0, 2])                 // val_1 (n0003) before val_0 (n0002)
        #expect(train.images.allSatisfy { (0...1).contains($0) })

        Self.expectColour(train, sample: 0, [128 / 255, 0, 0])     // n0003_10 sorts before n0003_9
        Self.expectColour(train, sample: 1, [1, 0, 0])             // red: R≈1, G≈0, B≈0
        let gray = Float(TinyImageNetFixture.gray) / 255
        Self.expectColour(train, sample: 2, y: 3, x: 60, [gray, gray, gray])   // grayscale file, three channels
        Self.expectColour(train, sample: 3, y: 10, x: 5, [1, 0, 0])            // left half red
        Self.expectColour(train, sample: 3, y: 50, x: 60, [0, 0, 1])           // right half blue
        Self.expectColour(train, sample: 4, [0, 0, 1])
        Self.expectColour(train, sample: 5, [0, 1, 0])
        Self.expectColour(test, sample: 0, y: 0, x: 0, [1, 0, 0])
        Self.expectColour(test, sample: 1, y: 63, x: 63, [0, 0, 1])
        // Grayscale planes are identical, not merely close.
        let plane = 64 * 64, start = 2 * train.sampleSize
        #expect(train.images[start..<(start + plane)] == train.images[(start + plane)..<(start + 2 * plane)])
    }

    @Test func matchesSingleFileDecoding() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        let train = try TinyImageNetReader.read(directory: root).train
        for (n, name) in TinyImageNetFixture.trainFiles.enumerated() {
            let image = try JPEGFile.read("\(root)/\(name)")
            for (i, byte) in image.rgb.enumerated() {
                let channel = i % 3, position = i / 3
                if train.images[n * train.sampleSize + channel * 64 * 64 + position] != Float(byte) / 255 {
                    Issue.record("sample \(n) (\(name)) differs at channel \(channel), pixel \(position)")
                    return
                }
            }
        }
    }

    @Test(arguments: [false, true])
    func acceptsTheStandardSubfolderThroughTheCatalog(nested: Bool) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try TinyImageNetFixture.write(in: directory, prefix: nested ? "tiny-imagenet-200/" : "")
        let splits = try DatasetCatalog.load("tinyimagenet", directory: directory.path)
        #expect(splits.train.count == 6 && splits.test.count == 2 && splits.train.name == "tinyimagenet")
    }

    @Test func catalogKnowsTheName() {
        #expect(DatasetCatalog.names.contains("tinyimagenet"))
        #expect(DatasetCatalog.defaultDirectory(for: "tinyimagenet") == nil)
        #expect(throws: DatasetError.noDefaultDirectory(name: "tinyimagenet")) { try DatasetCatalog.load("tinyimagenet", directory: nil) }
        #expect(TinyImageNetReader.standardClasses == 200 && TinyImageNetReader.sampleShape == [3, 64, 64])
    }

    @Test func missingClassList() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        try FileManager.default.removeItem(atPath: "\(root)/wnids.txt")
        #expect(throws: DatasetError.missingFile(path: "\(root)/wnids.txt")) { try TinyImageNetReader.read(directory: root) }
    }

    @Test func missingAnnotations() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        try FileManager.default.removeItem(atPath: "\(root)/val/val_annotations.txt")
        #expect(throws: DatasetError.missingFile(path: "\(root)/val/val_annotations.txt")) { try TinyImageNetReader.read(directory: root) }
    }

    @Test func missingAnnotatedImage() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        try FileManager.default.removeItem(atPath: "\(root)/val/images/val_1.JPEG")
        #expect(throws: DatasetError.missingFile(path: "\(root)/val/images/val_1.JPEG")) { try TinyImageNetReader.read(directory: root) }
    }

    @Test func missingClassFolder() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        try FileManager.default.removeItem(atPath: "\(root)/train/n0001")
        #expect(throws: DatasetError.missingDirectory(path: "\(root)/train/n0001/images")) { try TinyImageNetReader.read(directory: root) }
    }

    @Test func classWithoutImages() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        let images = "\(root)/train/n0002/images"
        for name in try FileManager.default.contentsOfDirectory(atPath: images) { try FileManager.default.removeItem(atPath: "\(images)/\(name)") }
        try directory.write(Array("not an image".utf8), to: "train/n0002/images/readme.txt")
        try directory.write([0xFF, 0xD8], to: "train/n0002/images/._n0002_0.JPEG")   // macOS metadata companion
        Self.expectCorrupt(root: root, path: images, reasonContains: "no .JPEG images")
    }

    @Test(arguments: [
        ("val_0.JPEG\tn0999\t0\t0\t63\t63\n", "line 1: class id n0999 is not in wnids.txt"),
        ("val_1.JPEG\tn0003\n\nval_0.JPEG n0002 0 0 63 63\n", "line 3 has 1 tab-separated field"),
        ("val_1.JPEG\tn0003\nval_1.JPEG\tn0002\n", "line 2: val_1.JPEG is annotated twice"),
        ("\n\n", "annotates no images"),
    ])
    func badAnnotations(contents: String, reason: String) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        let annotations = try directory.write(Array(contents.utf8), to: "val/val_annotations.txt")
        Self.expectCorrupt(root: root, path: annotations, reasonContains: reason)
    }

    @Test(arguments: [
        ("", "lists no class ids"),
        ("n0003\nn0001\nn0003\n", "line 3: class id n0003 is listed twice"),
        ("n0003\n../n0001\n", "line 2: '../n0001' is not a class id"),
    ])
    func badClassList(contents: String, reason: String) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        let wnids = try directory.write(Array(contents.utf8), to: "wnids.txt")
        Self.expectCorrupt(root: root, path: wnids, reasonContains: reason)
    }

    @Test func windowsLineEndsAndSpacesAreTolerated() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        try directory.write(Array("n0003\r\n n0001 \r\nn0002".utf8), to: "wnids.txt")
        try directory.write(Array("val_0.JPEG\tn0002\t0\t0\t63\t63\r\nval_1.JPEG\tn0003\t1\t2\t40\t50\r\n".utf8), to: "val/val_annotations.txt")
        let splits = try TinyImageNetReader.read(directory: root)
        #expect(splits.train.labels == [0, 0, 1, 1, 2, 2] && splits.test.labels == [0, 2])
    }

    @Test func imageOfAnotherSizeIsNamed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        try TinyImageNetFixture.writeSolid(TinyImageNetFixture.green, to: "train/n0002/images/n0002_1.JPEG", in: directory, size: 32)
        Self.expectCorrupt(root: root, path: "\(root)/train/n0002/images/n0002_1.JPEG", reasonContains: "32x32, expected 64x64")
    }

    @Test(arguments: ["truncated", "not a JPEG", "bogus Huffman table"])
    func corruptImageIsNamed(damage: String) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let root = try TinyImageNetFixture.write(in: directory)
        let path = "\(root)/val/images/val_0.JPEG"
        let good = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let bad: [UInt8], reason: String
        switch damage {
        case "truncated": (bad, reason) = (TinyImageNetFixture.truncatedInScan(good), "Premature end of JPEG file")
        case "not a JPEG": (bad, reason) = (Array(repeating: 0x42, count: 300), "not a JPEG")
        default: (bad, reason) = (try TinyImageNetFixture.withBogusHuffmanTable(good), "libjpeg: Bogus Huffman table")
        }
        try Data(bad).write(to: URL(fileURLWithPath: path))
        Self.expectCorrupt(root: root, path: path, reasonContains: reason)
    }

    /// With several bad files the error names the first in sample order, however many threads decode.
    @Test(arguments: [1, 2, 3, 5])
    func firstBadFileInOrderIsReported(workers: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var paths: [String] = []
        for i in 0..<12 {
            let name = "img\(i).jpg"
            try TinyImageNetFixture.writeSolid([UInt8(i * 20), 0, 0], to: name, in: directory, size: 8)
            paths.append(directory.file(name))
        }
        let images = try JPEGBatchDecoder.decode(paths, width: 8, height: 8, workers: workers)
        #expect(images.count == 12 * 3 * 64)
        #expect(abs(images[11 * 192] - Float(220) / 255) < Self.tolerance)
        let good = Array(try Data(contentsOf: URL(fileURLWithPath: paths[0])))
        try Data(try TinyImageNetFixture.withBogusHuffmanTable(good)).write(to: URL(fileURLWithPath: paths[10]))
        try Data(good.prefix(30)).write(to: URL(fileURLWithPath: paths[7]))
        try Data(TinyImageNetFixture.truncatedInScan(good)).write(to: URL(fileURLWithPath: paths[4]))
        #expect {
            _ = try JPEGBatchDecoder.decode(paths, width: 8, height: 8, workers: workers)
        } throws: { error in
            guard case .corruptFile(let reported, _) = error as? DatasetError else { return false }
            return reported == paths[4]
        }
    }

    static func expectCorrupt(root: String, path: String, reasonContains fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(sourceLocation: sourceLocation) {
            _ = try TinyImageNetReader.read(directory: root)
        } throws: { error in
            guard case .corruptFile(let reported, let reason) = error as? DatasetError else { return false }
            return reported == path && reason.contains(fragment)
        }
    }
}
