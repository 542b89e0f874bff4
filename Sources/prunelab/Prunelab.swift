import ArgumentParser
import Service
#if canImport(Glibc)
import Glibc
#endif

/// The one prunelab executable.
struct Prunelab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prunelab",
        abstract: "Neural-network pruning research around effective sparsity.",
        subcommands: [TrainCommand.self, ServeCommand.self, WorkerCommand.self, SubmitCommand.self, UploadCommand.self, StatusCommand.self, ResultsCommand.self, RunCommand.self, ReproduceCommand.self, PruneCommand.self, EffectiveCommand.self, CurveCommand.self, BenchCommand.self, DeviceCheckCommand.self, ModelsCommand.self, ReportCommand.self, SlurmCommand.self, GarbageCommand.self, BackupCommand.self])
}

/// Entry point: every failure, parse errors included, ends with one line on stderr and a non-zero exit.
@main
enum Main {
    static func main() async {
        boundOpenMPSpinning()
        // The server's handlers then run on NIO's event loops instead of hopping to Swift's
        // cooperative pool and back for every request (measured: see BENCHMARKS.md, service).
        if CommandLine.arguments.dropFirst().first == "serve" {
            runConcurrencyOnEventLoops()
        }
        do {
            var command = try Prunelab.parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            let code = Prunelab.exitCode(for: error)
            if code == .success {
                print(Prunelab.fullMessage(for: error))
                exit(0)
            }
            let message = Prunelab.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
            printError("prunelab: \(message)")
            exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}

/// Commands that compute with OpenMP (oneDNN and the engine's parallel loops), or start processes that do.
/// Not `effective`: its masks are bit maps on one thread, and executing itself again would double
/// the start-up of a command that takes a tenth of a second (BENCHMARKS.md, mask-only commands).
let computeCommands: Set<String> = ["train", "serve", "worker", "run", "reproduce", "prune", "curve", "curves", "bench", "device-check"]

/// Bounds libgomp's busy-wait before the process computes: unless the environment chooses
/// (`GOMP_SPINCOUNT` or `OMP_WAIT_POLICY`), the process executes itself again with
/// `GOMP_SPINCOUNT=1000`. libgomp reads its environment when it loads, before `main`, so setting it
/// later does nothing. By default each thread of a team spins 300 000 rounds at every barrier:
/// while another process holds one of the cores, a 50-step LeNet-300-100 run took 37 s instead
/// of 1.5 s (BENCHMARKS.md, "Busy neighbours"); 1 000 rounds cost nothing on an idle machine.
/// Child processes (the server's workers) inherit the setting and do not execute again.
func boundOpenMPSpinning() {
    #if os(Linux)
    guard getenv("GOMP_SPINCOUNT") == nil, getenv("OMP_WAIT_POLICY") == nil,
          let command = CommandLine.arguments.dropFirst().first, computeCommands.contains(command) else { return }
    setenv("GOMP_SPINCOUNT", "1000", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // Only reached when the exec failed: run as is, with libgomp's default.
    #endif
}

/// A CLI argument that parsed but makes no sense; reported as one line naming the option.
struct InvalidOption: Error, CustomStringConvertible {
    let option: String
    let reason: String
    var description: String { "\(option): \(reason)" }
}

/// Writes one line to standard error (progress, not results).
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
}
