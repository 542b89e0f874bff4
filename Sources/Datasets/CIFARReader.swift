/// Reader for the binary versions of CIFAR-10 and CIFAR-100.
///
/// CIFAR-10 record: 1 label byte + 3072 pixel bytes; CIFAR-100 record: coarse label byte + fine
/// label byte + 3072 pixel bytes. The pixels are the R, G and B planes of a 32x32 image, row by
/// row, which is already the CHW order of `Dataset`.
public enum CIFARReader {
    /// The shape of one CIFAR sample.
    public static let sampleShape = [3, 32, 32]
    /// Pixel bytes in one record.
    public static let pixelBytes = 3 * 32 * 32

    /// The record length for `classes` (10 → 3073, 100 → 3074).
    public static func recordSize(classes: Int) -> Int {
        labelBytes(classes: classes) + pixelBytes
    }

    /// Reads and concatenates `files` (in order) into one data set with fine labels and pixels scaled to [0, 1].
    public static func read(files: [String], classes: Int, name: String) throws(DatasetError) -> Dataset {
        precondition(classes == 10 || classes == 100, "CIFAR has 10 or 100 classes, got \(classes)")
        let labelBytes = labelBytes(classes: classes)
        let record = labelBytes + pixelBytes
        var contents: [[UInt8]] = []
        var total = 0
        for path in files {
            let bytes = try FileBytes.read(path)
            guard !bytes.isEmpty, bytes.count % record == 0 else {
                throw .corruptFile(path: path, reason: "size \(bytes.count) bytes is not a positive multiple of the \(record)-byte CIFAR-\(classes) record")
            }
            contents.append(bytes)
            total += bytes.count / record
        }

        var images = [Float](repeating: 0, count: total * pixelBytes)
        var labels = [Int32](repeating: 0, count: total)
        var sample = 0
        for (path, bytes) in zip(files, contents) {
            let records = bytes.count / record
            for index in 0..<records {
                let label = Int(bytes[index * record + labelBytes - 1])   // the fine label is the last label byte
                guard label < classes else {
                    throw .labelOutOfRange(path: path, index: index, label: label, classes: classes)
                }
                labels[sample + index] = Int32(label)
            }
            images.withUnsafeMutableBufferPointer { destination in
                bytes.withUnsafeBufferPointer { source in
                    let from = source.baseAddress!, to = destination.baseAddress! + sample * pixelBytes
                    for index in 0..<records {
                        PixelScaling.convert(from + index * record + labelBytes, into: to + index * pixelBytes, count: pixelBytes)
                    }
                }
            }
            sample += records
        }
        return Dataset(name: name, sampleShape: sampleShape, classes: classes, images: images, labels: labels)
    }

    private static func labelBytes(classes: Int) -> Int { classes == 100 ? 2 : 1 }
}
