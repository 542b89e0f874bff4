import Crypto
import Experiments
import Foundation
import NeuralNet
import Pruning
import Testing

func temporaryDirectory(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A LeNet-300-100 run on synthetic data, short enough for a debug build.
func smallConfig(pruner: String, compression: Double? = nil, mode: String = "direct", seed: Int = 0, iterations: Int = 24,
                 extra: String = "") throws -> RunConfig {
    var fields = ["\"architecture\": \"lenet300-100\"", "\"dataset\": \"synthetic\"", "\"pruner\": \"\(pruner)\"", "\"seed\": \(seed)",
                  "\"training\": {\"iterations\": \(iterations), \"batch_size\": 50, \"eval_every\": 8}"]
    if let compression { fields += ["\"compression\": \(compression)", "\"mode\": \"\(mode)\""] }
    if !extra.isEmpty { fields.append(extra) }
    return try RunConfig.parse(Data("{\(fields.joined(separator: ", "))}".utf8))
}

/// Records every event.
final class RecordingReporter: Reporter, @unchecked Sendable {
    var events: [RunEvent] = []
    func report(_ event: RunEvent) { events.append(event) }
    var startedKeys: [String] {
        events.compactMap { if case let .started(key, _) = $0 { return key } else { return nil } }
    }
}

@Suite struct RunExecutionTests {
    /// Stop after k steps, resume from the checkpoint, and compare the final state byte for byte
    /// with an uninterrupted run — for a dense run and a pruned one.
    @Test(arguments: [("dense", nil), ("random/erk", 20.0)] as [(String, Double?)])
    func resumeIsBitIdentical(pruner: String, compression: Double?) throws {
        let config = try smallConfig(pruner: pruner, compression: compression)
        let whole = try temporaryDirectory("whole"), split = try temporaryDirectory("split")
        defer { try? FileManager.default.removeItem(at: whole); try? FileManager.default.removeItem(at: split) }
        let uninterrupted = try RunStore(path: whole.path).execute(config, checkpointEvery: 5).result

        let store = try RunStore(path: split.path)
        #expect(throws: RunInterrupted.self) { try store.execute(config, stopAfter: (phase: 0, step: 13), checkpointEvery: 5) }
        let checkpointPath = store.folder(for: config.key).appendingPathComponent("checkpoint.bin").path
        #expect(try Checkpoint.read(path: checkpointPath).header.step == 13)
        #expect(store.result(for: config.key) == nil)
        let resumed = try store.execute(config, resume: true, checkpointEvery: 5).result
        #expect(resumed.resumedFromStep == 13)

        let a = try Checkpoint.read(path: RunStore(path: whole.path).folder(for: config.key).appendingPathComponent("final.bin").path)
        let b = try Checkpoint.read(path: store.folder(for: config.key).appendingPathComponent("final.bin").path)
        #expect(a.header.tensors == b.header.tensors)
        for (entry, (x, y)) in zip(a.header.tensors, zip(a.values, b.values)) {
            let differing = zip(x, y).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(x.count == y.count && differing == 0, "\(entry.name): \(differing) values differ")
        }
        #expect(a.header.metrics == b.header.metrics, "metrics continue seamlessly after the resume")
        #expect(uninterrupted.testAccuracy == resumed.testAccuracy && uninterrupted.testLoss == resumed.testLoss)
        #expect(uninterrupted.trainLoss == resumed.trainLoss)
        // A resumed run does not prune again: the quotas come from the checkpoint (the chaos soak,
        // scripts/test-chaos, found resumed runs reporting none).
        #expect(uninterrupted.layers == resumed.layers, "the per-layer table, quotas included, survives the resume")
    }

    /// Checkpoints come by time: a run that ends before `checkpointInterval` writes none, only its
    /// final state; a stop still writes one, and resuming from it ends bit-identical to the
    /// uninterrupted run. At interval 0 every `checkpointEvery` point writes one.
    @Test func checkpointsComeByTimeAndOnStop() throws {
        let config = try smallConfig(pruner: "random/erk", compression: 20)
        func checkpointSteps(_ reporter: RecordingReporter) -> [Int] {
            reporter.events.compactMap { if case let .checkpoint(step, _, _, _) = $0 { step } else { nil } }
        }
        let folder = try temporaryDirectory("cadence")
        defer { try? FileManager.default.removeItem(at: folder) }
        func files(_ name: String) -> RunFiles {
            RunFiles(checkpoint: folder.appendingPathComponent("\(name).checkpoint").path, final: folder.appendingPathComponent("\(name).final").path)
        }
        let quiet = RecordingReporter()
        let whole = try RunExecutor(config: config, reporter: quiet, files: files("whole"))
        whole.checkpointInterval = 3600
        let uninterrupted = try whole.run()
        #expect(checkpointSteps(quiet).isEmpty, "a run shorter than the interval writes no checkpoint")
        #expect(!FileManager.default.fileExists(atPath: files("whole").checkpoint!))
        #expect(whole.profile.checkpoints == 0 && whole.profile.training > 0 && whole.profile.evaluation > 0)

        let everyPoint = RecordingReporter()
        let eager = try RunExecutor(config: config, reporter: everyPoint, files: files("eager"), checkpointEvery: 5)
        _ = try eager.run()
        #expect(checkpointSteps(everyPoint) == [5, 10, 15, 20], "interval 0: every 5 steps but the last")

        let stopped = RecordingReporter()
        let first = try RunExecutor(config: config, reporter: stopped, files: files("split"))
        first.checkpointInterval = 3600
        first.stop(after: 13, of: 0)
        #expect(throws: RunInterrupted.self) { try first.run() }
        #expect(checkpointSteps(stopped) == [13], "a stop writes its checkpoint whatever the interval")
        let checkpoint = try Checkpoint.read(path: files("split").checkpoint!)
        let resumed = try RunExecutor(config: config, files: files("split")).run(resume: checkpoint)
        #expect(resumed.resumedFromStep == 13 && resumed.testLoss == uninterrupted.testLoss)
        let a = try Checkpoint.read(path: files("whole").final!), b = try Checkpoint.read(path: files("split").final!)
        for (entry, (x, y)) in zip(a.header.tensors, zip(a.values, b.values)) {
            #expect(zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }, "\(entry.name) differs after the resume")
        }
    }

    /// A worker may stop between uploading a run's final state and finishing the run; the next one
    /// resumes from that state, trains no step, and must report the figures of the uninterrupted run.
    @Test(arguments: [("dense", nil), ("random/erk", 20.0)] as [(String, Double?)])
    func resumingFromTheFinalStateReportsTheSameFigures(pruner: String, compression: Double?) throws {
        let config = try smallConfig(pruner: pruner, compression: compression)
        let folder = try temporaryDirectory("final")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try RunStore(path: folder.path)
        let uninterrupted = try store.execute(config, checkpointEvery: 5).result
        let final = try Checkpoint.read(path: store.folder(for: config.key).appendingPathComponent("final.bin").path)
        let resumed = try RunExecutor(config: config).run(resume: final)
        #expect(resumed.resumedFromStep == config.training.iterations)
        #expect(resumed.trainLoss == uninterrupted.trainLoss && resumed.trainAccuracy == uninterrupted.trainAccuracy)
        #expect(resumed.testLoss == uninterrupted.testLoss && resumed.testAccuracy == uninterrupted.testAccuracy)
        #expect(resumed.layers == uninterrupted.layers)
    }

    /// Quotas come from a file some worker uploaded: one that does not fit the network is refused.
    @Test func aCheckpointsQuotasMustFitTheNetwork() throws {
        let config = try smallConfig(pruner: "random/erk", compression: 20)
        let folder = try temporaryDirectory("quotas")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try RunStore(path: folder.path)
        _ = try store.execute(config, checkpointEvery: 5)
        var final = try Checkpoint.read(path: store.folder(for: config.key).appendingPathComponent("final.bin").path)
        #expect(final.header.quotas?.count == 3, "LeNet-300-100's three layers each have their ERK quota")
        for bad: [Double] in [[0.5], [0.1, .nan, 0.3], [0.1, -1, 0.3], [0.1, .infinity, 0.3]] {
            final.header.quotas = bad
            #expect(throws: ExperimentsError.self) { try RunExecutor(config: config).run(resume: final) }
        }
    }

    /// A magnitude run needs the trained dense parent: the first one trains it, the second (another
    /// target) reuses it, and running the same config again reuses the finished run.
    @Test func parentTrainsOnceAndFinishedRunsAreReused() throws {
        let directory = try temporaryDirectory("parent")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try RunStore(path: directory.path)
        let magnitude = try smallConfig(pruner: "magnitude/global", compression: 10)
        let parentKey = try #require(magnitude.parent()).key
        let first = RecordingReporter()
        let (result, reused) = try store.execute(magnitude, reporter: first)
        #expect(!reused && result.parentKey == parentKey)
        #expect(first.startedKeys == [parentKey, magnitude.key])
        #expect(store.result(for: parentKey) != nil)

        let second = RecordingReporter()
        let lamp = try smallConfig(pruner: "lamp", compression: 30)
        _ = try store.execute(lamp, reporter: second)
        #expect(second.startedKeys == [lamp.key], "the dense parent must not train again")

        let again = RecordingReporter()
        let (same, wasReused) = try store.execute(magnitude, reporter: again)
        #expect(wasReused && same == result && again.startedKeys.isEmpty)
    }

    /// Magnitude pruning ranks the parent's *trained* weights and trains from the parent's
    /// initialisation: the pruned run's masks differ from magnitude pruning at initialisation.
    @Test func magnitudePrunesTrainedWeightsAndRewindsToInit() throws {
        let directory = try temporaryDirectory("rewind")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try RunStore(path: directory.path)
        let config = try smallConfig(pruner: "magnitude/global", compression: 10)
        _ = try store.execute(config)
        let masks = try MaskFile.read(path: store.folder(for: config.key).appendingPathComponent("masks.npz").path,
                                      network: try ModelZoo.make("lenet300-100"))
        let network = try ModelZoo.make("lenet300-100")
        network.initialize(seed: 0)
        let atInit = try Pruner("magnitude/global").prune(network, options: PruningOptions(compression: 10)).masks
        #expect(masks.map(\.array) != atInit.map(\.array))
    }

    /// Every pruner, end to end, on LeNet-300-100 with synthetic data.
    @Test(arguments: PrunerName.allNames + ["lth"])
    func everyPrunerRunsEndToEnd(pruner: String) throws {
        let directory = try temporaryDirectory("pruner")
        defer { try? FileManager.default.removeItem(at: directory) }
        let compression: Double? = pruner == "dense" ? nil : (pruner.hasSuffix("uniform+") ? 1.1 : 20)
        let extra = pruner == "lth" ? "\"lth\": {\"rate\": 0.8}" : (pruner.contains("synflow") || pruner == "snip/iterative"
            ? "\"synflow\": {\"rounds\": 5}, \"snip\": {\"rounds\": 5}" : "")
        let config = try smallConfig(pruner: pruner, compression: compression, iterations: 12, extra: extra)
        let reporter = RecordingReporter()
        let result = try RunStore(path: directory.path).execute(config, reporter: reporter).result
        #expect(result.testAccuracy.isFinite && result.testAccuracy >= 0 && result.testAccuracy <= 1)
        if let compression {
            #expect(abs(result.directCompression - compression) / compression < 0.01, "\(pruner): \(result.directCompression)")
        } else {
            #expect(result.kept == result.total)
        }
        #expect(result.effective <= result.kept)
        #expect(reporter.events.contains { if case .finished = $0 { true } else { false } })
    }

    /// A run that fails before training (here: no dataset files) leaves no folder behind.
    @Test func failedRunLeavesNoHalfWrittenFolder() throws {
        let directory = try temporaryDirectory("failed")
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("no-data")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let config = try RunConfig.parse(Data("""
            {"architecture": "lenet300-100", "dataset": "mnist", "data_dir": "\(empty.path)", "pruner": "random/erk",
             "compression": 10, "training": {"iterations": 5, "batch_size": 10}}
            """.utf8))
        let runs = directory.appendingPathComponent("runs")
        let store = try RunStore(path: runs.path)
        #expect(throws: (any Error).self) { try store.execute(config) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: runs.path).isEmpty)
    }

    @Test func effectiveModeRunReachesItsEffectiveTarget() throws {
        let directory = try temporaryDirectory("effective")
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = try smallConfig(pruner: "random/igq", compression: 100, mode: "effective", iterations: 8)
        let result = try RunStore(path: directory.path).execute(config).result
        #expect(result.effectiveCompression <= 100 && result.effectiveCompression > 90)
        #expect(result.directCompression < result.effectiveCompression)
        let files = try FileManager.default.contentsOfDirectory(atPath: RunStore(path: directory.path).folder(for: config.key).path)
        for name in ["config.json", "masks.npz", "metrics.jsonl", "final.bin", "result.json"] {
            #expect(files.contains(name), "\(name) missing: \(files)")
        }
        #expect(!files.contains("checkpoint.bin"), "a finished run drops its resume checkpoint")
    }
}

@Suite struct CheckpointTests {
    func sample() throws -> (Checkpoint, Network, SGD) {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 3)
        let optimizer = SGD(learningRate: 0.1, momentum: 0.9)
        let masks = try Pruner("random/uniform").prune(network, options: PruningOptions(compression: 5)).masks
        for (p, m) in zip(network.prunableParameters, masks) { p.setMask(m) }
        return (Checkpoint(runKey: "abc", network: network, optimizer: optimizer, step: 7, phase: 0), network, optimizer)
    }

    @Test func roundTripRestoresEveryTensor() throws {
        let (checkpoint, network, optimizer) = try sample()
        let decoded = try Checkpoint(decoding: try checkpoint.encoded(), path: "x")
        #expect(decoded == checkpoint)
        let fresh = try ModelZoo.make("lenet5")
        let freshOptimizer = SGD(learningRate: 0.1, momentum: 0.9)
        try decoded.restore(into: fresh, optimizer: freshOptimizer, runKey: "abc", path: "x")
        #expect(fresh.parameters.map(\.value.array) == network.parameters.map(\.value.array))
        #expect(fresh.prunableParameters.map { $0.mask?.array } == network.prunableParameters.map { $0.mask?.array })
        _ = optimizer
    }

    /// The streaming writer (tensor by tensor, no copy of the state) writes exactly what `encoded()`
    /// does, reports the file's SHA-256, and the stream check accepts it in chunks of any size
    /// while refusing the same bytes cut short, flipped, or for another run or step.
    @Test func streamedCheckpointsAreTheEncodedBytesAndPassTheStreamCheck() throws {
        let (checkpoint, network, optimizer) = try sample()
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-ckpt-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let written = try Checkpoint.write(runKey: "abc", network: network, optimizer: optimizer, step: 7, phase: 0, to: path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(bytes == (try checkpoint.encoded()))
        #expect(written.bytes == bytes.count && written.sha256 == Array(SHA256.hash(data: bytes)).hexString)
        let config = try RunConfig.parse(Data(#"{"architecture": "lenet5", "dataset": "cifar10", "pruner": "random/uniform", "compression": 5, "training": {"iterations": 10}}"#.utf8))
        let layout = try RunLayout.of(config)
        #expect(layout.checkpointTensors == checkpoint.header.tensors && layout.layers.map(\.name) == network.prunableLayerNames)
        func check(_ data: Data, run: String = "abc", step: Int = 7, chunk: Int) throws {
            var stream = Checkpoint.StreamCheck(runKey: run, phase: 0, step: step, layout: layout)
            for start in stride(from: 0, to: data.count, by: chunk) {
                try data[start..<min(start + chunk, data.count)].withUnsafeBytes { try stream.consume($0) }
            }
            try stream.finish()
        }
        for chunk in [1 << 20, 4096, 31] { try check(bytes, chunk: chunk) }
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        #expect(throws: Checkpoint.StreamCheck.Refusal.self) { try check(flipped, chunk: 65536) }
        #expect(throws: Checkpoint.StreamCheck.Refusal.self) { try check(bytes.prefix(bytes.count - 1), chunk: 65536) }
        #expect(throws: Checkpoint.StreamCheck.Refusal.self) { try check(bytes + Data([0]), chunk: 65536) }
        #expect(throws: Checkpoint.StreamCheck.Refusal.self) { try check(bytes, run: "abd", chunk: 65536) }
        #expect(throws: Checkpoint.StreamCheck.Refusal.self) { try check(bytes, step: 8, chunk: 65536) }
    }

    @Test func corruptMismatchedOrForeignCheckpointsAreRefused() throws {
        let (checkpoint, _, _) = try sample()
        let bytes = try checkpoint.encoded()
        var flipped = bytes
        flipped[bytes.count / 2] ^= 0x40
        #expect(throws: ExperimentsError.self) { try Checkpoint(decoding: flipped, path: "x") }
        #expect(throws: ExperimentsError.self) { try Checkpoint(decoding: bytes.prefix(bytes.count - 100), path: "x") }
        var magic = bytes
        magic[0] = 0x51
        #expect(throws: ExperimentsError.self) { try Checkpoint(decoding: magic, path: "x") }
        var version = bytes
        version[8] = 2
        #expect(throws: ExperimentsError.self) { try Checkpoint(decoding: version, path: "x") }
        let decoded = try Checkpoint(decoding: bytes, path: "x")
        #expect(throws: ExperimentsError.self) {
            try decoded.restore(into: try ModelZoo.make("lenet5"), optimizer: SGD(learningRate: 0.1), runKey: "other", path: "x")
        }
        #expect(throws: ExperimentsError.self) {
            try decoded.restore(into: try ModelZoo.make("lenet300-100"), optimizer: SGD(learningRate: 0.1), runKey: "abc", path: "x")
        }
    }
}
