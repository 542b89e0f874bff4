import Foundation
import Testing
@testable import Datasets

@Suite struct IDXReaderTests {
    @Test(arguments: [false, true])
    func roundTrip(gzip: Bool) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let images = Fixtures.idxImages(count: 3, rows: 4, columns: 5)
        let labels = Fixtures.idxLabels([9, 0, 4])
        let imagesPath = gzip ? try directory.writeGzip(images, to: "images.gz") : try directory.write(images, to: "images")
        let labelsPath = gzip ? try directory.writeGzip(labels, to: "labels.gz") : try directory.write(labels, to: "labels")

        let dataset = try IDXReader.read(imagesPath: imagesPath, labelsPath: labelsPath, name: "tiny")
        #expect(dataset.name == "tiny")
        #expect(dataset.count == 3)
        #expect(dataset.sampleShape == [1, 4, 5])
        #expect(dataset.sampleSize == 20)
        #expect(dataset.classes == 10)
        #expect(dataset.labels == [9, 0, 4])
        #expect(dataset.images.count == 60)
        // Image 2, pixel (row 3, column 1) = index 16: (2 * 7 + 16) % 256 = 30.
        #expect(dataset.images[2 * 20 + 3 * 5 + 1] == Float(30) / 255)
        #expect(dataset.images[0] == 0)
    }

    @Test func fullByteRangeScalesToUnitInterval() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        var images = Fixtures.bigEndian(0x803) + Fixtures.bigEndian(1) + Fixtures.bigEndian(16) + Fixtures.bigEndian(16)
        images += (0..<256).map { UInt8($0) }
        let dataset = try IDXReader.read(imagesPath: try directory.write(images, to: "i"),
                                         labelsPath: try directory.write(Fixtures.idxLabels([1]), to: "l"), name: "range")
        #expect(dataset.images.first == 0)
        #expect(dataset.images.last == 1)
        #expect(dataset.images[51] == 0.2)
    }

    /// A corrupt IDX pair and the error it must give; `{dir}` stands for the temp directory.
    struct Corruption: CustomTestStringConvertible, Sendable {
        let label: String
        let images: [UInt8]
        let labels: [UInt8]
        let gzipImages: Bool
        let expected: @Sendable (_ images: String, _ labels: String) -> (DatasetError) -> Bool
        var testDescription: String { label }
    }

    static let good = Fixtures.idxImages(count: 2, rows: 3, columns: 3)

    static let corruptions: [Corruption] = [
        Corruption(label: "wrong image magic", images: Fixtures.idxImages(count: 2, rows: 3, columns: 3, magic: 0x0000_0801),
                   labels: Fixtures.idxLabels([1, 2]), gzipImages: false) { images, _ in
            { if case .corruptFile(images, let reason) = $0 { return reason.contains("magic") } else { return false } }
        },
        Corruption(label: "wrong label magic", images: good, labels: Fixtures.idxLabels([1, 2], magic: 0x0000_0803),
                   gzipImages: false) { _, labels in
            { if case .corruptFile(labels, let reason) = $0 { return reason.contains("magic") } else { return false } }
        },
        Corruption(label: "short image file", images: Array(good.dropLast(1)), labels: Fixtures.idxLabels([1, 2]),
                   gzipImages: false) { images, _ in
            { if case .corruptFile(images, let reason) = $0 { return reason.contains("short") } else { return false } }
        },
        Corruption(label: "file shorter than header", images: [0, 0, 8], labels: Fixtures.idxLabels([1, 2]),
                   gzipImages: false) { images, _ in
            { if case .corruptFile(images, let reason) = $0 { return reason.contains("header") } else { return false } }
        },
        Corruption(label: "short label file", images: good, labels: Array(Fixtures.idxLabels([1, 2]).dropLast(1)),
                   gzipImages: false) { _, labels in
            { if case .corruptFile(labels, _) = $0 { return true } else { return false } }
        },
        Corruption(label: "trailing bytes", images: good + [0], labels: Fixtures.idxLabels([1, 2]),
                   gzipImages: false) { images, _ in
            { if case .corruptFile(images, _) = $0 { return true } else { return false } }
        },
        Corruption(label: "counts disagree", images: good, labels: Fixtures.idxLabels([1, 2, 3]),
                   gzipImages: false) { images, labels in
            { $0 == .mismatchedCounts(images: images, labels: labels) }
        },
        Corruption(label: "label out of range", images: good, labels: Fixtures.idxLabels([1, 10]),
                   gzipImages: false) { _, labels in
            { $0 == .labelOutOfRange(path: labels, index: 1, label: 10, classes: 10) }
        },
        Corruption(label: "zero-sized images", images: Fixtures.idxImages(count: 2, rows: 0, columns: 3),
                   labels: Fixtures.idxLabels([1, 2]), gzipImages: false) { images, _ in
            { if case .corruptFile(images, _) = $0 { return true } else { return false } }
        },
        Corruption(label: "short image file inside gzip", images: Array(good.dropLast(4)), labels: Fixtures.idxLabels([1, 2]),
                   gzipImages: true) { images, _ in
            { if case .corruptFile(images, let reason) = $0 { return reason.contains("short") } else { return false } }
        },
    ]

    @Test(arguments: corruptions)
    func corruptFilesGiveTypedErrors(_ corruption: Corruption) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let imagesPath = corruption.gzipImages
            ? try directory.writeGzip(corruption.images, to: "images.gz") : try directory.write(corruption.images, to: "images")
        let labelsPath = try directory.write(corruption.labels, to: "labels")
        let matches = corruption.expected(imagesPath, labelsPath)
        do {
            _ = try IDXReader.read(imagesPath: imagesPath, labelsPath: labelsPath, name: "bad")
            Issue.record("\(corruption.label): no error thrown")
        } catch {
            #expect(matches(error), "\(corruption.label): got \(error)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func truncatedGzipIsCorrupt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let whole = try FileBytes.readRaw(try directory.writeGzip(Fixtures.idxImages(count: 50, rows: 28, columns: 28), to: "whole.gz"))
        let imagesPath = try directory.write(Array(whole.prefix(whole.count - 10)), to: "images.gz")
        let labelsPath = try directory.write(Fixtures.idxLabels([UInt8](repeating: 3, count: 50)), to: "labels")
        #expect {
            _ = try IDXReader.read(imagesPath: imagesPath, labelsPath: labelsPath, name: "cut")
        } throws: { error in
            guard case .corruptFile(let path, _) = error as? DatasetError else { return false }
            return path == imagesPath
        }
    }

    @Test func missingFilesAreNamed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let labelsPath = try directory.write(Fixtures.idxLabels([1]), to: "labels")
        let imagesPath = directory.file("nothing-here")
        #expect(throws: DatasetError.missingFile(path: imagesPath)) {
            try IDXReader.read(imagesPath: imagesPath, labelsPath: labelsPath, name: "x")
        }
        let imagesPresent = try directory.write(Fixtures.idxImages(count: 1, rows: 2, columns: 2), to: "images")
        let labelsAbsent = directory.file("no-labels")
        #expect(throws: DatasetError.missingFile(path: labelsAbsent)) {
            try IDXReader.read(imagesPath: imagesPresent, labelsPath: labelsAbsent, name: "x")
        }
    }

    @Test func directoryInsteadOfFileIsUnreadable() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let labelsPath = try directory.write(Fixtures.idxLabels([1]), to: "labels")
        #expect {
            _ = try IDXReader.read(imagesPath: directory.path, labelsPath: labelsPath, name: "x")
        } throws: { error in
            guard case .unreadableFile(let path, _) = error as? DatasetError else { return false }
            return path == directory.path
        }
    }
}
