import ArgumentParser
import DeviceChecks
import Foundation
import Tensors

/// `prunelab device-check`: the GPU-vs-CPU comparison suite on a real device.
struct DeviceCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device-check",
        abstract: "Compare a GPU backend with the CPU backend: every kernel, every layer forward/backward, LeNet-300-100 and VGG-16 training steps, VGG-16 effective masks.",
        discussion: """
            Each check runs the same random inputs through both backends and prints its worst normalised error \
            (max |gpu − cpu| / max |cpu|, or the relative L2 error for whole models) against its limit. Exits 1 if \
            any check fails.
            """)

    @OptionGroup var device: DeviceOptions
    @Option(help: "Only the checks whose name contains this text.")
    var filter: String?

    func run() throws {
        let chosen = try device.parsed()
        guard chosen != .cpu else { throw InvalidOption(option: "--device", reason: "compare a GPU with the CPU: give gpu or gpu:N") }
        let checks = DeviceChecks.all.filter { filter.map($0.name.contains) ?? true }
        guard !checks.isEmpty else { throw InvalidOption(option: "--filter", reason: "no check matches '\(filter ?? "")'") }
        let backend = try chosen.openBackend()
        print("device: \(backend.name)")
        print("reference: \(CPUBackend.shared.name)")
        var failed = 0
        for check in checks {
            let start = Date()
            let result = check.run(device: backend)
            print(result.description + String(format: " [%.2f s]", Date().timeIntervalSince(start)))
            if !result.passed { failed += 1 }
        }
        print("\(checks.count - failed) of \(checks.count) checks passed")
        if failed > 0 { throw ExitCode(1) }
    }
}
