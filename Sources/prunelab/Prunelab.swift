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
        subcommands: [TrainCommand.self, ServeCommand.self, WorkerCommand.self, SubmitCommand.self, StatusCommand.self, ResultsCommand.self, RunCommand.self, ReproduceCommand.self, PruneCommand.self, EffectiveCommand.self, CurveCommand.self, BenchCommand.self, DeviceCheckCommand.self, ModelsCommand.self, ReportCommand.self, SlurmCommand.self, GarbageCommand.self, BackupCommand.self])
}

/// Entry point: every failure, parse errors included, ends with one line on stderr and a non-zero exit.
@main
enum Main {
    static func main() async {
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
