#if canImport(Glibc)
import Glibc
#endif
import NeuralNet
@testable import Pruning
import Tensors
import Testing

/// Effective masks as `EffectiveMasks` computed them before it worked on bits: the float reach of
/// the training kernels (`PathGraph`, outputs clamped to {0, 1}), kept and product > 0.
func floatReachEffectiveMasks(_ network: Network, masks: [Tensor]) throws -> [Tensor] {
    let graph = try PathGraph(network: network)
    try graph.run(weights: masks, semiring: .reach)
    return zip(masks, graph.products).map { mask, product in
        let effective = Tensor(shape: mask.shape)
        let m = mask.readableData, p = product.readableData, e = effective.data
        for i in 0..<mask.count where m[i] != 0 && p[i] > 0 { e[i] = 1 }
        return effective
    }
}

/// Seeded random 0/1 masks: each weight kept with probability `density`, and, to cut whole units
/// as well as single weights, every fifth output channel of a layer pruned entirely when `cutUnits`.
func randomMasks(_ network: Network, density: Double, seed: UInt64, cutUnits: Bool = false) -> [Tensor] {
    var rng = RandomGenerator(seed: seed, stream: "reach-masks-\(density)")
    return network.prunableParameters.map { parameter in
        let mask = Tensor(shape: parameter.shape)
        let values = mask.data, threshold = Float(density), row = parameter.count / parameter.shape[0]
        for i in 0..<parameter.count where rng.nextUniform() < threshold && !(cutUnits && (i / row) % 5 == 3) { values[i] = 1 }
        return mask
    }
}

/// Non-zero entries of a tensor.
func nonZeroCount(_ tensor: Tensor) -> Int {
    let values = tensor.readableData
    var count = 0
    for i in 0..<tensor.count where values[i] != 0 { count += 1 }
    return count
}

func sameValues(_ a: Tensor, _ b: Tensor) -> Bool {
    a.shape == b.shape && memcmp(a.readableData, b.readableData, a.count * MemoryLayout<Float>.stride) == 0
}

@Suite("Effective masks on bits agree with the float reach")
struct ReachGraphTests {
    /// The zoo at its default inputs: `EffectiveMasks` on a network whose weights were never
    /// initialised gives, bit for bit, the effective masks and counts that the float reach of the
    /// training kernels gives on an initialised one — through float tensors and through bytes.
    @Test(arguments: ["lenet300-100", "lenet5", "vgg19", "resnet18", "resnet20", "resnet50", "mobilenetv2"])
    func zooArchitecturesAgreeBitForBit(architecture: String) throws {
        let structure = try ModelZoo.make(architecture)
        let full = try ModelZoo.make(architecture)
        full.initialize(seed: 0)
        let effective = try EffectiveMasks(network: structure)
        for (density, cutUnits) in [(0.005, false), (0.05, true), (0.5, false)] {
            let masks = randomMasks(full, density: density, seed: 11, cutUnits: cutUnits)
            let expected = try floatReachEffectiveMasks(full, masks: masks)
            let (actual, report) = try effective.compute(masks)
            for layer in masks.indices {
                #expect(sameValues(actual[layer], expected[layer]), "\(architecture) density \(density) layer \(layer)")
            }
            #expect(report.layers.map(\.effective) == expected.map(nonZeroCount))
            #expect(report.layers.map(\.kept) == masks.map(nonZeroCount))
            let binary = try masks.map { mask in try #require(BinaryMask.from(mask).mask) }
            let (binaryEffective, binaryReport) = try effective.compute(binary)
            #expect(binaryReport == report)
            #expect(zip(binaryEffective, actual).allSatisfy { sameValues($0.tensor, $1) }, "\(architecture) density \(density): bytes")
            #expect(try effective.report(binary) == report && effective.report(masks) == report)
        }
        #expect(try effective.report(structure.prunableParameters.map { _ in nil }).effective
            == floatReachEffectiveMasks(full, masks: full.prunableParameters.map { ones($0.shape) }).map(nonZeroCount).reduce(0, +))
    }

    /// Multi-word bit maps (more than 64 positions a channel) through stride-1 convolutions whose
    /// taps move whole words (same and symmetric padding, 1×1), the per-position path (valid
    /// padding, stride 2), pooling with padding and a dense layer fed a [C, H, W] map directly.
    @Test(arguments: [0.1, 0.3, 0.7])
    func largeMapsMatchBruteForce(density: Double) throws {
        let network = try makeNetwork([
            Conv2d(2, 3, kernelSize: 3, padding: .same), ReLU(),
            Conv2d(3, 3, kernelSize: 5, padding: .symmetric(2)), BatchNorm(3),
            Residual(body: Sequential([Conv2d(3, 4, kernelSize: 1), ReLU(), Conv2d(4, 3, kernelSize: 3, padding: .same)])),
            Conv2d(3, 4, kernelSize: 3, padding: .valid), ReLU(),
            Conv2d(4, 4, kernelSize: 3, stride: 2, padding: .same),
            MaxPool2d(3, stride: 2, padding: .symmetric(1)),
            Linear(4 * 3 * 3, 3),
        ], input: [2, 11, 13], classes: 3)
        var rng = RandomGenerator(seed: 3, stream: "large-maps-\(density)")
        let effective = try EffectiveMasks(network: network)
        for trial in 0..<4 {
            let masks: [[Float]] = network.prunableParameters.map { parameter in
                (0..<parameter.count).map { _ in rng.nextUniform() < Float(density) ? 1 : 0 }
            }
            let expected = try BruteForcePaths.effectiveMasks(network, masks: masks)
            let tensors = zip(network.prunableParameters, masks).map { Tensor(shape: $0.shape, values: $1) }
            let (actual, _) = try effective.compute(tensors)
            for layer in masks.indices {
                #expect(actual[layer].array == expected[layer], "trial \(trial) layer \(layer) density \(density)")
            }
        }
    }

    /// The bit shift carries bits across words in both directions and reads zeros past the ends.
    @Test func shiftMovesBitsAcrossWords() {
        let source: [UInt64] = [0x8000_0000_0000_0001, 0x0000_0000_0000_0003]
        var moved = [UInt64](repeating: 0, count: 3)
        for offset in [-130, -65, -64, -1, 0, 1, 63, 64, 65, 127, 128] {
            source.withUnsafeBufferPointer { src in
                moved.withUnsafeMutableBufferPointer { dst in
                    Bits.shift(src.baseAddress!, srcWords: 2, by: offset, into: dst.baseAddress!, dstWords: 3)
                }
            }
            for bit in 0..<(3 * 64) {
                let from = bit + offset
                let expected = from >= 0 && from < 128 && (source[from / 64] >> UInt64(from % 64)) & 1 == 1
                #expect(((moved[bit / 64] >> UInt64(bit % 64)) & 1 == 1) == expected, "offset \(offset) bit \(bit)")
            }
        }
    }

    /// Neither building the path structure nor computing effective masks reads or writes a weight:
    /// the (lazily mapped) weight and gradient storage of VGG-19 stays out of memory.
    @Test func effectiveMasksNeverTouchTheWeights() throws {
        let network = try ModelZoo.make("vgg19")
        let large = network.parameters.flatMap { [$0.value, $0.gradient] }.filter { $0.count * 4 >= 1 << 20 }
        #expect(large.count >= 20)
        let effective = try EffectiveMasks(network: network)
        let masks = network.prunableParameters.map { BinaryMask(shape: $0.shape) }
        for mask in masks { mask[mask.count / 2] = 1 }
        _ = try effective.compute(masks)
        #expect(large.map(residentPages).reduce(0, +) == 0)
        network.initialize(seed: 0)  // the measure sees a touch: initialising brings the weights in
        #expect(network.prunableParameters.filter { $0.count * 4 >= 1 << 20 }.allSatisfy { residentPages($0.value) > 0 })
    }
}
