import ArgumentParser
import Foundation

/// `prunelab slurm`: helpers that hand workers to Slurm (prunelab schedules runs, never nodes).
struct SlurmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "slurm",
        abstract: "Start prunelab workers on a Slurm cluster.",
        subcommands: [SlurmSubmitCommand.self])
}

/// `prunelab slurm submit`: N workers as one `sbatch --array` job of deploy/slurm/prunelab-workers.sbatch.
struct SlurmSubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit N workers, pointed at a running server, as a Slurm job array.",
        discussion: """
            Runs: sbatch --parsable --array=0-(N-1) [--partition P] [--gres G] [--time T] [--cpus-per-task C] \
            [--sbatch-option …] --export=ALL,PRUNELAB_SERVER=URL,PRUNELAB_BIN=<this executable> SCRIPT. \
            The token travels in the job's environment (PRUNELAB_TOKEN, exported from this shell) or as a file \
            (--token-file, read on the compute node), never on a command line. Prints the job id on stdout. \
            Each task's worker stops on Slurm's SIGTERM (scancel, preemption, time limit); its run resumes on \
            another worker from the last checkpoint once the lease expires.
            """)

    @Option(help: "Server URL as the compute nodes reach it, e.g. http://head:8080.")
    var server: String
    @Option(help: "Workers (array tasks), 1…10000.")
    var workers: Int
    @Option(help: "Partition (default: the cluster's default).")
    var partition: String?
    @Option(help: "Generic resources per worker, e.g. gpu:1 (each task then works on its GPU as gpu:0); none: CPU workers.")
    var gres: String?
    @Option(help: "Time limit per worker, e.g. 04:00:00.")
    var time: String?
    @Option(help: "CPUs per worker (its training threads).")
    var cpusPerTask: Int?
    @Option(help: "A file on the compute nodes holding the token (else PRUNELAB_TOKEN is exported from this shell).")
    var tokenFile: String?
    @Option(parsing: .unconditionalSingleValue, help: "Another sbatch option, passed as is (repeatable), e.g. --sbatch-option --account=lab.")
    var sbatchOption: [String] = []
    @Option(parsing: .unconditional, help: "Further `prunelab worker` options for every task, e.g. \"--exit-when-idle\".")
    var workerArgs: String?
    @Option(help: "The batch script.")
    var script: String = "deploy/slurm/prunelab-workers.sbatch"
    @Option(help: "The sbatch executable.")
    var sbatch: String = "sbatch"
    @Flag(help: "Print the sbatch command line instead of running it.")
    var dryRun = false

    /// The sbatch arguments (after the executable); no secret among them.
    func sbatchArguments(executable: String) throws -> [String] {
        _ = try apiURL(server)
        guard (1...10_000).contains(workers) else { throw InvalidOption(option: "--workers", reason: "must be in 1…10000, got \(workers)") }
        if let cpusPerTask, cpusPerTask < 1 { throw InvalidOption(option: "--cpus-per-task", reason: "must be at least 1, got \(cpusPerTask)") }
        guard FileManager.default.isReadableFile(atPath: script) else {
            throw InvalidOption(option: "--script", reason: "cannot read \(script) (run from the prunelab checkout or give --script)")
        }
        var environment = ["ALL", "PRUNELAB_SERVER=\(server)", "PRUNELAB_BIN=\(executable)"]
        if let tokenFile {
            environment.append("PRUNELAB_TOKEN_FILE=\(tokenFile)")
        } else if (ProcessInfo.processInfo.environment["PRUNELAB_TOKEN"] ?? "").isEmpty {
            throw InvalidOption(option: "--token-file", reason: "give the server's token: export PRUNELAB_TOKEN or pass --token-file")
        }
        if let workerArgs { environment.append("PRUNELAB_WORKER_ARGS=\(workerArgs)") }
        // sbatch splits --export at commas: values holding one cannot travel this way.
        if let bad = environment.first(where: { $0.dropFirst().contains(",") }) {
            throw InvalidOption(option: "--export", reason: "a comma cannot travel in sbatch --export: \(bad)")
        }
        var arguments = ["--parsable", "--array=0-\(workers - 1)"]
        if let partition { arguments.append("--partition=\(partition)") }
        if let gres, gres != "none" { arguments.append("--gres=\(gres)") }
        if let time { arguments.append("--time=\(time)") }
        if let cpusPerTask { arguments.append("--cpus-per-task=\(cpusPerTask)") }
        arguments += sbatchOption
        arguments.append("--export=" + environment.joined(separator: ","))
        arguments.append(script)
        return arguments
    }

    func run() throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let arguments = try sbatchArguments(executable: executable)
        if dryRun {
            print(([sbatch] + arguments).map(Self.shellQuoted).joined(separator: " "))
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [sbatch] + arguments
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw InvalidOption(option: "--sbatch", reason: "cannot run \(sbatch): \(error)")
        }
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let line = complaint.split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
            if process.terminationStatus == 127 { throw InvalidOption(option: "--sbatch", reason: "\(sbatch) not found") }
            throw InvalidOption(option: "sbatch", reason: line)
        }
        // --parsable prints "jobid[;cluster]".
        let job = printed.split(separator: "\n").first.map { String($0.split(separator: ";")[0]) } ?? ""
        guard !job.isEmpty else { throw InvalidOption(option: "sbatch", reason: "printed no job id") }
        print(job)
        printError("prunelab: submitted \(workers) worker\(workers == 1 ? "" : "s") as Slurm job array \(job); "
                   + "stop them with: scancel \(job)")
    }

    static func shellQuoted(_ word: String) -> String {
        word.allSatisfy { $0.isLetter || $0.isNumber || "-_=/.:,@%+".contains($0) } ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
