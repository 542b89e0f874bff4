import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Debian's `chromium` run headless, as a test harness: `--dump-dom` prints the DOM after the
/// page's scripts ran (virtual time runs until the network is idle and timers are spent, up to
/// the budget), `--screenshot` writes a PNG.
enum HeadlessChromium {
    struct Run: CustomStringConvertible {
        let status: Int32
        let stdout: String
        let stderr: String
        var description: String { "chromium → status \(status)\nstdout: \(stdout.prefix(3000))\nstderr: \(stderr.suffix(3000))" }
    }

    struct Missing: Error, CustomStringConvertible {
        var description: String { "headless Chromium not found: install Debian's chromium (scripts/install-system-packages)" }
    }

    static let executable: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs chromium with a throwaway profile; killed after `timeout` seconds.
    static func run(_ arguments: [String], timeout: Double = 90) throws -> Run {
        guard let executable else { throw Missing() }
        let child = try ChildProcess.run(URL(fileURLWithPath: executable), timeout: timeout) { scratch in
            ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--disable-sync", "--hide-scrollbars",
             "--enable-logging=stderr", "--v=0", "--user-data-dir=\(scratch.appendingPathComponent("profile").path)"] + arguments
        }
        return Run(status: child.status, stdout: child.stdout, stderr: child.stderr)
    }

    /// The DOM of `url` once its scripts have run.
    static func dom(_ url: String, budgetMilliseconds: Int = 15000) throws -> Run {
        try run(["--virtual-time-budget=\(budgetMilliseconds)", "--window-size=1400,1800", "--dump-dom", url])
    }

    /// A PNG of `url` at `width`×`height`.
    static func screenshot(_ url: String, to file: URL, width: Int = 1400, height: Int = 2000) throws -> Run {
        try run(["--virtual-time-budget=15000", "--window-size=\(width),\(height)", "--screenshot=\(file.path)", url])
    }

    /// Console messages at error level and uncaught exceptions Chromium logged on stderr.
    static func consoleErrors(_ run: Run) -> [String] {
        run.stderr.split(separator: "\n").map(String.init).filter {
            ($0.contains(":CONSOLE") && ($0.contains("Uncaught") || $0.contains("ERROR:CONSOLE"))) || $0.contains("Uncaught ")
        }
    }
}

/// What a dumped page shows, read from its DOM (HTML, searched by pattern).
struct DumpedPage {
    let html: String

    /// `<html data-errors="…">`: the errors app.js recorded ("[]" when none).
    var recordedErrors: String? { attribute("data-errors", in: html) }
    /// `<body data-state="ready">` once the view rendered.
    var state: String? { html.range(of: "<body").flatMap { attribute("data-state", in: String(html[$0.lowerBound...].prefix(400))) } }
    /// `<body data-refreshes="n">`: how often the view polled the API (nil: never).
    var refreshes: Int? { html.range(of: "<body").flatMap { attribute("data-refreshes", in: String(html[$0.lowerBound...].prefix(400))) }.flatMap { Int($0) } }
    /// `<body data-redrawn="…">`: the sections of the sweep view its last render rebuilt.
    var redrawn: String? { html.range(of: "<body").flatMap { attribute("data-redrawn", in: String(html[$0.lowerBound...].prefix(600))) } }
    var view: String? { html.range(of: "<body").flatMap { attribute("data-view", in: String(html[$0.lowerBound...].prefix(400))) } }

    /// JavaScript values that leaked into the page as text ("null", "undefined", "NaN").
    var strayValues: [String] {
        matches(of: #">[^<]*\b(null|undefined|NaN)\b[^<]*<"#, in: html)
    }

    /// The outer HTML of the first element opening with `start` up to its closing `end`.
    func element(_ start: String, end: String) -> String? {
        guard let open = html.range(of: start), let close = html.range(of: end, range: open.upperBound..<html.endIndex) else { return nil }
        return String(html[open.lowerBound..<close.upperBound])
    }

    /// The keys of the result table's rows, in order.
    var resultKeys: [String] {
        guard let table = element("<table class=\"results\"", end: "</table>") else { return [] }
        return matches(of: #"<tr data-key="([0-9a-f]{64})""#, in: table)
    }

    /// The inline plot for an axis, as its SVG markup.
    func plot(_ axis: String) -> String? {
        guard let open = html.range(of: "data-plot=\"\(axis)\""),
              let start = html.range(of: "<svg", options: .backwards, range: html.startIndex..<open.lowerBound),
              let close = html.range(of: "</svg>", range: open.upperBound..<html.endIndex) else { return nil }
        return String(html[start.lowerBound..<close.upperBound])
    }
}

func attribute(_ name: String, in text: String) -> String? {
    matches(of: "\(name)=\"([^\"]*)\"", in: text).first.map {
        $0.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }
}

/// The first capture group of every match of `pattern` in `text`.
func matches(of pattern: String, in text: String) -> [String] {
    guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
    let range = NSRange(text.startIndex..., in: text)
    return regex.matches(in: text, range: range).compactMap { Range($0.range(at: 1), in: text).map { String(text[$0]) } }
}

/// One raw HTTP/1.1 request over a loopback socket, the request target sent byte for byte (no
/// client normalises `..` or percent-escapes away). Returns the status code, headers and body.
func rawHTTP(port: Int, target: String, headers: [String] = []) throws -> (status: Int, headers: [String: String], body: String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let request = (["GET \(target) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: close"] + headers).joined(separator: "\r\n") + "\r\n\r\n"
    let bytes = Array(request.utf8)
    guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else { throw POSIXError(.EIO) }
    var reply: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        reply += buffer[0..<n]
    }
    let text = String(decoding: reply, as: UTF8.self)
    let parts = text.components(separatedBy: "\r\n\r\n")
    let head = parts.first ?? "", body = parts.dropFirst().joined(separator: "\r\n\r\n")
    let lines = head.components(separatedBy: "\r\n")
    let status = lines.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
    var fields: [String: String] = [:]
    for line in lines.dropFirst() {
        guard let colon = line.firstIndex(of: ":") else { continue }
        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return (status, fields, body)
}
