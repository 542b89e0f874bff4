import CJPEG

/// One reusable libjpeg decompressor that turns in-memory JPEGs into interleaved RGB bytes.
///
/// Create, use and drop it only on the thread of its `JPEGSession` (see there for why).
final class JPEGDecompressor {
    private let session: JPEGSession
    private let info: UnsafeMutablePointer<jpeg_decompress_struct>
    private var pixels: UnsafeMutablePointer<UInt8>
    private var rows: UnsafeMutablePointer<JSAMPROW?>
    private var pixelCapacity = 0, rowCapacity = 0
    /// The size of the last decoded image.
    private(set) var width = 0, height = 0
    /// The colour components stored in the last decoded file (1 for grayscale, 3 for colour); the output is always RGB.
    private(set) var sourceComponents = 0

    /// A decompressor reporting to `session`.
    init(session: JPEGSession) {
        self.session = session
        info = .allocate(capacity: 1)
        info.initialize(to: jpeg_decompress_struct())
        info.pointee.err = session.errorManager
        info.pointee.client_data = session.clientData   // kept by jpeg_CreateDecompress
        jpeg_CreateDecompress(info, JPEG_LIB_VERSION, MemoryLayout<jpeg_decompress_struct>.size)
        pixels = .allocate(capacity: 0)
        rows = .allocate(capacity: 0)
    }

    deinit {
        jpeg_destroy_decompress(info)
        info.deallocate()
        pixels.deallocate()
        rows.deallocate()
    }

    /// Decodes the JPEG in `bytes` to `width * height * 3` RGB bytes (`rgb`), grayscale replicated to
    /// three channels; when `expected` is given, another size is an error. `path` names the file in errors.
    func decode(_ bytes: UnsafeBufferPointer<UInt8>, path: String, expected: (width: Int, height: Int)? = nil,
                maxPixels: Int = 1 << 28) throws(DatasetError) {
        let frame = try JPEGStructure.frame(of: bytes, path: path)
        if let expected, frame.width != expected.width || frame.height != expected.height {
            throw .corruptFile(path: path, reason: "image is \(frame.width)x\(frame.height), expected \(expected.width)x\(expected.height)")
        }
        guard frame.width * frame.height <= maxPixels else {
            throw .corruptFile(path: path, reason: "image of \(frame.width)x\(frame.height) pixels is implausibly large")
        }
        session.clearWarnings()
        jpeg_mem_src(info, bytes.baseAddress, UInt(bytes.count))
        _ = jpeg_read_header(info, 1)
        if let warning = session.firstWarning {
            jpeg_abort_decompress(info)
            throw .corruptFile(path: path, reason: warning)
        }
        // libjpeg guesses the colour space from the markers; only ones it can convert to RGB are decoded.
        let space = info.pointee.jpeg_color_space
        guard space == JCS_GRAYSCALE || space == JCS_YCbCr || space == JCS_RGB else {
            jpeg_abort_decompress(info)
            throw .corruptFile(path: path, reason: "colour space \(space.rawValue) cannot be converted to RGB")
        }
        info.pointee.out_color_space = JCS_RGB
        width = Int(info.pointee.image_width)
        height = Int(info.pointee.image_height)
        sourceComponents = Int(info.pointee.num_components)
        reserve(width: width, height: height)

        _ = jpeg_start_decompress(info)
        let outputHeight = info.pointee.output_height
        while info.pointee.output_scanline < outputHeight {
            let done = info.pointee.output_scanline
            if jpeg_read_scanlines(info, rows + Int(done), outputHeight - done) == 0 { break }
        }
        let complete = info.pointee.output_scanline == outputHeight
        if complete {
            _ = jpeg_finish_decompress(info)   // reads to EOI, so trailing damage warns too
        } else {
            jpeg_abort_decompress(info)
        }
        if let warning = session.firstWarning {
            throw .corruptFile(path: path, reason: warning)
        }
        guard complete else { throw .corruptFile(path: path, reason: "decoding stopped after \(info.pointee.output_scanline) of \(height) rows") }
    }

    /// The last decoded image, `width * height` RGB triples row by row.
    var rgb: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: pixels, count: width * height * 3) }

    /// Writes the last decoded image as CHW planes of `pixel / 255` (the scaling of `PixelScaling`) to `destination`.
    func writePlanes(to destination: UnsafeMutablePointer<Float>) {
        let plane = width * height
        let red = destination, green = destination + plane, blue = destination + 2 * plane
        let source = UnsafePointer(pixels)
        for i in 0..<plane {
            red[i] = Float(source[3 * i]) / 255
            green[i] = Float(source[3 * i + 1]) / 255
            blue[i] = Float(source[3 * i + 2]) / 255
        }
    }

    private func reserve(width: Int, height: Int) {
        let needed = width * height * 3
        if needed > pixelCapacity {
            pixels.deallocate()
            pixels = .allocate(capacity: needed)
            pixelCapacity = needed
        }
        if height > rowCapacity {
            rows.deallocate()
            rows = .allocate(capacity: height)
            rowCapacity = height
        }
        for y in 0..<height { rows[y] = pixels + y * width * 3 }
    }
}
