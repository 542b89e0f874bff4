import CGzip

/// gzip through zlib: in-memory decompression for readers, file writing for tests and tools.
public enum GzipFile {
    /// Whether `bytes` start with the gzip magic `1f 8b`.
    public static func hasGzipMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// The decoded bytes of the file at `path`, gunzipped when it starts with the gzip magic.
    public static func read(_ path: String) throws(DatasetError) -> [UInt8] {
        try FileBytes.read(path)
    }

    /// Writes `bytes` gzip-compressed to `path` (replacing any file there).
    public static func write(_ bytes: [UInt8], to path: String) throws(DatasetError) {
        guard let file = gzopen(path, "wb") else {
            throw .unreadableFile(path: path, reason: "cannot open for writing: \(FileBytes.errnoText())")
        }
        var written: Int32 = 0
        if !bytes.isEmpty {
            written = bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
        }
        let closed = gzclose(file)
        guard Int(written) == bytes.count, closed == Z_OK else {
            throw .unreadableFile(path: path, reason: "gzip write failed (wrote \(written) of \(bytes.count) bytes, close status \(closed))")
        }
    }

    /// Inflates every gzip member in `compressed`; `path` only names the source in errors.
    ///
    /// A stream that ends early (truncated download) is an error rather than a short result:
    /// zlib reports `Z_BUF_ERROR` once input runs out before the stream's end marker.
    static func decompress(_ compressed: [UInt8], path: String) throws(DatasetError) -> [UInt8] {
        var capacity = initialCapacity(compressed)
        var output = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { output.deallocate() }
        var produced = 0
        var failure: String?

        compressed.withUnsafeBufferPointer { input in
            var stream = z_stream()
            guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                failure = "zlib could not initialise"
                return
            }
            defer { inflateEnd(&stream) }
            var consumed = 0
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!)
            stream.avail_in = UInt32(clamping: input.count)
            while true {
                if produced == capacity {
                    let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                    grown.update(from: output, count: produced)
                    output.deallocate()
                    output = grown
                    capacity *= 2
                }
                stream.next_out = output + produced
                let room = UInt32(clamping: capacity - produced)
                stream.avail_out = room
                let inBefore = stream.avail_in
                let status = inflate(&stream, Z_NO_FLUSH)
                produced += Int(room - stream.avail_out)
                consumed += Int(inBefore - stream.avail_in)
                if stream.avail_in == 0 && consumed < input.count {
                    // Feed the next slice of a file larger than 4 GiB.
                    stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress! + consumed)
                    stream.avail_in = UInt32(clamping: input.count - consumed)
                }
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    let rest = input[consumed...]
                    if rest.count >= 2 && rest[consumed] == 0x1F && rest[consumed + 1] == 0x8B {
                        inflateReset(&stream)   // another gzip member follows (as `cat a.gz b.gz` makes)
                        continue
                    }
                    if !rest.allSatisfy({ $0 == 0 }) {
                        failure = "\(rest.count) bytes of trailing data after the gzip stream"
                    }
                    return
                case Z_BUF_ERROR where stream.avail_out == 0:
                    continue
                case Z_BUF_ERROR:
                    failure = "truncated gzip stream (input ended after \(produced) decompressed bytes)"
                    return
                default:
                    let message = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                    failure = "invalid gzip data: \(message)"
                    return
                }
            }
        }
        if let failure { throw .corruptFile(path: path, reason: failure) }
        return [UInt8](UnsafeBufferPointer(start: output, count: produced))
    }

    /// The gzip trailer's ISIZE (length mod 2^32) is a good first guess; a bad one only costs regrowth.
    private static func initialCapacity(_ compressed: [UInt8]) -> Int {
        let n = compressed.count
        guard n >= 4 else { return 1 << 16 }
        let hint = Int(compressed[n - 4]) | Int(compressed[n - 3]) << 8 | Int(compressed[n - 2]) << 16 | Int(compressed[n - 1]) << 24
        let upper = max(1 << 16, min(n * 32, 1 << 30))
        return min(max(hint, 1 << 16), upper)
    }
}
