import Foundation
import Testing
@testable import Datasets

@Suite struct JPEGFileTests {
    @Test func colourRoundTripKeepsChannelsAndLayout() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("split.jpg")
        try JPEGFile.write(rgb: TinyImageNetFixture.splitRedBlue(size: 48), width: 48, height: 48, quality: 100, to: path)
        let image = try JPEGFile.read(path)
        #expect(image.width == 48 && image.height == 48 && image.sourceComponents == 3)
        #expect(image.rgb.count == 48 * 48 * 3)
        let left = Array(image.rgb[(10 * 48 + 4) * 3..<(10 * 48 + 5) * 3])
        let right = Array(image.rgb[(40 * 48 + 44) * 3..<(40 * 48 + 45) * 3])
        #expect(left[0] > 245 && left[1] < 10 && left[2] < 10)
        #expect(right[0] < 10 && right[1] < 10 && right[2] > 245)
    }

    @Test func grayscaleBecomesThreeEqualChannels() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("gray.jpg")
        let ramp = (0..<(16 * 8)).map { UInt8($0 * 2) }   // 16 wide, 8 high
        try JPEGFile.write(gray: ramp, width: 16, height: 8, quality: 100, to: path)
        let image = try JPEGFile.read(path)
        #expect(image.sourceComponents == 1 && image.width == 16 && image.height == 8)
        for pixel in 0..<(16 * 8) {
            let r = image.rgb[3 * pixel], g = image.rgb[3 * pixel + 1], b = image.rgb[3 * pixel + 2]
            #expect(r == g && g == b)
            #expect(abs(Int(r) - Int(ramp[pixel])) <= 2)
        }
    }

    /// Every way a file can be broken ends as `corruptFile` naming it, and the process goes on.
    @Test(arguments: BrokenJPEG.allCases)
    func brokenFilesAreCorrupt(_ damage: BrokenJPEG) throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let good = directory.file("good.jpg")
        try JPEGFile.write(rgb: TinyImageNetFixture.splitRedBlue(size: 32), width: 32, height: 32, quality: 90, to: good)
        let path = try directory.write(try damage.apply(to: Array(Data(contentsOf: URL(fileURLWithPath: good)))), to: "bad.jpg")
        #expect {
            _ = try JPEGFile.read(path)
        } throws: { error in
            guard case .corruptFile(let reported, let reason) = error as? DatasetError else { return false }
            return reported == path && reason.contains(damage.expectedReason)
        }
        #expect(try JPEGFile.read(good).width == 32)   // libjpeg still works afterwards
    }

    @Test func missingFileIsNamed() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let absent = directory.file("absent.jpg")
        #expect(throws: DatasetError.missingFile(path: absent)) { try JPEGFile.read(absent) }
    }

    @Test func writingIntoAMissingFolderIsUnwritable() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("no/such/folder/x.jpg")
        #expect {
            try JPEGFile.write(gray: [0, 0, 0, 0], width: 2, height: 2, to: path)
        } throws: { error in
            guard case .unreadableFile(let reported, _) = error as? DatasetError else { return false }
            return reported == path
        }
    }
}

/// Ways to damage a valid JPEG, and a word the resulting error's reason must contain.
enum BrokenJPEG: String, CaseIterable, CustomTestStringConvertible {
    case empty, notAJPEG, truncatedHeader, truncatedData, strayMarkerInData, unknownMarkersInData, bogusHuffmanTable, twelveBit, fourComponents

    var testDescription: String { rawValue }

    func apply(to jpeg: [UInt8]) throws -> [UInt8] {
        switch self {
        case .empty: return []
        case .notAJPEG: return Array("GIF89a, not a JPEG at all".utf8)
        case .truncatedHeader: return Array(jpeg.prefix(40))
        case .truncatedData: return TinyImageNetFixture.truncatedInScan(jpeg)
        case .strayMarkerInData:   // a restart marker where none belongs: libjpeg warns and resynchronises
            var bytes = jpeg
            let middle = (scanData(jpeg) + jpeg.count) / 2
            bytes[middle] = 0xFF
            bytes[middle + 1] = 0xD3
            return bytes
        case .unknownMarkersInData:   // undefined marker codes after the scan: a fatal libjpeg error
            var bytes = jpeg
            for i in stride(from: scanData(jpeg) + 2, to: bytes.count - 2, by: 3) { bytes[i] = 0xFF }
            return bytes
        case .bogusHuffmanTable: return try TinyImageNetFixture.withBogusHuffmanTable(jpeg)
        case .twelveBit: return frameByteSet(jpeg, offset: 4, to: 12)     // SOF precision
        case .fourComponents: return frameByteSet(jpeg, offset: 9, to: 4) // SOF component count
        }
    }

    var expectedReason: String {
        switch self {
        case .empty: return "too short"
        case .notAJPEG: return "not a JPEG"
        case .truncatedHeader: return "past the end"
        case .truncatedData: return "Premature end"
        case .strayMarkerInData: return "Corrupt JPEG data"
        case .unknownMarkersInData: return "libjpeg: Unsupported marker type"
        case .bogusHuffmanTable: return "libjpeg: Bogus Huffman table"
        case .twelveBit: return "12-bit"
        case .fourComponents: return "4 colour components"
        }
    }

    private func scanStart(_ jpeg: [UInt8]) -> Int {
        (2..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xDA }!
    }

    /// Where the entropy-coded data of the first scan starts.
    private func scanData(_ jpeg: [UInt8]) -> Int {
        let scan = scanStart(jpeg)
        return scan + 2 + (Int(jpeg[scan + 2]) << 8 | Int(jpeg[scan + 3]))
    }

    private func frameByteSet(_ jpeg: [UInt8], offset: Int, to value: UInt8) -> [UInt8] {
        var bytes = jpeg
        let frame = (2..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 }!
        bytes[frame + offset] = value
        return bytes
    }
}
