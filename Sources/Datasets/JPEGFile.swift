import CJPEG

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Single JPEG files through libjpeg, for tests and tools; data set readers use `JPEGBatchDecoder`.
///
/// All libjpeg work runs on a `JPEGSession` thread, so a corrupt file is a `DatasetError`, never an exit.
public enum JPEGFile {
    /// A decoded JPEG: RGB bytes whatever the file stored.
    public struct Image: Sendable, Equatable {
        /// Pixels per row.
        public var width: Int
        /// Rows.
        public var height: Int
        /// Colour components in the file: 1 (grayscale, replicated to RGB here) or 3.
        public var sourceComponents: Int
        /// `width * height` RGB triples, row by row.
        public var rgb: [UInt8]
    }

    /// Decodes the JPEG file at `path`.
    public static func read(_ path: String) throws(DatasetError) -> Image {
        let outcome = Outcome<Image>()
        let fatal = try runSession(path: path) { session in
            do throws(DatasetError) {
                let bytes = try FileBytes.readRaw(path)
                let decompressor = JPEGDecompressor(session: session)
                try bytes.withUnsafeBufferPointer { buffer throws(DatasetError) in try decompressor.decode(buffer, path: path) }
                outcome.value = Image(width: decompressor.width, height: decompressor.height,
                                      sourceComponents: decompressor.sourceComponents, rgb: Array(decompressor.rgb))
            } catch {
                outcome.error = error
            }
        }
        return try outcome.result(fatal: fatal, path: path)
    }

    /// Writes `rgb` (`width * height` RGB triples, row by row) as a baseline JPEG of `quality` (1...100) to `path`.
    public static func write(rgb: [UInt8], width: Int, height: Int, quality: Int = 95, to path: String) throws(DatasetError) {
        try write(rgb, components: 3, width: width, height: height, quality: quality, to: path)
    }

    /// Writes `gray` (`width * height` bytes, row by row) as a one-component (grayscale) JPEG to `path`.
    public static func write(gray: [UInt8], width: Int, height: Int, quality: Int = 95, to path: String) throws(DatasetError) {
        try write(gray, components: 1, width: width, height: height, quality: quality, to: path)
    }

    private static func write(_ pixels: [UInt8], components: Int, width: Int, height: Int, quality: Int, to path: String) throws(DatasetError) {
        precondition(width > 0 && height > 0 && width <= 65_500 && height <= 65_500, "JPEG size \(width)x\(height) out of range")
        precondition(pixels.count == width * height * components, "\(pixels.count) bytes for a \(width)x\(height)x\(components) image")
        precondition((1...100).contains(quality), "JPEG quality \(quality) outside 1...100")
        let outcome = Outcome<[UInt8]>()
        let fatal = try runSession(path: path) { session in
            outcome.value = encode(pixels, components: components, width: width, height: height, quality: quality, session: session)
        }
        let encoded = try outcome.result(fatal: fatal, path: path)
        guard let file = fopen(path, "wb") else {
            throw .unreadableFile(path: path, reason: "cannot open for writing: \(FileBytes.errnoText())")
        }
        let written = encoded.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        let closed = fclose(file)
        guard written == encoded.count, closed == 0 else {
            throw .unreadableFile(path: path, reason: "write failed after \(written) of \(encoded.count) bytes: \(FileBytes.errnoText())")
        }
    }

    /// Compresses on the session's thread; libjpeg mallocs the output, copied out and freed here.
    private static func encode(_ pixels: [UInt8], components: Int, width: Int, height: Int, quality: Int, session: JPEGSession) -> [UInt8] {
        let info = UnsafeMutablePointer<jpeg_compress_struct>.allocate(capacity: 1)
        info.initialize(to: jpeg_compress_struct())
        info.pointee.err = session.errorManager
        info.pointee.client_data = session.clientData
        jpeg_CreateCompress(info, JPEG_LIB_VERSION, MemoryLayout<jpeg_compress_struct>.size)
        let output = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: 1)
        let size = UnsafeMutablePointer<UInt>.allocate(capacity: 1)
        output.initialize(to: nil)
        size.initialize(to: 0)
        defer {
            jpeg_destroy_compress(info)
            info.deallocate()
            free(output.pointee)
            output.deallocate()
            size.deallocate()
        }
        jpeg_mem_dest(info, output, size)
        info.pointee.image_width = JDIMENSION(width)
        info.pointee.image_height = JDIMENSION(height)
        info.pointee.input_components = Int32(components)
        info.pointee.in_color_space = components == 3 ? JCS_RGB : JCS_GRAYSCALE
        jpeg_set_defaults(info)
        jpeg_set_quality(info, Int32(quality), 1)
        jpeg_start_compress(info, 1)
        pixels.withUnsafeBufferPointer { buffer in
            var row: JSAMPROW? = UnsafeMutablePointer(mutating: buffer.baseAddress!)
            while info.pointee.next_scanline < info.pointee.image_height {
                row = UnsafeMutablePointer(mutating: buffer.baseAddress! + Int(info.pointee.next_scanline) * width * components)
                _ = jpeg_write_scanlines(info, &row, 1)
            }
        }
        jpeg_finish_compress(info)
        return Array(UnsafeBufferPointer(start: output.pointee, count: Int(size.pointee)))
    }

    /// Runs `body` on one session thread; returns libjpeg's fatal message, if any.
    private static func runSession(path: String, _ body: @escaping @Sendable (JPEGSession) -> Void) throws(DatasetError) -> String? {
        switch JPEGSession.run(workers: 1, { _, session in body(session) }) {
        case .success(let fatal): return fatal[0]
        case .failure(let failure): throw .unreadableFile(path: path, reason: "cannot start a libjpeg thread: \(failure.reason)")
        }
    }

    /// What a session thread hands back; the session's semaphore orders these writes before the reads.
    private final class Outcome<Value>: @unchecked Sendable {
        var value: Value?
        var error: DatasetError?

        func result(fatal: String?, path: String) throws(DatasetError) -> Value {
            if let fatal { throw .corruptFile(path: path, reason: "libjpeg: \(fatal)") }
            if let error { throw error }
            return value!
        }
    }
}
