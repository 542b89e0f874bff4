import NeuralNet
import Pruning
import Tensors

/// Whole models: training steps of LeNet-300-100 (masked) and VGG-16, the same steps twice on the
/// device (bit-identical: same config + seed on the same device kind ⇒ same numbers), and the
/// effective masks of a sparse VGG-16 (bit maps from the network's structure, computed on the host
/// whatever the backend: a network built for the device must give the CPU's masks).
enum ModelChecks {
    static var all: [DeviceCheck] {
        [
            // Fan-in 784, three layers each way, two steps.
            DeviceCheck("LeNet-300-100 two training steps (masked, batch 64)", limit: Tolerance.rounding(terms: 784, depth: 12)) { device, cpu in
                try trainingSteps("lenet300-100", inputShape: [1, 28, 28], batch: 64, steps: 2, density: 0.2, device: device, cpu: cpu)
            },
            // Rounding alone (fan-in 512·9, 16 layers) would allow `limit`; but max pooling's winners
            // flip on near ties, so the limit is measured in the same run (`tieYardstick`).
            DeviceCheck("VGG-16 training step (batch 8, 32×32)", limit: Tolerance.rounding(terms: 512 * 9, depth: 16)) { device, cpu in
                var comparison = try trainingSteps("vgg16", inputShape: [3, 32, 32], batch: 8, steps: 1, density: nil, device: device, cpu: cpu)
                let yardstick = try trainingSteps("vgg16", inputShape: [3, 32, 32], batch: 8, steps: 1, density: nil, device: cpu, cpu: cpu,
                                                  reverseFirstBatch: true)
                comparison.limit = max(Tolerance.rounding(terms: 512 * 9, depth: 16), tieYardstick * yardstick.worst)
                return comparison
            },
            DeviceCheck("VGG-16 training steps are bit-identical when repeated on the device", limit: 0) { device, _ in
                try trainingSteps("vgg16", inputShape: [3, 32, 32], batch: 8, steps: 2, density: 0.5, device: device, cpu: device)
            },
            DeviceCheck("VGG-16 effective masks at 1/300 density", limit: 0) { device, cpu in
                try effectiveMasks("vgg16", inputShape: [3, 32, 32], density: 1.0 / 300, device: device, cpu: cpu)
            },
        ] + pruners
    }

    /// Every pruner family on LeNet-5 at 10× (SynFlow and SNIP also in effective mode). Rankings of
    /// weights only are exact; scores from forward/backward passes may swap near-tied weights, so
    /// those masks are compared by relative L2 (0.05 ≈ 0.25 % of the kept weights swapped).
    static var pruners: [DeviceCheck] {
        let exact = ["magnitude/global", "lamp", "random/erk", "magnitude/uniform+"]
        let scored: [(String, PruningMode)] = [("snip", .direct), ("snip", .effective), ("snip/iterative", .direct), ("grasp", .direct),
                                               ("synflow", .direct), ("synflow", .effective), ("random/snip", .direct)]
        return exact.map { name in
            DeviceCheck("pruner \(name) masks on LeNet-5", limit: 0) { try prunerMasks(name, mode: .direct, device: $0, cpu: $1) }
        } + scored.map { name, mode in
            DeviceCheck("pruner \(name) (\(mode.rawValue)) masks on LeNet-5", limit: 5e-2) { try prunerMasks(name, mode: mode, device: $0, cpu: $1) }
        }
    }

    static func prunerMasks(_ name: String, mode: PruningMode, device: any Backend, cpu: any Backend) throws -> Comparison {
        let pruner = try Pruner(name)
        let results = try [device, cpu].map { backend -> [[Float]] in
            let network = try ModelZoo.make("lenet5", inputShape: [1, 28, 28], classes: 10, backend: backend)
            network.initialize(seed: 81)
            var rng = RandomGenerator(seed: 82, stream: "labels")
            let batches = (0..<2).map { index in
                ScoringBatch(images: randomTensor([32, 1, 28, 28], seed: 83 + UInt64(index)),
                             labels: (0..<32).map { _ in Int32(rng.nextInt(below: 10)) })
            }
            let outcome = try pruner.prune(network, options: PruningOptions(compression: 10, mode: mode, seed: 84, rounds: 5),
                                           batches: batches)
            return try outcome.masks.map { try values($0, backend) }
        }
        var comparison = Comparison(norm: .relativeL2)
        for (index, (d, c)) in zip(results[0], results[1]).enumerated() { comparison.add("layer \(index + 1) mask", device: d, cpu: c) }
        return comparison
    }

    /// How far past two equally correct CPU runs a device may land on a model with max pooling.
    ///
    /// The yardstick is the CPU against itself with the batch in reverse order: every per-sample
    /// value is the same computation, but every reduction over the batch (BatchNorm's statistics,
    /// weight gradients, the loss) adds in another order, which is exactly what another correct
    /// implementation does. Those rounding-level differences flip max-pooling winners on near
    /// ties as a device's do, so their error is what the comparison can promise on this machine,
    /// whatever its processor; the factor covers the randomness of how many windows flip.
    static let tieYardstick = 4.0

    /// `reverseFirstBatch`: the first backend trains on each batch in reverse sample order (see `tieYardstick`).
    /// `dropLastTap`: the first backend's convolutions lose the last term of every reduction over
    /// their kernel taps, as an off-by-one loop bound would — what the limit must still catch.
    static func trainingSteps(_ architecture: String, inputShape: [Int], batch: Int, steps: Int, density: Double?,
                              device: any Backend, cpu: any Backend, reverseFirstBatch: Bool = false,
                              dropLastTap: Bool = false) throws -> Comparison {
        let results = try [device, cpu].enumerated().map { run, backend -> [String: [Float]] in
            let network = try ModelZoo.make(architecture, inputShape: inputShape, classes: 10, backend: backend)
            network.initialize(seed: 71)
            if dropLastTap, run == 0 {
                for parameter in network.prunableParameters where parameter.shape.count == 4 {
                    let taps = parameter.shape[2] * parameter.shape[3]
                    for start in stride(from: taps - 1, to: parameter.count, by: taps) { parameter.value.data[start] = 0 }
                }
            }
            if let density {
                for (index, parameter) in network.prunableParameters.enumerated() {
                    parameter.setMask(randomMask(parameter.shape, seed: 72 + UInt64(index), density: density), backend: backend)
                }
            }
            let optimizer = SGD(learningRate: 0.05, momentum: 0.9, weightDecay: 5e-4, backend: backend)
            var result: [String: [Float]] = [:]
            var rng = RandomGenerator(seed: 73, stream: "labels")
            for step in 0..<steps {
                var images = randomTensor([batch] + inputShape, seed: 74 + UInt64(step))
                var labels = (0..<batch).map { _ in Int32(rng.nextInt(below: 10)) }
                if reverseFirstBatch, run == 0 {
                    let size = inputShape.reduce(1, *), reversed = Tensor(shape: images.shape)
                    for sample in 0..<batch {
                        (reversed.data + (batch - 1 - sample) * size).update(from: images.data + sample * size, count: size)
                    }
                    images = reversed
                    labels.reverse()
                }
                // Hits are not compared: an arg-max may flip on a near tie between two logits.
                let (loss, _) = try labels.withUnsafeBufferPointer {
                    try network.trainStep(images: images, labels: $0.baseAddress!, optimizer: optimizer)
                }
                try backend.synchronize()
                result["step \(step) loss"] = [Float(loss)]
                if step == 0 {
                    for (index, parameter) in network.parameters.enumerated() {
                        result[String(format: "gradient %03d %@", index, parameter.name)] = try values(parameter.gradient, backend)
                    }
                }
            }
            for (index, parameter) in network.parameters.enumerated() {
                result[String(format: "parameter %03d %@", index, parameter.name)] = try values(parameter.value, backend)
            }
            for (index, buffer) in network.buffers.enumerated() {
                result[String(format: "buffer %03d %@", index, buffer.name)] = try values(buffer.tensor, backend)
            }
            let evaluationImages = randomTensor([batch] + inputShape, seed: 80)
            result["evaluation logits"] = try values(try network.forward(evaluationImages, training: false), backend)
            return result
        }
        var comparison = Comparison(norm: .relativeL2)
        for key in results[1].keys.sorted() { comparison.add(key, device: results[0][key] ?? [], cpu: results[1][key] ?? []) }
        return comparison
    }

    static func effectiveMasks(_ architecture: String, inputShape: [Int], density: Double,
                               device: any Backend, cpu: any Backend) throws -> Comparison {
        let results = try [device, cpu].map { backend -> [[Float]] in
            let network = try ModelZoo.make(architecture, inputShape: inputShape, classes: 10, backend: backend)
            let masks = network.prunableParameters.enumerated().map { index, parameter in
                randomMask(parameter.shape, seed: 90 + UInt64(index), density: density) as Tensor?
            }
            let (effective, _) = try EffectiveMasks(network: network).compute(masks)
            return try effective.map { try values($0, backend) }
        }
        var comparison = Comparison()
        for (index, (d, c)) in zip(results[0], results[1]).enumerated() {
            comparison.add("layer \(index + 1) effective mask", device: d, cpu: c)
        }
        return comparison
    }
}

/// The whole suite, in order: kernels, layers, models.
public enum DeviceChecks {
    public static var all: [DeviceCheck] { KernelChecks.all + LayerChecks.all + ModelChecks.all }
}
