import Foundation
import Testing
@testable import Datasets

@Suite struct DatasetCatalogTests {
    static let fashionDirectory = "/usr/share/datasets/fashion-mnist"

    @Test func namesAndDefaults() {
        #expect(DatasetCatalog.names == ["fashion-mnist", "mnist", "cifar10", "cifar100", "synthetic", "tinyimagenet"])
        #expect(DatasetCatalog.defaultDirectory(for: "fashion-mnist") == Self.fashionDirectory)
        for name in ["mnist", "cifar10", "cifar100", "synthetic", "imagenet"] {
            #expect(DatasetCatalog.defaultDirectory(for: name) == nil)
        }
    }

    @Test func unknownNameListsTheKnownOnes() {
        #expect(throws: DatasetError.unknownDataset(name: "imagenet")) { try DatasetCatalog.load("imagenet", directory: nil) }
        let text = DatasetError.unknownDataset(name: "imagenet").description
        #expect(text.contains("imagenet") && DatasetCatalog.names.allSatisfy { text.contains($0) })
        #expect(!text.contains("\n"))
    }

    @Test func directoryErrors() throws {
        #expect(throws: DatasetError.noDefaultDirectory(name: "cifar10")) { try DatasetCatalog.load("cifar10", directory: nil) }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let absent = directory.file("nope")
        #expect(throws: DatasetError.missingDirectory(path: absent)) { try DatasetCatalog.load("mnist", directory: absent) }
        #expect(throws: DatasetError.missingFile(path: directory.file("train-images-idx3-ubyte"))) {
            try DatasetCatalog.load("mnist", directory: directory.path)
        }
        #expect(throws: DatasetError.missingFile(path: directory.file("data_batch_1.bin"))) {
            try DatasetCatalog.load("cifar10", directory: directory.path)
        }
    }

    @Test func syntheticIgnoresTheDirectory() throws {
        let splits = try DatasetCatalog.load("synthetic", directory: "/does/not/exist")
        #expect(splits.train.count == 2000 && splits.test.count == 500)
        #expect(splits.train.sampleShape == [1, 28, 28] && splits.train.classes == 10)
        // Different seeds: the test set is not a copy of the start of the training set.
        let sampleSize = splits.train.sampleSize
        #expect(Array(splits.train.images.prefix(500 * sampleSize)) != splits.test.images)
        #expect(splits.test.classCounts() == [Int](repeating: 50, count: 10))
    }

    @Test func mnistFromMixedRawAndGzipFiles() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.writeGzip(Fixtures.idxImages(count: 4, rows: 28, columns: 28), to: "train-images-idx3-ubyte.gz")
        try directory.write(Fixtures.idxLabels([0, 1, 2, 3]), to: "train-labels-idx1-ubyte")
        try directory.write(Fixtures.idxImages(count: 2, rows: 28, columns: 28), to: "t10k-images-idx3-ubyte")
        try directory.writeGzip(Fixtures.idxLabels([9, 8]), to: "t10k-labels-idx1-ubyte.gz")
        let splits = try DatasetCatalog.load("mnist", directory: directory.path)
        #expect(splits.train.count == 4 && splits.test.count == 2)
        #expect(splits.test.labels == [9, 8])
        #expect(splits.train.name == "mnist" && splits.train.sampleShape == [1, 28, 28])
    }

    @Test(arguments: [false, true])
    func cifar10DirectLayoutOrStandardSubfolder(nested: Bool) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let prefix = nested ? "cifar-10-batches-bin/" : ""
        for batch in 1...5 {
            try directory.write(Fixtures.cifarRecord(labels: [UInt8(batch)], red: UInt8(batch), green: 0, blue: 0), to: "\(prefix)data_batch_\(batch).bin")
        }
        try directory.write(Fixtures.cifarRecord(labels: [7], red: 9, green: 0, blue: 0), to: "\(prefix)test_batch.bin")
        let splits = try DatasetCatalog.load("cifar10", directory: directory.path)
        #expect(splits.train.labels == [1, 2, 3, 4, 5])
        #expect(splits.train.images[4 * 3072] == Float(5) / 255)
        #expect(splits.test.labels == [7] && splits.test.classes == 10)
    }

    @Test(arguments: [false, true])
    func cifar100DirectLayoutOrStandardSubfolder(nested: Bool) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let prefix = nested ? "cifar-100-binary/" : ""
        try directory.write(Fixtures.cifarRecord(labels: [1, 55], red: 0, green: 0, blue: 0), to: "\(prefix)train.bin")
        try directory.write(Fixtures.cifarRecord(labels: [2, 66], red: 0, green: 0, blue: 0), to: "\(prefix)test.bin")
        let splits = try DatasetCatalog.load("cifar100", directory: directory.path)
        #expect(splits.train.labels == [55] && splits.test.labels == [66] && splits.train.classes == 100)
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: fashionDirectory),
                   "Fashion-MNIST is not installed at /usr/share/datasets/fashion-mnist (Debian package dataset-fashion-mnist)"))
    func realFashionMNIST() throws {
        let splits = try DatasetCatalog.load("fashion-mnist", directory: nil)
        #expect(splits.train.count == 60_000 && splits.test.count == 10_000)
        #expect(splits.train.classes == 10 && splits.train.sampleShape == [1, 28, 28])
        #expect(splits.train.labels.allSatisfy { (0..<10).contains($0) })
        #expect(splits.train.classCounts() == [Int](repeating: 6000, count: 10))
        #expect(splits.test.classCounts() == [Int](repeating: 1000, count: 10))
        #expect(splits.train.images.allSatisfy { (0...1).contains($0) })
        let mean = Normalization.perChannel(of: splits.train).mean[0]
        #expect(abs(mean - 0.2860) < 0.001)   // the published Fashion-MNIST training mean
    }
}
