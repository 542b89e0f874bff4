#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Whole-file reads and existence checks that report failures as `DatasetError`s naming the path.
enum FileBytes {
    /// Whether `path` exists and is a regular file (or a link to one).
    static func isFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }

    /// Whether `path` exists and is a directory (or a link to one).
    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The bytes of the file at `path`, exactly as stored.
    static func readRaw(_ path: String) throws(DatasetError) -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw .missingFile(path: path) }
            throw .unreadableFile(path: path, reason: errnoText())
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .unreadableFile(path: path, reason: "not a regular file")
        }
        guard let file = fopen(path, "rb") else {
            throw .unreadableFile(path: path, reason: errnoText())
        }
        defer { fclose(file) }
        let expected = Int(info.st_size)
        var failure: String?
        let bytes = [UInt8](unsafeUninitializedCapacity: expected) { buffer, initialized in
            var done = 0
            while done < expected {
                let got = fread(buffer.baseAddress! + done, 1, expected - done, file)
                if got == 0 {
                    failure = ferror(file) != 0 ? errnoText() : "file shrank while reading (\(done) of \(expected) bytes)"
                    break
                }
                done += got
            }
            initialized = done
        }
        if let failure { throw .unreadableFile(path: path, reason: failure) }
        return bytes
    }

    /// The decoded bytes of the file at `path`: gunzipped when it starts with the gzip magic `1f 8b`.
    static func read(_ path: String) throws(DatasetError) -> [UInt8] {
        let raw = try readRaw(path)
        if GzipFile.hasGzipMagic(raw) {
            return try GzipFile.decompress(raw, path: path)
        }
        return raw
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
