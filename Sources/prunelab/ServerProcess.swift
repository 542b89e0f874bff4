import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
#if canImport(Glibc)
import Glibc
#endif

/// `prunelab serve` as a child process on a loopback port (the benchmark's server, and the
/// end-to-end tests'): started, polled until it names its port on stderr and answers /healthz, and
/// stopped. Its stderr is kept (`log`), so a failure can show what the server said.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let database: String
    let token: String
    private(set) var port = 0
    /// From spawning the process to the first 200 from /healthz.
    private(set) var readySeconds = 0.0
    private let stderr = Pipe()
    private var output = ""
    private let lock = NSLock()

    struct NotReady: Error, CustomStringConvertible {
        let description: String
    }

    /// This very binary (the benchmark serves with the code it measures).
    static var thisExecutable: URL { URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath() }

    /// Starts `executable serve` on `database` with `token`, on `port` (0: a free one), with
    /// `workers` local workers, and returns once it answers or throws with its log after `readyTimeout` seconds.
    init(executable: URL, database: String, token: String, port: Int = 0, workers: String = "0", extraArguments: [String] = [],
         environment: [String: String]? = nil, readyTimeout: Double = 30) throws {
        self.database = database
        self.token = token
        process.executableURL = executable
        process.arguments = ["serve", "--db", database, "--port", "\(port)", "--token", token, "--workers", workers] + extraArguments
        if let environment { process.environment = environment }
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        // Drained as it comes, so the server never blocks on a full pipe.
        stderr.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.output += String(decoding: data, as: UTF8.self) }
        }
        let start = Date()
        try process.run()
        do {
            try waitUntilReady(deadline: start.addingTimeInterval(readyTimeout))
        } catch {
            stop()
            throw error
        }
        readySeconds = Date().timeIntervalSince(start)
    }

    /// Polls (20 ms) for the line naming the bound port, then for a 200 from /healthz.
    private func waitUntilReady(deadline: Date) throws {
        while port == 0 {
            // "serving http://HOST:PORT/api/v1": any host (0.0.0.0 too), requests go to 127.0.0.1.
            let text = log
            if let range = text.range(of: "serving http://"), let end = text[range.upperBound...].firstIndex(of: "/"),
               let colon = text[range.upperBound..<end].lastIndex(of: ":"), let bound = Int(text[text.index(after: colon)..<end]) {
                port = bound
                break
            }
            try check(deadline: deadline, waitingFor: "its port")
            Thread.sleep(forTimeInterval: 0.02)
        }
        while true {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/healthz")!)
            request.timeoutInterval = 1
            if (try? perform(request))?.status == 200 { return }
            try check(deadline: deadline, waitingFor: "/healthz")
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    private func check(deadline: Date, waitingFor what: String) throws {
        guard process.isRunning else { throw NotReady(description: "serve exited before \(what): \(log)") }
        guard Date() < deadline else { throw NotReady(description: "serve gave no \(what) in time: \(log)") }
    }

    /// What the server wrote on stderr so far.
    var log: String { lock.withLock { output } }

    /// kill -9: no shutdown, no flushing.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        stderr.fileHandleForReading.readabilityHandler = nil
    }

    /// SIGTERM (a graceful shutdown), and waits for the exit.
    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        stderr.fileHandleForReading.readabilityHandler = nil
    }

    struct Reply {
        let status: Int
        let body: Data
        var json: [String: Any]? { try? JSONSerialization.jsonObject(with: body) as? [String: Any] }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One HTTP request over loopback (URLSession, i.e. libcurl, as the CLI clients use), waited for.
    /// `path` is absolute ("/api/v1/sweeps"); `token` defaults to the server's, `.some(nil)` sends none.
    func request(_ method: String, _ path: String, body: Data? = nil, token: String?? = .none, contentType: String? = nil,
                 accept: String? = nil) throws -> Reply {
        var request = urlRequest(method, path, body: body, token: token, contentType: contentType)
        if let accept { request.setValue(accept, forHTTPHeaderField: "Accept") }
        return try perform(request)
    }

    /// `request`, awaited (for callers on Swift concurrency, which must not block a thread).
    func send(_ method: String, _ path: String, body: Data? = nil, token: String?? = .none, contentType: String? = nil) async throws -> Reply {
        let (data, response) = try await URLSession.shared.data(for: urlRequest(method, path, body: body, token: token, contentType: contentType))
        return Reply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
    }

    private func urlRequest(_ method: String, _ path: String, body: Data?, token: String??, contentType: String?) -> URLRequest {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue(contentType ?? "application/json", forHTTPHeaderField: "Content-Type") }
        let bearer: String? = token ?? self.token
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
        return request
    }

    private func perform(_ request: URLRequest) throws -> Reply {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: Result<Reply, any Error> = .failure(URLError(.unknown))
        URLSession.shared.dataTask(with: request) { data, response, error in
            if let error { result = .failure(error) } else {
                result = .success(Reply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data ?? Data()))
            }
            done.signal()
        }.resume()
        done.wait()
        return try result.get()
    }
}
