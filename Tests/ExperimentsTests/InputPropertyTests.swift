import Crypto
import Experiments
import Foundation
import PropertyBased
import Testing

/// Generated input against the parsers that read what clients and files send: run configs and
/// checkpoints. A trap would end the test process; beyond that, every accepted value is within
/// the bounds the rest of prunelab relies on, and every refusal is an `ExperimentsError`.
@Suite struct InputPropertyTests {
    /// Values at and beyond every edge: counts around the limits and Int64's, tiny, huge and
    /// negative reals, the wrong types, nulls and nesting.
    static var edgeValues: [Any] { [
        0, 1, -1, 2, 3, 10, 17, 100, 1000, 9999, 10_000, 10_001, 65_535, 65_536, 65_537, 99_999_999, 100_000_000, 100_000_001,
        Int(Int32.max), Int(Int32.max) + 1, Int.max, Int.min, Int.max - 1,
        0.5, 1.0, 1.0000000000000002, 1.5, 10.0, 1e-300, 5e-324, 1e-20, 0.999999999999, 1e15, 1e300, 1.7976931348623157e308, -1e300, -0.0,
        "", "x", "lenet300-100", "synthetic", "direct", "effective", true, false, NSNull(), [Any](), [1, 2, 3], [0, -1], [3, 3],
        ["rounds": 1], ["x": [[[1]]]],
    ] }
    static let keys = ["architecture", "dataset", "pruner", "mode", "compression", "seed", "shuffle", "data_dir", "training",
                       "synflow", "snip", "grasp", "lth"]
    static let trainingKeys = ["iterations", "epochs", "batch_size", "learning_rate", "momentum", "weight_decay", "lr_drops", "eval_every"]

    static func value(_ index: Int) -> Any { edgeValues[index % edgeValues.count] }

    /// A valid config (every field given) of which `choices` replace a few fields by edge values,
    /// so that most cases get past the first check to the one under attack.
    /// LeNet-300-100 as an uploaded ONNX model, made available to the engine.
    static let imported = (try? ImportedModelRunTests.provide("lenet300-100.onnx")) ?? "missing"

    static func config(architecture: Int, pruner: Int, choices: [Int]) -> [String: Any] {
        let pruners = RunConfig.prunerNames + ["bogus"]
        let architectures: [Any] = ["lenet300-100", "lenet5", "resnet20", "vgg16", ["onnx": imported], "onnx:\(imported)",
                                    ["onnx": "0123"], ["onnx": imported, "x": 1], "onnx:\(imported.uppercased())"]
        var config: [String: Any] = [
            "architecture": architectures[architecture % architectures.count], "dataset": "synthetic",
            "pruner": pruners[pruner % pruners.count], "mode": "direct", "compression": 10, "seed": 0, "shuffle": false,
        ]
        var training: [String: Any] = ["iterations": 20, "batch_size": 10, "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.0,
                                       "lr_drops": [10], "eval_every": 5]
        var groups: [String: [String: Any]] = ["synflow": ["rounds": 2], "snip": ["batches": 1, "rounds": 2], "grasp": ["batches": 1],
                                               "lth": ["rate": 0.5, "rounds": 3]]
        let groupFields = [("synflow", "rounds"), ("snip", "batches"), ("snip", "rounds"), ("grasp", "batches"), ("lth", "rate"), ("lth", "rounds")]
        for (index, choice) in choices.enumerated() {
            let value = value(choice / 3)
            switch choice % 3 {
            case 0: config[keys[index % keys.count]] = value
            case 1: training[trainingKeys[index % trainingKeys.count]] = value
            default:
                let (group, field) = groupFields[index % groupFields.count]
                groups[group]![field] = value
            }
        }
        if config["training"] == nil { config["training"] = training }
        for (name, fields) in groups where config[name] == nil { config[name] = fields }
        if config["pruner"] as? String == "dense" { config["compression"] = nil; config["mode"] = nil }
        return config
    }

    @Test func runConfigsFromGeneratedInputParseWithinTheLimitsOrAreRefused() async throws {
        #expect(Self.imported.count == 64)
        await propertyCheck(count: 3000, input: Gen.int(in: 0...8), Gen.int(in: 0...40), Gen.int(in: 0...300).array(of: 0...4)) {
            architecture, pruner, choices in
            let object = Self.config(architecture: architecture, pruner: pruner, choices: choices)
            guard let data = try? JSONSerialization.data(withJSONObject: object) else { return }
            do {
                let config = try RunConfig.parse(data)
                let training = config.training
                #expect((1...RunConfig.Limits.iterations).contains(training.iterations))
                #expect((1...RunConfig.Limits.batchSize).contains(training.batchSize))
                #expect((1...RunConfig.Limits.iterations).contains(training.evalEvery))
                #expect(training.lrDrops.allSatisfy { (1...training.iterations).contains($0) })
                let phases = config.pruner.phases(config.settings)
                #expect((1...RunConfig.Limits.prunerRepetitions).contains(phases))
                #expect(phases * (training.iterations / training.evalEvery + 1) <= RunConfig.Limits.evaluations)
                if let compression = config.compression { #expect(compression > 1 && compression.isFinite) }
                // What the service derives from an accepted config is computable too.
                let layout = try RunLayout.of(config)
                #expect(layout.maximumCheckpointBytes > 0)
            } catch is ExperimentsError {
                // Refused, naming a field: what a request gets as a 400.
            } catch {
                Issue.record("not an ExperimentsError: \(error)")
            }
        }
    }

    /// LTH's schedule from rates down to the smallest double and compressions up to the largest:
    /// rounds stay within their limit (a rate of 1e-20 once made the round count overflow an Int
    /// and trap the server).
    @Test func lthSchedulesStayWithinTheirLimits() async throws {
        let rate = Gen.oneOf(Gen.double(in: 0...1), Gen.element(of: [5e-324, 1e-300, 1e-20, 1e-9, 0.2, 0.999999999, 1, 0]).map { $0 ?? 0 })
        let compression = Gen.oneOf(Gen.double(in: 1...1e6), Gen.element(of: [1.0000000000000002, 10, 1e15, 1e300, 1.7976931348623157e308])
            .map { $0 ?? 10 })
        await propertyCheck(count: 2000, input: rate, compression, Gen.int(in: 0...20_000).optional()) { rate, compression, rounds in
            var lth: [String: Any] = ["rate": rate]
            if let rounds { lth["rounds"] = rounds }
            let object: [String: Any] = ["architecture": "lenet300-100", "dataset": "synthetic", "pruner": "lth", "compression": compression,
                                         "training": ["iterations": 10, "batch_size": 10], "lth": lth]
            do {
                let config = try RunConfig.parse(try JSONSerialization.data(withJSONObject: object))
                let settings = config.settings
                #expect((1...RunConfig.Limits.prunerRepetitions).contains(settings.lthRounds ?? 0))
                #expect(settings.lthRate.map { $0 > 0 && $0 < 1 } == true)
            } catch is ExperimentsError {
            } catch {
                Issue.record("not an ExperimentsError: \(error)")
            }
        }
    }

    @Test func elementCountsAreExactOrRefused() async {
        let dimension = Gen.oneOf(Gen.int(in: -3...1000), Gen.int(in: 1...Int.max), Gen.element(of: [0, 1, Int.max, Int.min, 1 << 32]).map { $0 ?? 0 })
        await propertyCheck(count: 3000, input: dimension.array(of: 0...6), Gen.int(in: 0...(1 << 40))) { shape, limit in
            // The exact product, saturated, in 128 bits.
            var exact: Int128 = 1
            for d in shape { exact = exact.magnitude > UInt128(Int64.max) ? exact : exact * Int128(d) }
            if shape.contains(0) { exact = 0 }
            let count = Checkpoint.elementCount(shape, atMost: limit)
            if shape.contains(where: { $0 < 0 }) {
                #expect(count == nil)
            } else if exact <= Int128(limit) {
                #expect(count.map { Int128($0) } == .some(exact))
            } else {
                #expect(count == nil)
            }
        }
    }

    /// The input a generated run once found: a zero-size tensor whose other dimensions overflow
    /// when multiplied from the left (2⁶² × 4 × 0) loads as an empty tensor instead of trapping.
    @Test func aZeroSizedShapeThatOverflowsFromTheLeftLoadsEmpty() throws {
        let header: [String: Any] = ["run_key": String(repeating: "a", count: 64), "architecture": "lenet300-100", "step": 0, "phase": 0,
                                     "tensors": [["name": "t0", "shape": [1 << 62, 4, 0]], ["name": "t1", "shape": [2]]]]
        let json = try JSONSerialization.data(withJSONObject: header)
        var data = Data(Checkpoint.magic)
        withUnsafeBytes(of: Checkpoint.version.littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        data.append(Data(repeating: 0, count: 8))
        data.append(contentsOf: SHA256.hash(data: data))
        let checkpoint = try Checkpoint(decoding: data, path: "overflow")
        #expect(checkpoint.values.map(\.count) == [0, 2])
        #expect(checkpoint.header.tensors.map(\.count) == [0, 2])
    }

    /// Checkpoint files whose header (JSON) is generated — shapes at every edge, steps, phases and
    /// training windows — behind a valid magic, version and SHA-256 trailer, so that parsing gets
    /// past the checksum to the values it must not trust.
    @Test func checkpointsWithGeneratedHeadersLoadOrAreRefused() async {
        let dimension = Gen.element(of: [0, 1, 2, 3, 7, -1, Int.max, Int.min, 1 << 31, 1 << 62]).map { $0 ?? 0 }
        let window = Gen.element(of: [0.0, 1.0, 2.5, -1.0, 1e300, .infinity, .nan, 9_007_199_254_740_993, 3.0]).map { $0 ?? 0 }
        await propertyCheck(count: 2000, input: dimension.array(of: 0...3).array(of: 0...3), window.array(of: 0...4),
                            Gen.int(in: -2...3), Gen.int(in: 0...64)) { shapes, trainWindow, step, payloadFloats in
            var header: [String: Any] = [
                "run_key": String(repeating: "a", count: 64), "architecture": "lenet300-100", "step": step, "phase": 0,
                "tensors": shapes.enumerated().map { ["name": "t\($0.offset)", "shape": $0.element] },
            ]
            if !trainWindow.isEmpty { header["train_window"] = trainWindow.map { $0.isFinite ? $0 as Any : "nan" as Any } }
            guard let json = try? JSONSerialization.data(withJSONObject: header) else { return }
            var data = Data(Checkpoint.magic)
            withUnsafeBytes(of: Checkpoint.version.littleEndian) { data.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt32(json.count).littleEndian) { data.append(contentsOf: $0) }
            data.append(json)
            data.append(Data(repeating: 0, count: 4 * payloadFloats))
            data.append(contentsOf: SHA256.hash(data: data))
            do {
                let checkpoint = try Checkpoint(decoding: data, path: "generated")
                #expect(checkpoint.header.step >= 0)
                #expect(checkpoint.values.map(\.count) == checkpoint.header.tensors.map(\.count))
                #expect(checkpoint.values.reduce(0) { $0 + 4 * $1.count } == 4 * payloadFloats)
                if let window = checkpoint.header.trainWindow { #expect(Checkpoint.validWindow(window)) }
            } catch is ExperimentsError {
            } catch {
                Issue.record("not an ExperimentsError: \(error)")
            }
        }
    }
}
