import Foundation
import Testing
import Datasets
import NeuralNet
@testable import Experiments

@Suite("RunConfig: parsing, defaults, canonical form and keys")
struct RunConfigTests {
    func parse(_ json: String) throws -> RunConfig { try RunConfig.parse(Data(json.utf8)) }

    /// The field an `invalidField` error names (nil for any other outcome).
    func invalidField(_ json: String) -> String? {
        do {
            _ = try parse(json)
            return nil
        } catch let error as ExperimentsError {
            if case let .invalidField(field, _) = error { return field }
            return nil
        } catch {
            return nil
        }
    }

    let lenet = #"{"architecture": "lenet300-100", "pruner": "random/igq", "compression": 100"#

    // MARK: Defaults

    /// The paper's table (docs/science.md) plus the two documented choices, momentum 0.9 everywhere.
    @Test(arguments: [
        ("lenet300-100", "fashion-mnist", 96_000, 100, 0.1, [25_000, 50_000, 75_000], 5e-4),
        ("lenet5", "cifar10", 120_000, 128, 0.1, [30_000, 60_000, 90_000], 5e-4),
        ("vgg16", "cifar10", 62_500, 128, 0.1, [31_250, 46_875], 1e-4),
        ("vgg19", "cifar100", 62_500, 128, 0.1, [31_250, 46_875], 1e-4),
        ("resnet18", "tinyimagenet", 78_200, 256, 0.2, [39_100, 58_650], 1e-4),
        ("resnet20", "cifar10", 64_000, 128, 0.1, [32_000, 48_000], 1e-4),
    ])
    func paperDefaults(architecture: String, dataset: String, iterations: Int, batch: Int, lr: Double,
                       drops: [Int], decay: Double) throws {
        let config = try parse(#"{"architecture": "\#(architecture)", "pruner": "synflow", "compression": 10}"#)
        #expect(config.dataset == dataset)
        #expect(config.training == TrainingSetup(iterations: iterations, batchSize: batch, learningRate: lr, momentum: 0.9,
                                                 weightDecay: decay, lrDrops: drops, evalEvery: iterations / 10))
        #expect(config.seed == 0 && config.shuffle == false && config.mode == "direct" && config.compression == 10)
        #expect(config.settings == PrunerSettings(synflowRounds: 100))
        #expect(config.dataDirectory == nil)
    }

    @Test func everyArchitectureHasASetup() {
        for name in NeuralNet.ModelZoo.names { #expect(PaperSetups.setup(for: name) != nil, "\(name)") }
    }

    /// Ten evaluations a run, none closer than an epoch (⌊training samples / batch⌋ steps), at
    /// most the run: an evaluation passes over the whole test set.
    @Test(arguments: [
        // Fashion-MNIST at the paper's batch of 100: an epoch is 600 steps.
        (#""iterations": 50"#, 50), (#""iterations": 600"#, 600), (#""iterations": 3000"#, 600),
        (#""iterations": 6000"#, 600), (#""iterations": 12000"#, 1200), (#""epochs": 20"#, 1200),
        // Batch 7: an epoch is ⌊60 000 / 7⌋ = 8 571 steps.
        (#""iterations": 100000, "batch_size": 7"#, 10000), (#""iterations": 50000, "batch_size": 7"#, 8571),
        // Given, it stays as given.
        (#""iterations": 50, "eval_every": 5"#, 5),
    ])
    func evaluationsDefaultToATenthButAtLeastAnEpoch(training: String, evalEvery: Int) throws {
        let config = try parse(lenet + #", "training": {"# + training + "}}")
        #expect(config.training.evalEvery == evalEvery, "\(training)")
    }

    /// ResNet-50 and MobileNetV2 default to ImageNet, which the catalog cannot load: the error
    /// says to set the data set; once set, the ImageNet recipe applies.
    @Test func imagenetArchitecturesNeedADataset() throws {
        #expect(invalidField(#"{"architecture": "resnet50", "pruner": "dense"}"#) == "dataset")
        let config = try parse(#"{"architecture": "resnet50", "dataset": "tinyimagenet", "pruner": "dense"}"#)
        #expect(config.training.iterations == 450_360 && config.training.batchSize == 256)
        #expect(config.training.lrDrops == [150_120, 300_240, 400_320])
    }

    /// 25 000·200/96 000 = 52.08 → 52, 50 000·200/96 000 = 104.17 → 104, 75 000·200/96 000 = 156.25 → 156.
    @Test func dropsScaleToTheRunLength() throws {
        let config = try parse(lenet + #", "training": {"iterations": 200}}"#)
        #expect(config.training.lrDrops == [52, 104, 156])
        // A tenth of the run would be 20 steps, closer than an epoch (60 000 / 100 = 600 steps):
        // the run is shorter than an epoch, so it evaluates once, at the end.
        #expect(config.training.evalEvery == 200)
        // 3 iterations: 0.78 → 1, 1.56 → 2, 2.34 → 2 (deduplicated).
        #expect(try parse(lenet + #", "training": {"iterations": 3}}"#).training.lrDrops == [1, 2])
        // 1 iteration: 0.26 → 0 and 0.52 → 1, 0.78 → 1: only iteration 1 remains; eval every 1.
        let tiny = try parse(lenet + #", "training": {"iterations": 1}}"#)
        #expect(tiny.training.lrDrops == [1] && tiny.training.evalEvery == 1)
        // VGG: 31 250·1000/62 500 = 500, 46 875·1000/62 500 = 750.
        let vgg = try parse(#"{"architecture": "vgg16", "pruner": "dense", "training": {"iterations": 1000}}"#)
        #expect(vgg.training.lrDrops == [500, 750])
        #expect(RunConfig.scaledDrops([1, 3], from: 4, to: 2) == [1, 2])   // 0.5 and 1.5 round away from zero
    }

    @Test func explicitDropsAreSortedAndKept() throws {
        let config = try parse(lenet + #", "training": {"iterations": 200, "lr_drops": [150, 50]}}"#)
        #expect(config.training.lrDrops == [50, 150])
        #expect(try parse(lenet + #", "training": {"lr_drops": []}}"#).training.lrDrops == [])
    }

    /// Fashion-MNIST has 60 000 training images: one epoch of batch 100 is 600 steps; batch 128
    /// gives ⌊60 000/128⌋ = 468 full batches; synthetic has DatasetCatalog.syntheticTrainCount.
    @Test func epochsBecomeIterations() throws {
        let epochs = try parse(lenet + #", "training": {"epochs": 1, "batch_size": 100}}"#)
        let iterations = try parse(lenet + #", "training": {"iterations": 600, "batch_size": 100}}"#)
        #expect(epochs.training.iterations == 600)
        #expect(epochs == iterations && epochs.key == iterations.key)
        #expect(try parse(lenet + #", "training": {"epochs": 3, "batch_size": 128}}"#).training.iterations == 3 * 468)
        let synthetic = try parse(lenet + #", "dataset": "synthetic", "training": {"epochs": 2, "batch_size": 100}}"#)
        #expect(synthetic.training.iterations == 2 * (Datasets.DatasetCatalog.syntheticTrainCount / 100))
        #expect(!String(decoding: epochs.canonicalJSON, as: UTF8.self).contains("epochs"))
    }

    @Test func denseIsCompletedWithoutModeOrCompression() throws {
        let dense = try parse(#"{"architecture": "lenet5", "pruner": "dense", "compression": 1, "mode": "direct", "shuffle": false}"#)
        #expect(dense.mode == nil && dense.compression == nil && dense.shuffle == false)
        #expect(dense.key == (try parse(#"{"architecture": "lenet5", "pruner": "dense"}"#)).key)
        let text = String(decoding: dense.canonicalJSON, as: UTF8.self)
        #expect(!text.contains("mode") && !text.contains("compression"))
    }

    // MARK: Pruner settings

    @Test func onlyTheRelevantGroupsAreKept() throws {
        let all = #", "synflow": {"rounds": 7}, "snip": {"batches": 2, "rounds": 3}, "grasp": {"batches": 4}, "lth": {"rate": 0.5}}"#
        func settings(_ pruner: String) throws -> PrunerSettings {
            try parse(#"{"architecture": "lenet300-100", "compression": 10, "pruner": "\#(pruner)""# + all).settings
        }
        #expect(try settings("synflow") == PrunerSettings(synflowRounds: 7))
        #expect(try settings("random/synflow") == PrunerSettings(synflowRounds: 7))
        #expect(try settings("snip") == PrunerSettings(snipBatches: 2))
        #expect(try settings("random/snip") == PrunerSettings(snipBatches: 2))
        #expect(try settings("snip/iterative") == PrunerSettings(snipBatches: 2, snipRounds: 3))
        #expect(try settings("grasp") == PrunerSettings(graspBatches: 4))
        // C = 10 at rate 0.5: ⌈ln 10 / ln 2⌉ = ⌈3.32⌉ = 4.
        #expect(try settings("lth") == PrunerSettings(lthRate: 0.5, lthRounds: 4))
        for pruner in ["random/igq", "magnitude/global", "lamp"] { #expect(try settings(pruner) == PrunerSettings()) }
        #expect(try parse(#"{"architecture": "lenet5", "pruner": "dense", "synflow": {"rounds": 3}}"#).settings == PrunerSettings())
    }

    @Test func prunerDefaults() throws {
        func settings(_ pruner: String) throws -> PrunerSettings {
            try parse(#"{"architecture": "lenet300-100", "compression": 100, "pruner": "\#(pruner)"}"#).settings
        }
        #expect(try settings("synflow") == PrunerSettings(synflowRounds: 100))
        #expect(try settings("snip/iterative") == PrunerSettings(snipBatches: 1, snipRounds: 100))
        #expect(try settings("grasp") == PrunerSettings(graspBatches: 1))
        // ln 100 / −ln 0.8 = 4.6052 / 0.22314 = 20.64 → 21 rounds.
        #expect(try settings("lth") == PrunerSettings(lthRate: 0.2, lthRounds: 21))
    }

    @Test func lthSchedule() throws {
        func lth(_ group: String, compression: Double = 100) throws -> PrunerSettings {
            try parse(#"{"architecture": "lenet300-100", "pruner": "lth", "compression": \#(compression), "lth": \#(group)}"#).settings
        }
        // 10 rounds to 100×: rate 1 − 100^(−1/10) = 1 − 0.630957 = 0.369043.
        let ten = try lth(#"{"rounds": 10}"#)
        #expect(ten.lthRounds == 10)
        #expect(abs(try #require(ten.lthRate) - 0.369_042_655_519) < 1e-9)
        // 0.8^-2 = 1.5625 exactly reached after 2 rounds of 0.2: not 3.
        #expect(try lth(#"{"rate": 0.2}"#, compression: 1.5625).lthRounds == 2)
        // Both given: kept; but rounds that pass C before the last are refused (0.5 reaches 10× after 4).
        #expect(try lth(#"{"rate": 0.5, "rounds": 3}"#, compression: 10) == PrunerSettings(lthRate: 0.5, lthRounds: 3))
        #expect(try lth(#"{"rate": 0.5, "rounds": 4}"#, compression: 10) == PrunerSettings(lthRate: 0.5, lthRounds: 4))
        #expect(invalidField(#"{"architecture": "lenet300-100", "pruner": "lth", "compression": 10, "lth": {"rate": 0.5, "rounds": 5}}"#)
            == "lth.rounds")
        // Explicit defaults ≡ omitted.
        #expect(try lth(#"{"rate": 0.2, "rounds": 21}"#) == (try lth("{}")))
    }

    // MARK: Parent

    @Test func parentIsTheDenseRunWithTheSameTraining() throws {
        let run = try parse(#"{"architecture": "lenet300-100", "pruner": "magnitude/global", "compression": 50, "seed": 3,"#
            + #" "mode": "effective", "shuffle": true, "training": {"iterations": 300}, "data_dir": "/data/fm"}"#)
        let parent = try #require(run.parent())
        #expect(parent.pruner.isDense && parent.compression == nil && parent.mode == nil && parent.shuffle == false)
        #expect(parent.training == run.training && parent.seed == 3 && parent.dataset == run.dataset)
        #expect(parent.architecture == run.architecture && parent.dataDirectory == "/data/fm")
        #expect(parent.settings == PrunerSettings())
        // The same run as a dense config written by hand.
        let dense = try parse(#"{"architecture": "lenet300-100", "pruner": "dense", "seed": 3, "training": {"iterations": 300}}"#)
        #expect(parent.key == dense.key)
        #expect(parent.parent() == nil && !parent.pruner.needsParent)
    }

    @Test func needsParent() throws {
        for pruner in RunConfig.prunerNames {
            let json = pruner == "dense" ? #"{"architecture": "lenet5", "pruner": "dense"}"#
                : #"{"architecture": "lenet5", "pruner": "\#(pruner)", "compression": 10}"#
            let config = try parse(json)
            let expected = ["magnitude/global", "magnitude/uniform", "magnitude/uniform+", "magnitude/erk", "magnitude/igq",
                            "lamp", "lth"].contains(pruner)
            #expect(config.pruner.needsParent == expected, "\(pruner)")
            #expect((config.parent() != nil) == expected, "\(pruner)")
        }
    }

    // MARK: Canonical form and keys

    @Test func keyIsStable() throws {
        let base = try parse(lenet + "}")
        #expect(base.key.count == 64 && base.key.allSatisfy { "0123456789abcdef".contains($0) })
        let same = [
            #"{"compression": 100, "pruner": "random/igq", "architecture": "lenet300-100"}"#,
            "{\n  \"architecture\" :\"lenet300-100\",\t\"pruner\": \"random/igq\",\n\"compression\":100.0 }",
            #"{"architecture": "lenet300-100", "pruner": "random/igq", "compression": 1e2}"#,
            #"{"architecture": "lenet300-100", "pruner": "random/igq", "compression": 1.0E+2}"#,
            lenet + #", "data_dir": "/elsewhere"}"#,
            lenet + #", "synflow": {"rounds": 5}, "lth": {"rate": 0.5}, "snip": {"batches": 3}, "grasp": {}}"#,
            lenet + #", "seed": 0, "shuffle": false, "mode": "direct", "dataset": "fashion-mnist", "format": 1}"#,
            lenet + #", "training": {"iterations": 96000, "batch_size": 100, "learning_rate": 1e-1, "momentum": 0.90,"#
                + #" "weight_decay": 0.0005, "lr_drops": [75000, 25000, 50000], "eval_every": 9600}}"#,
            lenet + #", "training": {"iterations": 9.6e4, "batch_size": 100.0}}"#,
            lenet + #", "mode": null, "data_dir": null}"#,
        ]
        for json in same { #expect(try parse(json).key == base.key, "\(json)") }
    }

    @Test func everyFieldThatMattersChangesTheKey() throws {
        let variants = [
            lenet + "}",
            #"{"architecture": "lenet5", "pruner": "random/igq", "compression": 100}"#,
            lenet + #", "dataset": "mnist"}"#,
            #"{"architecture": "lenet300-100", "pruner": "random/erk", "compression": 100}"#,
            lenet + #", "mode": "effective"}"#,
            #"{"architecture": "lenet300-100", "pruner": "random/igq", "compression": 100.5}"#,
            lenet + #", "seed": 1}"#,
            lenet + #", "shuffle": true}"#,
            lenet + #", "training": {"iterations": 96001}}"#,
            lenet + #", "training": {"batch_size": 128}}"#,
            lenet + #", "training": {"learning_rate": 0.05}}"#,
            lenet + #", "training": {"momentum": 0.8}}"#,
            lenet + #", "training": {"weight_decay": 1e-4}}"#,
            lenet + #", "training": {"lr_drops": [25000, 50000]}}"#,
            lenet + #", "training": {"eval_every": 1000}}"#,
            #"{"architecture": "lenet300-100", "pruner": "synflow", "compression": 100}"#,
            #"{"architecture": "lenet300-100", "pruner": "synflow", "compression": 100, "synflow": {"rounds": 99}}"#,
            #"{"architecture": "lenet300-100", "pruner": "snip/iterative", "compression": 100}"#,
            #"{"architecture": "lenet300-100", "pruner": "snip/iterative", "compression": 100, "snip": {"batches": 2}}"#,
            #"{"architecture": "lenet300-100", "pruner": "snip/iterative", "compression": 100, "snip": {"rounds": 2}}"#,
            #"{"architecture": "lenet300-100", "pruner": "grasp", "compression": 100}"#,
            #"{"architecture": "lenet300-100", "pruner": "grasp", "compression": 100, "grasp": {"batches": 2}}"#,
            #"{"architecture": "lenet300-100", "pruner": "lth", "compression": 100}"#,
            #"{"architecture": "lenet300-100", "pruner": "lth", "compression": 100, "lth": {"rate": 0.3}}"#,
            #"{"architecture": "lenet300-100", "pruner": "lth", "compression": 100, "lth": {"rounds": 5}}"#,
            #"{"architecture": "lenet300-100", "pruner": "dense"}"#,
        ]
        let keys = try variants.map { try parse($0).key }
        #expect(Set(keys).count == variants.count)
    }

    @Test func canonicalJSONText() throws {
        let config = try parse(lenet + #", "data_dir": "/data", "training": {"iterations": 200, "eval_every": 20}}"#)
        let expected = #"{"architecture":"lenet300-100","compression":100,"dataset":"fashion-mnist","format":1,"#
            + #""mode":"direct","pruner":"random/igq","seed":0,"shuffle":false,"#
            + #""training":{"batch_size":100,"eval_every":20,"iterations":200,"learning_rate":0.1,"lr_drops":[52,104,156],"#
            + #""momentum":0.9,"weight_decay":0.0005}}"#
        #expect(String(decoding: config.canonicalJSON, as: UTF8.self) == expected)
        let lth = try parse(#"{"architecture": "lenet300-100", "pruner": "lth", "compression": 100}"#)
        #expect(String(decoding: lth.canonicalJSON, as: UTF8.self).contains(#""lth":{"rate":0.2,"rounds":21}"#))
    }

    @Test func numbersHaveOneSpelling() {
        #expect(JSONValue.canonicalNumber(100) == "100")
        #expect(JSONValue.canonicalNumber(-0.0) == "0")
        #expect(JSONValue.canonicalNumber(0.1) == "0.1")
        #expect(JSONValue.canonicalNumber(5e-4) == "0.0005")
        #expect(JSONValue.canonicalNumber(1e-7) == "1e-07")
        #expect(JSONValue.canonicalNumber(1e20) == "1e+20")
        #expect(JSONValue.canonicalNumber(100.5) == "100.5")
    }

    @Test func largeSeedsSurvive() throws {
        let config = try parse(lenet + #", "seed": 18446744073709551615}"#)
        #expect(config.seed == UInt64.max)
        #expect(try RunConfig.parse(config.canonicalJSON) == config)
    }

    /// config.json on disk: pretty, sorted, with data_dir; reading it back gives the same config.
    @Test func diskFormRoundTrips() throws {
        let config = try parse(#"{"architecture": "lenet300-100", "pruner": "snip/iterative", "compression": 30,"#
            + #" "data_dir": "/data/fashion-mnist", "training": {"iterations": 200}}"#)
        let disk = try config.encodedForDisk()
        let text = String(decoding: disk, as: UTF8.self)
        #expect(text.contains(#""data_dir": "/data/fashion-mnist""#))
        #expect(text.contains(#""snip": {"#) && text.contains("\n  \"architecture\": \"lenet300-100\",\n"))
        #expect(try RunConfig.parse(disk) == config)
        #expect(try RunConfig.parse(config.canonicalJSON) == RunConfig.parse(Data(#"{"architecture": "lenet300-100", "pruner": "snip/iterative", "compression": 30, "training": {"iterations": 200}}"#.utf8)))
        // Codable goes through the same validation and writes the same layout.
        let encoded = try JSONEncoder().encode(config)
        #expect(try JSONDecoder().decode(RunConfig.self, from: encoded) == config)
        #expect(throws: ExperimentsError.unknownKey("training.lr")) {
            try JSONDecoder().decode(RunConfig.self, from: Data((lenet + #", "training": {"lr": 0.1}}"#).utf8))
        }
    }

    // MARK: Bad input, every one named

    @Test func malformedJSON() {
        for json in [#"{"architecture": "#, "", "[1, 2]", "5", #""lenet5""#] {
            do {
                _ = try parse(json)
                Issue.record("accepted \(json)")
            } catch let error as ExperimentsError {
                guard case .malformedConfig = error else { Issue.record("\(json): \(error)"); continue }
            } catch { Issue.record("\(json): \(error)") }
        }
    }

    @Test func unknownKeysByDottedPath() {
        #expect(throws: ExperimentsError.unknownKey("learning_rate")) { try parse(lenet + #", "learning_rate": 0.1}"#) }
        #expect(throws: ExperimentsError.unknownKey("training.lr")) { try parse(lenet + #", "training": {"lr": 0.1}}"#) }
        #expect(throws: ExperimentsError.unknownKey("synflow.iterations")) { try parse(lenet + #", "synflow": {"iterations": 1}}"#) }
        #expect(throws: ExperimentsError.unknownKey("lth.rewind")) { try parse(lenet + #", "lth": {"rewind": 0}}"#) }
        // Reported before value errors elsewhere, so a typo reads as a typo.
        #expect(throws: ExperimentsError.unknownKey("training.lr")) {
            try parse(#"{"architecture": "nope", "pruner": "random/igq", "training": {"lr": 0.1}}"#)
        }
    }

    @Test(arguments: [
        (#", "seed": "zero"}"#, "seed"),
        (#", "seed": -1}"#, "seed"),
        (#", "seed": 1.5}"#, "seed"),
        (#", "shuffle": 1}"#, "shuffle"),
        (#", "mode": "both"}"#, "mode"),
        (#", "dataset": "imagenet"}"#, "dataset"),
        (#", "dataset": 10}"#, "dataset"),
        (#", "format": 2}"#, "format"),
        (#", "data_dir": 3}"#, "data_dir"),
        (#", "training": 5}"#, "training"),
        (#", "training": {"batch_size": 0}}"#, "training.batch_size"),
        (#", "training": {"epochs": 1, "batch_size": 100000}}"#, "training.batch_size"),
        (#", "training": {"iterations": 0}}"#, "training.iterations"),
        (#", "training": {"iterations": 2.5}}"#, "training.iterations"),
        (#", "training": {"epochs": 1, "iterations": 600}}"#, "training.epochs"),
        (#", "training": {"epochs": 0}}"#, "training.epochs"),
        (#", "training": {"learning_rate": 0}}"#, "training.learning_rate"),
        (#", "training": {"learning_rate": "fast"}}"#, "training.learning_rate"),
        (#", "training": {"momentum": 1}}"#, "training.momentum"),
        (#", "training": {"momentum": -0.1}}"#, "training.momentum"),
        (#", "training": {"weight_decay": -1e-4}}"#, "training.weight_decay"),
        (#", "training": {"iterations": 100, "lr_drops": [50, 101]}}"#, "training.lr_drops"),
        (#", "training": {"lr_drops": [0]}}"#, "training.lr_drops"),
        (#", "training": {"lr_drops": [10, 10]}}"#, "training.lr_drops"),
        (#", "training": {"lr_drops": 10}}"#, "training.lr_drops"),
        (#", "training": {"lr_drops": [10, "x"]}}"#, "training.lr_drops[1]"),
        (#", "training": {"eval_every": 0}}"#, "training.eval_every"),
        (#", "synflow": {"rounds": 0}}"#, "synflow.rounds"),
        (#", "snip": {"batches": 0}}"#, "snip.batches"),
        (#", "snip": 1}"#, "snip"),
        (#", "grasp": {"batches": -1}}"#, "grasp.batches"),
        (#", "lth": {"rate": 1}}"#, "lth.rate"),
        (#", "lth": {"rate": 0}}"#, "lth.rate"),
        (#", "lth": {"rounds": 0}}"#, "lth.rounds"),
    ])
    func badValueNamesItsField(suffix: String, field: String) {
        #expect(invalidField(lenet + suffix) == field, "\(suffix)")
    }

    @Test(arguments: [
        (#"{"pruner": "dense"}"#, "architecture"),
        (#"{"architecture": "lenet7", "pruner": "dense"}"#, "architecture"),
        (#"{"architecture": 5, "pruner": "dense"}"#, "architecture"),
        (#"{"architecture": "lenet5"}"#, "pruner"),
        (#"{"architecture": "lenet5", "pruner": "magnitude"}"#, "pruner"),
        (#"{"architecture": "lenet5", "pruner": "random/igq"}"#, "compression"),
        (#"{"architecture": "lenet5", "pruner": "random/igq", "compression": 1}"#, "compression"),
        (#"{"architecture": "lenet5", "pruner": "random/igq", "compression": 0.5}"#, "compression"),
        (#"{"architecture": "lenet5", "pruner": "random/igq", "compression": "100"}"#, "compression"),
        (#"{"architecture": "lenet5", "pruner": "random/igq", "compression": -3}"#, "compression"),
        (#"{"architecture": "lenet5", "pruner": "dense", "compression": 10}"#, "compression"),
        (#"{"architecture": "lenet5", "pruner": "dense", "mode": "effective"}"#, "mode"),
        (#"{"architecture": "lenet5", "pruner": "dense", "shuffle": true}"#, "shuffle"),
        (#"{"architecture": "mobilenetv2", "pruner": "dense"}"#, "dataset"),
    ])
    func badRunNamesItsField(json: String, field: String) {
        #expect(invalidField(json) == field, "\(json)")
    }

    @Test func messagesSayWhatIsWrong() {
        do {
            _ = try parse(#"{"architecture": "lenet5", "pruner": "random/igq", "compression": 0.5}"#)
            Issue.record("accepted compression 0.5")
        } catch {
            #expect("\(error)" == "config field 'compression': must be greater than 1, got 0.5")
        }
        do {
            _ = try parse(lenet + #", "seed": "zero"}"#)
            Issue.record("accepted seed \"zero\"")
        } catch {
            #expect("\(error)" == "config field 'seed': must be a non-negative integer, found a string")
        }
    }
}
