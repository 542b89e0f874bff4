import Foundation
import Store
import Testing

/// Which config fields beyond the plotted ones a sweep varies, per run.
@Suite struct SweepVariantsTests {
    static func run(_ name: String, pruner: String, mode: String?, compression: Double?, seed: Int64, shuffle: Bool, iterations: Int) -> NewRun {
        let key = String(repeating: "0", count: 64 - name.count) + name
        var fields = ["\"architecture\": \"lenet300-100\"", "\"dataset\": \"mnist\"", "\"format\": 1", "\"pruner\": \"\(pruner)\"",
                      "\"seed\": \(seed)", "\"shuffle\": \(shuffle)",
                      "\"training\": {\"iterations\": \(iterations), \"learning_rate\": 0.1, \"lr_drops\": [5, 10]}"]
        if let mode { fields.append("\"mode\": \"\(mode)\"") }
        if let compression { fields.append("\"compression\": \(compression)") }
        return NewRun(key: key, config: "{" + fields.joined(separator: ", ") + "}", architecture: "lenet300-100", dataset: "mnist",
                      pruner: pruner, mode: mode, compression: compression, seed: seed, shuffle: shuffle)
    }

    @Test func namesOnlyTheFieldsThatDiffer() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let runs = [
            Self.run("d0", pruner: "dense", mode: nil, compression: nil, seed: 0, shuffle: false, iterations: 100),
            Self.run("a1", pruner: "snip", mode: "direct", compression: 10, seed: 0, shuffle: false, iterations: 100),
            Self.run("a2", pruner: "snip", mode: "effective", compression: 100, seed: 1, shuffle: true, iterations: 100),
            Self.run("a3", pruner: "snip", mode: "direct", compression: 10, seed: 0, shuffle: true, iterations: 400),
        ]
        let sweep = try store.submitSweep(name: "v", spec: "{}", runs: runs).id
        let variants = try store.runVariants(sweep: sweep)
        #expect(variants[runs[0].key] == "shuffle=false, training.iterations=100")
        #expect(variants[runs[1].key] == "shuffle=false, training.iterations=100")
        #expect(variants[runs[2].key] == "shuffle=true, training.iterations=100")
        #expect(variants[runs[3].key] == "shuffle=true, training.iterations=400")
        // A field that follows the plotted ones (LTH's rate follows the target when the rounds are
        // fixed) is no variant: each target would otherwise be a line of its own.
        let lth = [10.0, 100.0].map { compression in
            NewRun(key: String(repeating: compression == 10 ? "1" : "2", count: 64),
                   config: "{\"architecture\": \"lenet300-100\", \"dataset\": \"mnist\", \"format\": 1, \"pruner\": \"lth\", "
                       + "\"mode\": \"direct\", \"compression\": \(compression), \"seed\": 0, \"shuffle\": false, "
                       + "\"lth\": {\"rounds\": 5, \"rate\": \(compression == 10 ? 0.369 : 0.602)}}",
                   architecture: "lenet300-100", dataset: "mnist", pruner: "lth", mode: "direct", compression: compression, seed: 0, shuffle: false)
        }
        let derived = try store.submitSweep(name: "lth", spec: "{}", runs: lth).id
        #expect(try store.runVariants(sweep: derived).values.allSatisfy(\.isEmpty))
        // A sweep over the plotted fields alone (pruner, mode, compression, seed) varies nothing else.
        let plain = try store.submitSweep(name: "p", spec: "{}", runs: Array(runs.prefix(2))).id
        #expect(try store.runVariants(sweep: plain).values.allSatisfy(\.isEmpty))
    }
}
