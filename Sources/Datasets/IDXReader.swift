/// Reader for the IDX format of MNIST and Fashion-MNIST (big-endian header, unsigned bytes),
/// gzip-compressed or raw.
///
/// Images: magic `0x00000803`, then count, rows, columns as UInt32, then count*rows*columns bytes.
/// Labels: magic `0x00000801`, then count, then count bytes.
public enum IDXReader {
    /// Magic number of an IDX file of unsigned bytes with three dimensions (images).
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic number of an IDX file of unsigned bytes with one dimension (labels).
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// Reads an image file and its label file into a data set of `[1, rows, columns]` samples scaled to [0, 1].
    public static func read(imagesPath: String, labelsPath: String, name: String, classes: Int = 10) throws(DatasetError) -> Dataset {
        precondition(classes > 0 && classes <= 256, "IDX labels are bytes; classes must be in 1...256")
        let imageBytes = try FileBytes.read(imagesPath)
        let labelBytes = try FileBytes.read(labelsPath)

        let imageHeader = try header(imageBytes, path: imagesPath, magic: imagesMagic, dimensions: 3)
        let labelHeader = try header(labelBytes, path: labelsPath, magic: labelsMagic, dimensions: 1)
        let count = imageHeader[0], rows = imageHeader[1], columns = imageHeader[2]
        guard rows > 0, columns > 0 else {
            throw .corruptFile(path: imagesPath, reason: "image dimensions \(rows)x\(columns) are empty")
        }
        guard labelHeader[0] == count else {
            throw .mismatchedCounts(images: imagesPath, labels: labelsPath)
        }
        let (sampleSize, overflowA) = rows.multipliedReportingOverflow(by: columns)
        let (pixels, overflowB) = count.multipliedReportingOverflow(by: sampleSize)
        guard !overflowA, !overflowB, pixels < Int(Int32.max) * 64 else {
            throw .corruptFile(path: imagesPath, reason: "implausible dimensions \(count)x\(rows)x\(columns)")
        }
        try expectSize(imageBytes, path: imagesPath, headerBytes: 16, payload: pixels)
        try expectSize(labelBytes, path: labelsPath, headerBytes: 8, payload: count)

        var labels = [Int32](repeating: 0, count: count)
        for index in 0..<count {
            let label = Int(labelBytes[8 + index])
            guard label < classes else {
                throw .labelOutOfRange(path: labelsPath, index: index, label: label, classes: classes)
            }
            labels[index] = Int32(label)
        }
        let images = PixelScaling.unitFloats(imageBytes, offset: 16, count: pixels)
        return Dataset(name: name, sampleShape: [1, rows, columns], classes: classes, images: images, labels: labels)
    }

    /// Checks the magic number and returns the dimensions of an IDX header.
    static func header(_ bytes: [UInt8], path: String, magic: UInt32, dimensions: Int) throws(DatasetError) -> [Int] {
        let headerBytes = 4 + 4 * dimensions
        guard bytes.count >= headerBytes else {
            throw .corruptFile(path: path, reason: "\(bytes.count) bytes is shorter than the \(headerBytes)-byte IDX header")
        }
        let found = bigEndianUInt32(bytes, at: 0)
        guard found == magic else {
            throw .corruptFile(path: path, reason: "magic number \(hex(found)), expected \(hex(magic))")
        }
        return (0..<dimensions).map { Int(bigEndianUInt32(bytes, at: 4 + 4 * $0)) }
    }

    private static func expectSize(_ bytes: [UInt8], path: String, headerBytes: Int, payload: Int) throws(DatasetError) {
        let expected = headerBytes + payload
        guard bytes.count == expected else {
            let relation = bytes.count < expected ? "short" : "too long"
            throw .corruptFile(path: path, reason: "\(relation): \(bytes.count) bytes, header promises \(expected)")
        }
    }

    private static func bigEndianUInt32(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
