import Foundation
import Hummingbird

/// The results page (`public/`): compiled into the binary, so a deployed `prunelab` needs no
/// files beside it; `serve --public DIR` serves a folder instead (editing the page without
/// rebuilding). Both go through Hummingbird's FileMiddleware: paths with `..` (also
/// percent-encoded) are refused, content types come from the extension, and ETag /
/// Last-Modified answer conditional requests.
struct EmbeddedFiles: FileProvider {
    struct FileAttributes: FileMiddlewareFileAttributes, Sendable {
        let isFolder: Bool
        let size: Int
        let modificationDate: Date
    }

    typealias FileIdentifier = String

    /// Path under "/" → bytes.
    let files: [String: [UInt8]]
    /// When this process started: embedded files change only with the binary.
    let modificationDate = Date()

    static let page = EmbeddedFiles(files: [
        "/index.html": PackageResources.index_html,
        "/app.js": PackageResources.app_js,
        "/charts.js": PackageResources.charts_js,
        "/style.css": PackageResources.style_css,
    ])

    func getFileIdentifier(_ path: String) -> String? { path }

    func getAttributes(id: String) async throws -> FileAttributes? {
        if id == "/" { return FileAttributes(isFolder: true, size: 0, modificationDate: modificationDate) }
        return files[id].map { FileAttributes(isFolder: false, size: $0.count, modificationDate: modificationDate) }
    }

    func loadFile(id: String, context: some RequestContext) async throws -> ResponseBody {
        guard let bytes = files[id] else { throw HTTPError(.notFound) }
        return ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
    }

    func loadFile(id: String, range: ClosedRange<Int>, context: some RequestContext) async throws -> ResponseBody {
        guard let bytes = files[id], range.lowerBound >= 0, range.upperBound < bytes.count else { throw HTTPError(.rangeNotSatisfiable) }
        return ResponseBody(byteBuffer: ByteBuffer(bytes: bytes[range]))
    }
}

extension Router {
    /// Serves the page at `/`: from `directory` when given, else the embedded copy. Browsers
    /// revalidate every time (no-cache + ETag), so a new binary or an edited file shows at once.
    func addResultsPage(directory: String?) {
        let cache = CacheControl([(MediaType(type: .any), [.noCache])])
        if let directory {
            add(middleware: FileMiddleware(directory, cacheControl: cache, searchForIndexHtml: true))
        } else {
            add(middleware: FileMiddleware(fileProvider: EmbeddedFiles.page, cacheControl: cache, searchForIndexHtml: true))
        }
    }
}

/// Which request paths are the results page's own files (what `addResultsPage` serves), so they
/// load without a token where data needs one. Only an exact file counts: the embedded page's
/// names, or a regular file inside `--public DIR` (no `..`, percent-decoded as FileMiddleware
/// does); never a path under /api/ or /metrics, whatever the folder holds.
struct PageFiles: Sendable {
    let directory: String?

    func serves(_ uriPath: String) -> Bool {
        guard let path = uriPath.removingPercentEncoding, path.hasPrefix("/"), !path.contains(".."),
              !path.hasPrefix("/api/"), path != "/metrics", !path.contains("//") else { return false }
        let file = path.hasSuffix("/") ? path + "index.html" : path
        guard let directory else { return EmbeddedFiles.page.files[file] != nil }
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: directory + file, isDirectory: &isDirectory) && !isDirectory.boolValue
    }
}
