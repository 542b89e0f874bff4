import Foundation
#if canImport(Glibc)
import Glibc
#endif
@testable import prunelab

extension ServerProcess {
    /// `prunelab serve` from the build directory with the tests' token and child environment, its
    /// start-up timeout stretched for a busy machine.
    convenience init(database: String, token: String = "test-token", port: Int = 0, workers: String = "0",
                     extraArguments: [String] = []) throws {
        try self.init(executable: PrunelabBinary.location.get(), database: database, token: token, port: port, workers: workers,
                      extraArguments: extraArguments, environment: PrunelabBinary.childEnvironment,
                      readyTimeout: 30 * ChildProcess.busyMachineSlack)
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
