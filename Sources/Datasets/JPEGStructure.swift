/// A walk over a JPEG file's marker segments up to its first scan, so that files that are not
/// JPEGs, truncated headers and frames libjpeg would refuse become `DatasetError`s naming the file
/// before libjpeg sees them (a fatal libjpeg error costs a parked thread, see `JPEGSession`).
enum JPEGStructure {
    /// What the frame header (SOFn) declares.
    struct Frame: Equatable {
        var width: Int
        var height: Int
        var components: Int
    }

    /// The frame of the JPEG in `bytes`, or `corruptFile(path:reason:)` saying what is wrong.
    static func frame(of bytes: UnsafeBufferPointer<UInt8>, path: String) throws(DatasetError) -> Frame {
        func corrupt(_ reason: String) -> DatasetError { .corruptFile(path: path, reason: reason) }
        let count = bytes.count
        guard count >= 4 else { throw corrupt("\(count) bytes is too short for a JPEG") }
        guard bytes[0] == 0xFF, bytes[1] == 0xD8 else {
            throw corrupt("not a JPEG (starts with \(hex(bytes[0])) \(hex(bytes[1])), expected ff d8)")
        }
        var frame: Frame?
        var quantTables = Set<UInt8>()
        var tableOfComponent: [UInt8: UInt8] = [:]   // frame component id -> quantisation table
        var offset = 2
        while true {
            guard offset < count, bytes[offset] == 0xFF else {
                throw corrupt(offset >= count ? "ends before the first scan" : "expected a marker at byte \(offset)")
            }
            while offset < count && bytes[offset] == 0xFF { offset += 1 }   // fill bytes
            guard offset < count else { throw corrupt("ends before the first scan") }
            let marker = bytes[offset]
            offset += 1
            switch marker {
            case 0x01, 0xD0...0xD7:
                continue   // standalone markers
            case 0xD8, 0xD9:
                throw corrupt("marker \(hex(0xFF)) \(hex(marker)) before the first scan")
            default:
                break
            }
            guard offset + 2 <= count else { throw corrupt("truncated in marker \(hex(marker)) segment") }
            let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            guard length >= 2, offset + length <= count else {
                throw corrupt("marker \(hex(marker)) segment of \(length) bytes runs past the end (\(count) bytes)")
            }
            let segment = UnsafeBufferPointer(rebasing: bytes[(offset + 2)..<(offset + length)])
            offset += length
            switch marker {
            case 0xDB:   // DQT: (precision << 4 | id, 64 or 128 bytes) repeated
                var at = 0
                while at < segment.count {
                    let id = segment[at] & 0x0F, size = segment[at] >> 4 == 0 ? 64 : 128
                    guard id < 4, at + 1 + size <= segment.count else { throw corrupt("malformed quantisation table segment") }
                    quantTables.insert(id)
                    at += 1 + size
                }
            case 0xC0, 0xC1, 0xC2, 0xC9, 0xCA:   // baseline, extended, progressive; Huffman or arithmetic
                guard frame == nil else { throw corrupt("more than one frame header") }
                guard segment.count >= 6 else { throw corrupt("frame header of \(segment.count) bytes is too short") }
                let precision = Int(segment[0])
                let height = Int(segment[1]) << 8 | Int(segment[2]), width = Int(segment[3]) << 8 | Int(segment[4])
                let components = Int(segment[5])
                guard precision == 8 else { throw corrupt("\(precision)-bit samples; only 8-bit JPEGs are supported") }
                guard width > 0, height > 0 else { throw corrupt("frame declares an empty \(width)x\(height) image") }
                guard components == 1 || components == 3 else {
                    throw corrupt("\(components) colour components; only grayscale and 3-component (RGB/YCbCr) JPEGs are supported")
                }
                guard segment.count == 6 + 3 * components else { throw corrupt("frame header length does not match \(components) components") }
                for component in 0..<components {
                    let sampling = segment[6 + 3 * component + 1]
                    guard (1...4).contains(sampling >> 4), (1...4).contains(sampling & 0x0F) else {
                        throw corrupt("invalid sampling factors \(hex(sampling)) of component \(component)")
                    }
                    tableOfComponent[segment[6 + 3 * component]] = segment[6 + 3 * component + 2]
                }
                frame = Frame(width: width, height: height, components: components)
            case 0xC3, 0xC5...0xC7, 0xCB, 0xCD...0xCF:
                throw corrupt("unsupported JPEG process (frame marker ff \(hex(marker)): lossless or hierarchical)")
            case 0xDA:   // SOS: entropy-coded data follows; damage there is a libjpeg warning, not a fatal error
                guard let frame else { throw corrupt("scan before the frame header") }
                guard segment.count >= 1, (1...4).contains(Int(segment[0])), segment.count == 4 + 2 * Int(segment[0]) else {
                    throw corrupt("malformed scan header")
                }
                for scanComponent in 0..<Int(segment[0]) {
                    let id = segment[1 + 2 * scanComponent]
                    guard let table = tableOfComponent[id] else { throw corrupt("scan names component \(id), which the frame lacks") }
                    guard quantTables.contains(table) else {
                        throw corrupt("component \(id) uses quantisation table \(table), which is never defined")
                    }
                }
                return frame
            default:
                continue   // APPn, COM, DHT, DRI, …: libjpeg checks their contents
            }
        }
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16)
        return digits.count == 1 ? "0" + digits : digits
    }
}
