import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `prunelab serve` as a child process on a free loopback port, ready when it says so on stderr.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let database: String
    let token: String
    private(set) var port = 0
    private let stderr = Pipe()
    private var output = ""
    private let lock = NSLock()

    init(database: String, token: String = "test-token", port: Int = 0, workers: String = "0", extraArguments: [String] = []) throws {
        self.database = database
        self.token = token
        guard case let .success(binary) = PrunelabBinary.location else { throw PrunelabBinary.NotFound(searched: []) }
        process.executableURL = binary
        process.arguments = ["serve", "--db", database, "--port", "\(port)", "--token", token, "--workers", workers] + extraArguments
        process.environment = PrunelabBinary.childEnvironment
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        stderr.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.lock()
            self.output += String(decoding: data, as: UTF8.self)
            self.lock.unlock()
        }
        try process.run()
        // Poll for readiness: the line naming the bound port.
        let deadline = Date().addingTimeInterval(30 * ChildProcess.busyMachineSlack)
        while Date() < deadline {
            lock.lock()
            let text = output
            lock.unlock()
            // "serving http://HOST:PORT/api/v1": any host (tests also bind 0.0.0.0), requests go to 127.0.0.1.
            if let range = text.range(of: "serving http://"), let end = text[range.upperBound...].firstIndex(of: "/"),
               let colon = text[range.upperBound..<end].lastIndex(of: ":"), let port = Int(text[text.index(after: colon)..<end]) {
                self.port = port
                return
            }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        stop()
        throw NSError(domain: "ServerProcess", code: 1, userInfo: [NSLocalizedDescriptionKey: "server did not start: \(output)"])
    }

    var log: String {
        lock.lock()
        defer { lock.unlock() }
        return output
    }

    /// kill -9: no shutdown, no flushing.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        stderr.fileHandleForReading.readabilityHandler = nil
    }

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

    /// One HTTP request over loopback (URLSession, i.e. libcurl).
    func request(_ method: String, _ path: String, body: Data? = nil, token: String?? = .none, contentType: String? = nil) throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        request.httpBody = body
        if body != nil { request.setValue(contentType ?? "application/json", forHTTPHeaderField: "Content-Type") }
        let bearer: String? = token ?? self.token
        if let bearer { request.setValue("Bearer \(bearer)", forHTTPHeaderField: "Authorization") }
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

/// `prunelab worker` as a child process.
final class WorkerProcess {
    let process = Process()

    init(server: ServerProcess, exitWhenIdle: Bool = false) throws {
        guard case let .success(binary) = PrunelabBinary.location else { throw PrunelabBinary.NotFound(searched: []) }
        process.executableURL = binary
        process.arguments = ["worker", "--server", "http://127.0.0.1:\(server.port)", "--token", server.token, "--poll-interval", "0.2"]
            + (exitWhenIdle ? ["--exit-when-idle"] : [])
        process.environment = PrunelabBinary.childEnvironment
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}

/// Polls `condition` every 50 ms until it holds or `seconds` pass; returns whether it held.
func waitUntil(seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return try condition()
}
