#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Directory contents through `opendir`/`readdir`, with failures as `DatasetError`s naming the path.
enum DirectoryListing {
    /// The names in `path` (without `.` and `..`), sorted by their UTF-8 bytes so that the order
    /// is the same on every platform and file system.
    static func names(in path: String) throws(DatasetError) -> [String] {
        guard let directory = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { throw .missingDirectory(path: path) }
            throw .unreadableFile(path: path, reason: FileBytes.errnoText())
        }
        defer { closedir(directory) }
        var names: [String] = []
        errno = 0
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: CChar.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
            errno = 0
        }
        guard errno == 0 else { throw .unreadableFile(path: path, reason: FileBytes.errnoText()) }
        return names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}
