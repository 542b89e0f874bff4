import Datasets
import Figures
import FileSupport
import Foundation
import NeuralNet
import Pruning
import Tensors
#if canImport(Glibc)
import Glibc
#endif

/// Where a run keeps its files; nil paths keep everything in memory (tests, dry runs).
public struct RunFiles: Sendable {
    public var checkpoint: String?
    public var masks: String?
    /// The effective masks of `masks` (same layout).
    public var effectiveMasks: String?
    public var metrics: String?
    /// The final state (weights, masks, BN statistics), which child runs prune from.
    public var final: String?

    public init(checkpoint: String? = nil, masks: String? = nil, effectiveMasks: String? = nil, metrics: String? = nil,
                final: String? = nil) {
        self.checkpoint = checkpoint
        self.masks = masks
        self.effectiveMasks = effectiveMasks
        self.metrics = metrics
        self.final = final
    }
}

/// What a run is asked to do when it asks whether to stop (`RunExecutor.stop`).
public enum StopRequest: Sendable {
    /// Stop at once and leave nothing: the work is no longer this run's (a worker lost its lease).
    case abandon
    /// Checkpoint the steps done since the last checkpoint and stop, leaving no work behind (a
    /// worker told to stop, `prunelab run --stop-after`).
    case checkpointAndStop
}

/// The run was stopped on request (`RunExecutor.stop`) at
/// `step` of `phase`: with a checkpoint of that step when one was asked for and the run had
/// trained since pruning; a stop while pruning leaves nothing (pruning starts again on resume).
public struct RunInterrupted: Error, CustomStringConvertible {
    public let step: Int
    public let phase: Int
    /// What the run was doing: "training", "pruning: round 17 of 100", "evaluation after step 40: batch 3 of 10".
    public var during = "training"
    public var description: String { "run stopped at step \(step) of phase \(phase) during \(during); continue with --resume" }
}

/// Executes one run: seed → initialise → prune (direct or effective target, optional shuffle) →
/// train with masks, evaluating periodically and checkpointing → final evaluation.
///
/// Magnitude and LAMP prune the trained weights of the dense parent (`parent`) and train the
/// subnetwork from the shared initialisation (rewinding to init, as the paper does). `lth` is
/// iterative magnitude pruning: the parent's training is round one; each round prunes `lth.rate`
/// of the survivors by global magnitude, rewinds to init and trains again; the last round prunes
/// to the target exactly (direct or effective).
/// Used by one thread at a time (a worker hands it to the thread that trains).
public final class RunExecutor: @unchecked Sendable {
    public let config: RunConfig
    public let key: String
    private let reporter: any Reporter
    private let files: RunFiles
    private let parent: Checkpoint?
    /// Steps between the points where a checkpoint may be written; nil: every step when
    /// `checkpointInterval` is set (checkpoints by time alone), every evaluation when it is 0.
    public var checkpointEvery: Int?
    /// Seconds that must pass since the last checkpoint (or the start) before the next one is
    /// written at a `checkpointEvery` point: a VGG-16 checkpoint is 180 MB, and a short run need
    /// not write any. Stopping on request always writes one, and the end of the run writes the
    /// final state. 0: at every point.
    public var checkpointInterval: Double = 0
    /// The one stop hook: asked before every training step with the run's phase and the steps
    /// done in it, and inside pruning and evaluation (every round, effective-target probe, scoring and
    /// evaluation batch) with no step count; nil lets the run go on. A stop while pruning or
    /// evaluating comes within one round or batch (seconds on VGG-16) and throws
    /// `RunInterrupted`; `.checkpointAndStop` first checkpoints what was trained since the last
    /// checkpoint (reported like the periodic ones).
    public var stop: (@Sendable (_ phase: Int, _ stepsDone: Int?) -> StopRequest?)?

    /// Stops with a checkpoint once `step` steps of `phase` are done.
    public func stop(after step: Int, of phase: Int) {
        stop = { $0 == phase && $1 == step ? .checkpointAndStop : nil }
    }

    private var metrics: [MetricRecord] = []
    private let backend: any Backend
    /// Where the last `run` spent its wall time.
    public private(set) var profile = RunProfile()

    /// Runs `body`, adding its wall time to `phase` of the profile (also when it throws).
    private func timed<T>(_ phase: WritableKeyPath<RunProfile, Double>, _ body: () throws -> T) rethrows -> T {
        let start = monotonicSeconds()
        defer { profile[keyPath: phase] += monotonicSeconds() - start }
        return try body()
    }

    /// The stop hook as the long loops of pruning and evaluation of `phase` ask it.
    private func stopCheck(phase: Int) -> StopCheck {
        guard let stop else { return .never }
        return StopCheck { stop(phase, nil) != nil }
    }

    /// Whether a stop that interrupted pruning or an evaluation of `phase` wants a checkpoint.
    private func wantsCheckpoint(phase: Int) -> Bool { stop?(phase, nil) == .checkpointAndStop }

    /// `backend`: where the network computes (the CPU, or a GPU backend the caller opened).
    public init(config: RunConfig, reporter: any Reporter = SilentReporter(), files: RunFiles = RunFiles(), parent: Checkpoint? = nil,
                checkpointEvery: Int? = nil, backend: any Backend = CPUBackend.shared) throws {
        self.backend = backend
        self.config = config
        key = config.key
        self.reporter = reporter
        self.files = files
        self.parent = parent
        self.checkpointEvery = checkpointEvery.map { max(1, $0) }
        if config.pruner.needsParent, parent == nil {
            throw ExperimentsError.missingParent(key: config.parent()?.key ?? "?", reason: "\(config.pruner) needs the trained dense parent")
        }
    }

    /// Runs to the end, resuming from `resume` when given (a checkpoint of this run). `splits`:
    /// the run's data when the caller has loaded it already (`RunData.load` of the config's).
    public func run(resume: Checkpoint? = nil, splits loaded: DatasetSplits? = nil) throws -> RunResult {
        let wallStart = monotonicSeconds()
        profile = RunProfile()
        defer { profile.wall = monotonicSeconds() - wallStart }
        let splits = try timed(\.data) {
            try loaded ?? RunData.load(dataset: config.dataset, architecture: config.architecture, directory: config.dataDirectory)
        }
        reporter.report(.started(key: key, config: config))
        let (network, effective) = try timed(\.network) {
            let network = try Architecture.resolve(config.architecture).make(inputShape: splits.train.sampleShape,
                                                                             classes: splits.train.classes, backend: backend)
            network.initialize(seed: config.seed)
            return (network, try EffectiveMasks(network: network))
        }
        let rounds = config.pruner == .lth ? config.pruner.phases(config.settings) : 0
        var phase = config.pruner == .lth ? 1 : 0
        var startStep = 0
        var report: SparsityReport
        var quotas: [Double]?
        var optimizer = makeOptimizer()
        var totalSteps = 0

        if let resume {
            // Masks, weights, statistics and momentum come back exactly; pruning is not redone.
            try resume.restore(into: network, optimizer: optimizer, runKey: key, path: files.checkpoint ?? "checkpoint")
            phase = resume.header.phase
            startStep = resume.header.step
            metrics = resume.header.metrics ?? []
            if let stored = resume.header.quotas {
                // From a file a worker uploaded: one density a prunable layer, or nothing is believed.
                let layers = network.prunableParameters.count
                guard stored.count == layers, stored.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                    throw ExperimentsError.badCheckpoint(path: files.checkpoint ?? "checkpoint",
                                                         reason: "quotas \(stored.prefix(4)) do not fit \(layers) prunable layers")
                }
                quotas = stored
            }
            report = try effective.report(effective.networkMasks)
            reporter.report(.stage("resuming phase \(phase) at step \(startStep)"))
            totalSteps = (phase > 1 ? (phase - 1) * config.training.iterations : 0)
        } else {
            reporter.report(.stage("pruning"))
            do {
                (report, quotas) = try timed(\.pruning) { try prune(network, splits: splits, effective: effective, round: phase, of: rounds) }
            } catch let stopped as ComputationStopped {
                // Nothing trained yet: the next attempt prunes again from the seed.
                throw RunInterrupted(step: 0, phase: phase, during: stopped.within("pruning").place)
            }
        }
        var resumedFrom: Int? = resume.map { $0.header.step }
        var outcome: TrainingOutcome
        while true {
            try timed(\.masks) { try announceMasks(network, effective: effective, quotas: quotas) }
            reporter.report(.stage(phase == 0 ? "training" : "lottery-ticket round \(phase) of \(rounds): training"))
            outcome = try train(network, optimizer: optimizer, splits: splits, phase: phase, from: startStep,
                                window: resumedFrom != nil ? resume?.header.trainWindow : nil, quotas: quotas)
            totalSteps += config.training.iterations
            guard config.pruner == .lth, phase < rounds else { break }
            // Next lottery-ticket round: prune the trained weights, rewind to init, train again.
            phase += 1
            startStep = 0
            resumedFrom = nil
            reporter.report(.stage("lottery-ticket round \(phase) of \(rounds): pruning"))
            do {
                (report, quotas) = try timed(\.pruning) { try prune(network, splits: splits, effective: effective, round: phase, of: rounds) }
            } catch let stopped as ComputationStopped {
                // The pruner left the network as trained: keep the finished round, so that the
                // resumed run starts this round's pruning instead of retraining the last one.
                let iterations = config.training.iterations
                if wantsCheckpoint(phase: phase) {
                    try saveCheckpoint(network, optimizer: optimizer, step: iterations, phase: phase - 1, trainWindow: nil, quotas: quotas)
                }
                throw RunInterrupted(step: iterations, phase: phase - 1,
                                     during: stopped.within("lottery-ticket round \(phase) of \(rounds): pruning").place)
            }
            optimizer = makeOptimizer()
        }
        if let final = files.final {
            try timed(\.finalState) {
            _ = try Checkpoint.write(runKey: key, network: network, optimizer: optimizer, step: config.training.iterations, phase: phase,
                                 metrics: metrics, quotas: quotas, to: final)
            }
        }
        let figures = RunFigures(
            testAccuracy: outcome.test.accuracy, testLoss: outcome.test.loss, trainLoss: outcome.trainLoss,
            trainAccuracy: outcome.trainAccuracy, layers: report.withQuotas(quotas).layers,
            steps: config.training.iterations, totalSteps: totalSteps, trainingSeconds: outcome.seconds,
            wallSeconds: monotonicSeconds() - wallStart,
            imagesPerSecond: outcome.seconds > 0 ? Double(outcome.images) / outcome.seconds : 0, resumedFromStep: resumedFrom)
        let result = RunResult(key: key, config: config, parentKey: config.parent()?.key, figures: figures)
        reporter.report(.finished(result))
        return result
    }

    /// Whether the run checkpoints at all: into its checkpoint file, or as bytes to a reporter
    /// that takes them.
    private var checkpoints: Bool { files.checkpoint != nil || reporter.takesCheckpoints }

    /// Checkpoints after `step` steps of `phase`: into the run's file (straight from the tensors)
    /// and, when the reporter takes them, as bytes; nothing when the run has neither.
    private func saveCheckpoint(_ network: Network, optimizer: SGD, step: Int, phase: Int, trainWindow: [Double]?,
                                quotas: [Double]?) throws {
        try timed(\.checkpoints) { try writeCheckpoint(network, optimizer: optimizer, step: step, phase: phase, trainWindow: trainWindow,
                                                     quotas: quotas) }
    }

    private func writeCheckpoint(_ network: Network, optimizer: SGD, step: Int, phase: Int, trainWindow: [Double]?,
                                 quotas: [Double]?) throws {
        if reporter.takesCheckpoints {
            let (data, sha256) = try Checkpoint.encode(runKey: key, network: network, optimizer: optimizer, step: step, phase: phase,
                                                       metrics: metrics, trainWindow: trainWindow, quotas: quotas)
            if let path = files.checkpoint {
                do { try AtomicFile.write(data, to: path) } catch {
                    throw ExperimentsError.runDirectory(path: path, reason: "cannot write checkpoint: \(error)")
                }
            }
            reporter.report(.checkpoint(step: step, phase: phase, sha256: sha256, bytes: data))
        } else if let path = files.checkpoint {
            let written = try Checkpoint.write(runKey: key, network: network, optimizer: optimizer, step: step, phase: phase,
                                               metrics: metrics, trainWindow: trainWindow, quotas: quotas, to: path)
            reporter.report(.checkpoint(step: step, phase: phase, sha256: written.sha256, bytes: nil))
        }
    }

    private func makeOptimizer() -> SGD {
        SGD(learningRate: Float(config.training.learningRate), momentum: Float(config.training.momentum),
            weightDecay: Float(config.training.weightDecay), backend: backend)
    }

    // MARK: - Pruning

    /// Prunes `network` for the run (or for lottery-ticket round `round` of `rounds`), rewinds the
    /// weights to the initialisation and sets the masks. Returns the masks' figures.
    private func prune(_ network: Network, splits: DatasetSplits, effective: EffectiveMasks, round: Int, of rounds: Int) throws
        -> (SparsityReport, [Double]?) {
        guard !config.pruner.isDense else { return (try effective.report(effective.networkMasks), nil) }
        let seed = config.seed
        let mode = PruningMode(rawValue: config.mode ?? "direct") ?? .direct
        let target = config.compression ?? 1
        let pruner = config.pruner.scoring
        var options = PruningOptions(compression: target, mode: mode, seed: seed, shuffle: config.shuffle,
                                     rounds: config.settings.synflowRounds ?? config.settings.snipRounds ?? 100,
                                     stop: stopCheck(phase: round))
        if config.pruner == .lth {
            // Trained weights to rank: the parent's for round 1 (its training is the dense round),
            // the network's own (just trained) afterwards; earlier masks stay in force.
            if round == 1 { try loadParentWeights(into: network) }
            if round < rounds {
                let survivors = network.prunableParameters.reduce(0) { $0 + $1.keptCount }
                let kept = Int((Double(survivors) * (1 - (config.settings.lthRate ?? 0.2))).rounded())
                options = PruningOptions(compression: Double(network.prunableParameterCount) / Double(max(kept, 1)), mode: .direct,
                                         seed: seed, shuffle: false, stop: stopCheck(phase: round))
            } else {
                options.shuffle = config.shuffle
            }
        } else if pruner.needsTrainedWeights {
            try loadParentWeights(into: network)
        }
        var batches: [ScoringBatch] = []
        if pruner.needsData {
            // Only the pruner's own group is set: grasp's or snip's batches.
            let count = config.settings.graspBatches ?? config.settings.snipBatches ?? 1
            batches = RunData.scoringBatches(splits.train, samples: count * config.training.batchSize,
                                             batchSize: config.training.batchSize, seed: seed)
        }
        let outcome = try pruner.prune(network, options: options, batches: batches, effectiveMasks: effective)
        // Rewind: the subnetwork trains from the initialisation the dense parent started from.
        for parameter in network.prunableParameters { parameter.mask = nil }
        network.initialize(seed: seed)
        for (parameter, mask) in zip(network.prunableParameters, outcome.masks) { parameter.setMask(mask, backend: backend) }
        return (outcome.report, outcome.quotaDensities)
    }

    private func loadParentWeights(into network: Network) throws {
        guard let parent else { throw ExperimentsError.missingParent(key: config.parent()?.key ?? "?", reason: "not trained") }
        let weights = parent.prunableWeights(of: network)
        guard weights.map(\.shape) == network.prunableParameters.map(\.shape) else {
            throw ExperimentsError.missingParent(key: parent.header.runKey, reason: "its weights do not fit \(network.name)")
        }
        for (parameter, value) in zip(network.prunableParameters, weights) {
            parameter.value.copy(from: value)
            if let mask = parameter.mask { backend.applyMask(mask, to: parameter.value) }
        }
    }

    /// Tells the reporter (and the run's files) which masks the coming training uses, with their
    /// effective masks (cheap: one forward and one backward pass at batch 1).
    private func announceMasks(_ network: Network, effective: EffectiveMasks, quotas: [Double]?) throws {
        let masks = network.prunableParameters.map { parameter -> Tensor in
            if let mask = parameter.mask { return mask }
            let ones = Tensor(shape: parameter.shape)
            ones.fill(1)
            return ones
        }
        let (effectiveMasks, report) = try effective.compute(masks)
        if let path = files.masks { try? MaskFile.write(masks, network: network, to: path) }
        if let path = files.effectiveMasks { try? MaskFile.write(effectiveMasks, network: network, to: path) }
        reporter.report(.masks(masks: masks, effectiveMasks: effectiveMasks, report: report.withQuotas(quotas)))
    }

    // MARK: - Training

    struct TrainingOutcome {
        var test: (loss: Double, accuracy: Double)
        var trainLoss: Double
        var trainAccuracy: Double
        var seconds: Double
        var images: Int
    }

    /// Trains `phase` from `start` to `training.iterations` steps. Step s (0-based) uses batch
    /// s mod B of epoch s / B + 1, whose order and augmentation depend only on (seed, epoch, batch),
    /// and the learning rate of iteration s + 1; so resuming at any step replays exactly.
    private func train(_ network: Network, optimizer: SGD, splits: DatasetSplits, phase: Int, from start: Int,
                       window: [Double]?, quotas: [Double]?) throws -> TrainingOutcome {
        let setup = config.training
        let steps = try TrainingSteps(network: network, optimizer: optimizer, splits: splits, setup: setup, seed: config.seed)
        var windowLoss = 0.0, windowCorrect = 0, windowImages = 0, windowStart = monotonicSeconds()
        if let window, Checkpoint.validWindow(window) { (windowLoss, windowCorrect, windowImages) = (window[0], Int(window[1]), Int(window[2])) }
        var lastTrain = (loss: 0.0, accuracy: 0.0)
        var seconds = 0.0, trained = 0
        var test = (loss: Double.nan, accuracy: Double.nan)
        let stop = stopCheck(phase: phase)
        var lastCheckpoint = start, lastCheckpointTime = monotonicSeconds()
        let checkpointSpacing = checkpointEvery ?? (checkpointInterval > 0 ? 1 : setup.evalEvery)
        /// The evaluation after step `done` (the window's train figures, the test split), recorded as metrics.
        func evaluateAndRecord(after done: Int) throws {
            lastTrain = (windowLoss / Double(windowImages), Double(windowCorrect) / Double(windowImages))
            let rate = Double(windowImages) / (monotonicSeconds() - windowStart)
            do {
                test = try evaluate(network, splits: splits, batchSize: setup.batchSize, stop: stop)
            } catch let stopped as ComputationStopped {
                // The steps are done, their evaluation is not: the checkpoint keeps the window,
                // and the resumed run evaluates first (below), so no metric goes missing.
                if wantsCheckpoint(phase: phase), done != lastCheckpoint {
                    try saveCheckpoint(network, optimizer: optimizer, step: done, phase: phase,
                                       trainWindow: [windowLoss, Double(windowCorrect), Double(windowImages)], quotas: quotas)
                }
                throw RunInterrupted(step: done, phase: phase, during: stopped.within("evaluation after step \(done)").place)
            }
            reporter.report(.progress(RunProgress(step: done, steps: setup.iterations, phase: phase,
                                                  learningRate: Double(optimizer.learningRate), loss: lastTrain.loss,
                                                  accuracy: lastTrain.accuracy,
                                                  imagesPerSecond: rate)))
            for (name, value) in [("train_loss", lastTrain.loss), ("train_accuracy", lastTrain.accuracy),
                                  ("test_loss", test.loss), ("test_accuracy", test.accuracy)] {
                let record = MetricRecord(phase: phase, step: done, name: name, value: value)
                metrics.append(record)
                reporter.report(.metric(record))
            }
            writeMetrics()
            windowLoss = 0; windowCorrect = 0; windowImages = 0; windowStart = monotonicSeconds()
        }
        let isBoundary = { (done: Int) in done % setup.evalEvery == 0 || done == setup.iterations }
        let evaluated = { (done: Int) in self.metrics.contains { $0.phase == phase && $0.step == done && $0.name == "test_accuracy" } }
        if start > 0, isBoundary(start), !evaluated(start) {
            // A checkpoint written when a stop interrupted this evaluation.
            try evaluateAndRecord(after: start)
        } else if start >= setup.iterations {
            do { test = try evaluate(network, splits: splits, batchSize: setup.batchSize, stop: stop) } catch let stopped as ComputationStopped {
                throw RunInterrupted(step: start, phase: phase, during: stopped.within("final evaluation").place)
            }
            // Resumed from the final state (a worker stopped between uploading it and finishing): the
            // training figures of the last evaluation are among the metrics it carries.
            func last(_ name: String) -> Double? {
                metrics.last { $0.phase == phase && $0.step == setup.iterations && $0.name == name }?.value
            }
            if let loss = last("train_loss"), let accuracy = last("train_accuracy") { lastTrain = (loss, accuracy) }
        }
        for step in start..<max(start, setup.iterations) {
            switch self.stop?(phase, step) {
            case .checkpointAndStop?:
                // At the last checkpoint (or the resume point) the checkpoint exists already.
                if step > start, step != lastCheckpoint {
                    try saveCheckpoint(network, optimizer: optimizer, step: step, phase: phase,
                                       trainWindow: [windowLoss, Double(windowCorrect), Double(windowImages)], quotas: quotas)
                }
                throw RunInterrupted(step: step, phase: phase)
            case .abandon?: throw RunInterrupted(step: step, phase: phase)
            case nil: break
            }
            let stepStart = monotonicSeconds()
            let result = try steps.run(step: step)
            let stepSeconds = monotonicSeconds() - stepStart
            seconds += stepSeconds
            profile.training += stepSeconds
            trained += setup.batchSize
            windowLoss += result.lossSum
            windowCorrect += result.correct
            windowImages += setup.batchSize
            let done = step + 1
            let isLast = done == setup.iterations
            if isBoundary(done) { try evaluateAndRecord(after: done) }
            let due = done % checkpointSpacing == 0 && monotonicSeconds() - lastCheckpointTime >= checkpointInterval
            if !isLast, due, checkpoints {
                lastCheckpoint = done
                lastCheckpointTime = monotonicSeconds()
                try saveCheckpoint(network, optimizer: optimizer, step: done, phase: phase,
                                   trainWindow: [windowLoss, Double(windowCorrect), Double(windowImages)], quotas: quotas)
            }
        }
        return TrainingOutcome(test: test, trainLoss: lastTrain.loss, trainAccuracy: lastTrain.accuracy, seconds: seconds, images: trained)
    }

    /// The test split's loader and batch buffers, made at the first evaluation and reused by the
    /// rest (its order never changes: no shuffling, no augmentation).
    private final class TestBatches {
        let loader: BatchLoader
        let images: Tensor
        var labels: [Int32]

        init(_ test: Dataset, batchSize: Int) {
            loader = BatchLoader(dataset: test, batchSize: batchSize, shuffle: false, augmentation: .none, seed: 0, dropLast: false)
            images = Tensor(shape: [batchSize] + test.sampleShape)
            labels = [Int32](repeating: 0, count: batchSize)
        }
    }

    private var testBatches: TestBatches?

    /// Mean loss and accuracy over the whole test split in evaluation mode (running statistics).
    private func evaluate(_ network: Network, splits: DatasetSplits, batchSize: Int, stop: StopCheck = .never) throws
        -> (loss: Double, accuracy: Double) {
        let start = monotonicSeconds()
        defer { profile.evaluation += monotonicSeconds() - start }
        let batches = testBatches ?? TestBatches(splits.test, batchSize: batchSize)
        testBatches = batches
        let (loader, images) = (batches.loader, batches.images)
        var lossSum = 0.0, correct = 0, seen = 0
        try batches.labels.withUnsafeMutableBufferPointer { labels in
            for batch in 0..<loader.batchesPerEpoch {
                try stop.check("batch \(batch + 1) of \(loader.batchesPerEpoch)")
                let n = loader.fill(batch: batch, images: images, labels: labels.baseAddress!)
                let result = try network.evaluate(images: images, labels: labels.baseAddress!, count: n)
                lossSum += result.lossSum
                correct += result.correct
                seen += n
            }
        }
        return (lossSum / Double(max(seen, 1)), Double(correct) / Double(max(seen, 1)))
    }

    private func writeMetrics() {
        guard let path = files.metrics else { return }
        let encoder = JSONCoding.encoder()
        var data = Data()
        for record in metrics {
            guard let line = try? encoder.encode(record) else { continue }
            data.append(line)
            data.append(0x0A)
        }
        try? AtomicFile.write(data, to: path)
    }
}

/// Monotonic wall-clock seconds.
public func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}
