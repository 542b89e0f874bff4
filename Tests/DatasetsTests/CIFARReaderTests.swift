import Foundation
import Testing
@testable import Datasets

@Suite struct CIFARReaderTests {
    @Test func cifar10RecordsKeepChannelOrderAndLabels() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let first = try directory.write(Fixtures.cifarRecord(labels: [3], red: 10, green: 20, blue: 30)
                                        + Fixtures.cifarRecord(labels: [9], red: 255, green: 0, blue: 51), to: "a.bin")
        let second = try directory.write(Fixtures.cifarRecord(labels: [0], red: 1, green: 2, blue: 3), to: "b.bin")
        let dataset = try CIFARReader.read(files: [first, second], classes: 10, name: "cifar10")
        #expect(dataset.count == 3)
        #expect(dataset.sampleShape == [3, 32, 32])
        #expect(dataset.classes == 10)
        #expect(dataset.labels == [3, 9, 0])
        let size = 3072
        #expect(dataset.images[0] == Float(10) / 255)                 // R plane of sample 0
        #expect(dataset.images[1024 + 5] == Float(20) / 255)          // G plane
        #expect(dataset.images[1024 + 1 * 32 + 2] == Float(200) / 255) // G pixel (y 1, x 2)
        #expect(dataset.images[2048 + 1023] == Float(30) / 255)       // B plane, last pixel
        #expect(dataset.images[size + 17] == 1)                       // sample 1 red = 255
        #expect(dataset.images[size + 2048] == 0.2)                   // sample 1 blue = 51
        #expect(dataset.images[2 * size + 2048] == Float(3) / 255)    // sample 2 from the second file
    }

    @Test func cifar100UsesTheFineLabel() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write(Fixtures.cifarRecord(labels: [7, 42], red: 1, green: 2, blue: 3)
                                       + Fixtures.cifarRecord(labels: [19, 99], red: 4, green: 5, blue: 6), to: "train.bin")
        let dataset = try CIFARReader.read(files: [path], classes: 100, name: "cifar100")
        #expect(dataset.labels == [42, 99])
        #expect(dataset.classes == 100)
        #expect(dataset.images[3072 + 1024 + 1 * 32 + 2] == Float(200) / 255)
        #expect(dataset.images[3072 + 2048] == Float(6) / 255)
    }

    @Test(arguments: [10, 100])
    func sizeNotAMultipleOfTheRecordIsCorrupt(classes: Int) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let labels: [UInt8] = classes == 100 ? [1, 2] : [1]
        let path = try directory.write(Array(Fixtures.cifarRecord(labels: labels, red: 0, green: 0, blue: 0).dropLast()), to: "bad.bin")
        #expect {
            _ = try CIFARReader.read(files: [path], classes: classes, name: "bad")
        } throws: { error in
            guard case .corruptFile(let reported, let reason) = error as? DatasetError else { return false }
            return reported == path && reason.contains("\(CIFARReader.recordSize(classes: classes))")
        }
    }

    @Test func emptyFileIsCorrupt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write([], to: "empty.bin")
        #expect {
            _ = try CIFARReader.read(files: [path], classes: 10, name: "bad")
        } throws: { error in
            guard case .corruptFile(let reported, _) = error as? DatasetError else { return false }
            return reported == path
        }
    }

    @Test func labelOutOfRangeIsReported() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let good = Fixtures.cifarRecord(labels: [1], red: 0, green: 0, blue: 0)
        let path = try directory.write(good + Fixtures.cifarRecord(labels: [10], red: 0, green: 0, blue: 0), to: "bad.bin")
        #expect(throws: DatasetError.labelOutOfRange(path: path, index: 1, label: 10, classes: 10)) {
            try CIFARReader.read(files: [path], classes: 10, name: "bad")
        }
    }

    @Test func missingFileIsNamed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let present = try directory.write(Fixtures.cifarRecord(labels: [1], red: 0, green: 0, blue: 0), to: "a.bin")
        let absent = directory.file("b.bin")
        #expect(throws: DatasetError.missingFile(path: absent)) {
            try CIFARReader.read(files: [present, absent], classes: 10, name: "x")
        }
    }
}
