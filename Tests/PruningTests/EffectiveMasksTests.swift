import NeuralNet
import Pruning
import Tensors
import Testing

/// A network from explicit layers (input [C, H, W] or [features]).
func makeNetwork(_ layers: [any Layer], input: [Int], classes: Int) throws -> Network {
    try Network(name: "test", inputShape: input, classes: classes, body: Sequential(layers))
}

func mask(_ shape: [Int], _ values: [Float]) -> Tensor { Tensor(shape: shape, values: values) }

func ones(_ shape: [Int]) -> Tensor {
    let t = Tensor(shape: shape)
    t.fill(1)
    return t
}

@Suite struct EffectiveMasksHandMadeTests {
    /// 3 → 2 → 2 dense. Hidden unit 0 has no kept input weight, so the two weights leaving it
    /// (column 0 of the second layer) are kept but lie on no path.
    @Test func unitWithNoInputsCutsItsOutgoingWeights() throws {
        let network = try makeNetwork([Linear(3, 2), ReLU(), Linear(2, 2)], input: [3], classes: 2)
        let first = mask([2, 3], [0, 0, 0,
                                  1, 1, 1])
        let (masks, report) = try EffectiveMasks(network: network).compute([first, ones([2, 2])])
        #expect(masks[0].array == [0, 0, 0, 1, 1, 1])
        #expect(masks[1].array == [0, 1,
                                   0, 1])
        #expect(report.kept == 7 && report.effective == 5)
        #expect(report.layers.map(\.effective) == [3, 2])
    }

    /// Hidden unit 1 feeds nothing (column 1 of the second layer is pruned): its three incoming
    /// weights are kept but not effective.
    @Test func unitWithNoOutputsCutsItsIncomingWeights() throws {
        let network = try makeNetwork([Linear(3, 2), BatchNorm(2), ReLU(), Linear(2, 2)], input: [3], classes: 2)
        let second = mask([2, 2], [1, 0,
                                   1, 0])
        let (masks, report) = try EffectiveMasks(network: network).compute([ones([2, 3]), second])
        #expect(masks[0].array == [1, 1, 1, 0, 0, 0])
        #expect(masks[1].array == [1, 0, 1, 0])
        #expect(report.effective == 5 && report.kept == 8)
    }

    /// TF "same" with stride 2 on a 2×2 input: one output, padding 0 on top/left and 1 on the
    /// bottom/right, so the window covers rows 0…2 and columns 0…2 of which row 2 and column 2 are
    /// padding. The five taps in the last row or column only ever multiply padding.
    @Test func tapThatSeesOnlyPaddingIsNotEffective() throws {
        let network = try makeNetwork([Conv2d(1, 1, kernelSize: 3, stride: 2, padding: .same), Flatten(), Linear(1, 2)],
                                      input: [1, 2, 2], classes: 2)
        let (masks, report) = try EffectiveMasks(network: network).compute([nil, nil])
        #expect(masks[0].array == [1, 1, 0,
                                   1, 1, 0,
                                   0, 0, 0])
        #expect(report.layers[0].effective == 4 && report.layers[0].kept == 9)
        // PyTorch-style symmetric padding puts the padding on top/left instead.
        let symmetric = try makeNetwork([Conv2d(1, 1, kernelSize: 3, stride: 2, padding: .symmetric(1)), Flatten(), Linear(1, 2)],
                                        input: [1, 2, 2], classes: 2)
        let (symmetricMasks, _) = try EffectiveMasks(network: symmetric).compute([nil, nil])
        #expect(symmetricMasks[0].array == [0, 0, 0,
                                            0, 1, 1,
                                            0, 1, 1])
    }

    /// conv A → residual(conv B1 → conv B2, identity) → conv C. With B2 fully pruned the branch is
    /// dead: B1 leads nowhere, but A and C stay effective through the shortcut.
    @Test func prunedResidualBranchKeepsConnectivityThroughShortcut() throws {
        let body = Sequential([Conv2d(2, 2, kernelSize: 1), BatchNorm(2), ReLU(), Conv2d(2, 2, kernelSize: 1), BatchNorm(2)])
        let network = try makeNetwork([Conv2d(1, 2, kernelSize: 1), Residual(body: body), ReLU(), Conv2d(2, 1, kernelSize: 1),
                                       Flatten(), Linear(4, 2)],
                                      input: [1, 2, 2], classes: 2)
        let b2 = mask([2, 2, 1, 1], [0, 0, 0, 0])
        let (masks, report) = try EffectiveMasks(network: network).compute([nil, nil, b2, nil, nil])
        #expect(masks[0].array == [1, 1])
        #expect(masks[1].array == [0, 0, 0, 0])
        #expect(masks[3].array == [1, 1])
        #expect(report.layers.map(\.effective) == [2, 0, 0, 2, 8])
        // The same branch without its shortcut cuts the network: nothing is effective.
        let plain = try makeNetwork([Conv2d(1, 2, kernelSize: 1), Conv2d(2, 2, kernelSize: 1), Conv2d(2, 2, kernelSize: 1),
                                     Conv2d(2, 1, kernelSize: 1), Flatten(), Linear(4, 2)], input: [1, 2, 2], classes: 2)
        #expect(try EffectiveMasks(network: plain).report([nil, nil, b2, nil, nil]).effective == 0)
    }

    /// conv (1×1, two channels) → 2×2 max pool → dense. The dense layer keeps only the weight from
    /// channel 0's single pooled unit: every pixel of that window feeds it, so channel 0's conv
    /// weight is effective and channel 1's is not.
    @Test func pooledWindowRoutesEveryPositionOfTheWindow() throws {
        let network = try makeNetwork([Conv2d(1, 2, kernelSize: 1), MaxPool2d(2), Flatten(), Linear(2, 1)], input: [1, 2, 2], classes: 1)
        let dense = mask([1, 2], [1, 0])
        let (masks, report) = try EffectiveMasks(network: network).compute([nil, dense])
        #expect(masks[0].array == [1, 0])
        #expect(masks[1].array == [1, 0])
        #expect(report.effective == 2)
        // A 3×3 window at stride 3 on a 4×4 map with no padding never sees row/column 3: a
        // 2×2 conv tap reading only there would be dead, but a 1×1 tap sees the window's pixels.
        let partial = try makeNetwork([Conv2d(1, 1, kernelSize: 1), AvgPool2d(3), Flatten(), Linear(1, 1)], input: [1, 4, 4], classes: 1)
        #expect(try EffectiveMasks(network: partial).report([nil, nil]).effective == 2)
    }

    /// A global average pool joins every position of a channel; a channel whose filters are all
    /// pruned disconnects the dense weights reading it.
    @Test func globalPoolAndDeadChannel() throws {
        let network = try makeNetwork([Conv2d(2, 3, kernelSize: 3, padding: .symmetric(1)), ReLU(), GlobalAvgPool2d(), Linear(3, 2)],
                                      input: [2, 4, 4], classes: 2)
        var convMask = [Float](repeating: 1, count: 3 * 2 * 9)
        for i in 18..<36 { convMask[i] = 0 }  // output channel 1 has no kept weight: a unit with no inputs
        let (masks, report) = try EffectiveMasks(network: network).compute([mask([3, 2, 3, 3], convMask), nil])
        #expect(masks[1].array == [1, 0, 1, 1, 0, 1])
        #expect(report.layers.map(\.effective) == [36, 4])
    }

    @Test func denseMasksAreFullyEffectiveAndCountsAddUp() throws {
        for name in ["lenet300-100", "lenet5", "resnet20"] {
            let network = try ModelZoo.make(name)
            let report = try EffectiveMasks(network: network).report(network.prunableParameters.map { _ in nil })
            #expect(report.kept == network.prunableParameterCount)
            // Only padding-only taps may drop out of a dense network (none in these three).
            #expect(report.effective == report.kept, "\(name)")
        }
    }

    @Test func wrongMaskCountOrShapeIsAnError() throws {
        let network = try makeNetwork([Linear(3, 2), Linear(2, 2)], input: [3], classes: 2)
        let effective = try EffectiveMasks(network: network)
        #expect(throws: PruningError.maskCount(expected: 2, got: 1)) { try effective.report([nil]) }
        #expect(throws: PruningError.maskShape(layer: "fc1", expected: [2, 3], got: [3, 2])) {
            try effective.report([Tensor(shape: [3, 2]), nil])
        }
    }
}

@Suite struct EffectiveMasksRandomizedTests {
    /// Small networks with strides, TF-same and symmetric padding, grouped and depthwise
    /// convolutions, max/average/global pooling and residual blocks with identity and projection
    /// shortcuts.
    static func networks() throws -> [Network] {
        let a = try makeNetwork([
            Conv2d(2, 4, kernelSize: 3, stride: 2, padding: .same), BatchNorm(4), ReLU(),
            Residual(body: Sequential([Conv2d(4, 4, kernelSize: 3, padding: .symmetric(1)), BatchNorm(4), ReLU(),
                                       Conv2d(4, 4, kernelSize: 3, padding: .symmetric(1))])),
            MaxPool2d(2), Flatten(), Linear(4 * 2 * 2, 5),
        ], input: [2, 7, 7], classes: 5)
        let b = try makeNetwork([
            Conv2d(3, 6, kernelSize: 3, padding: .same), ReLU(),
            Residual(body: Sequential([Conv2d(6, 6, kernelSize: 3, stride: 2, padding: .same, groups: 3), ReLU(),
                                       Conv2d(6, 8, kernelSize: 1)]),
                     shortcut: Sequential([Conv2d(6, 8, kernelSize: 1, stride: 2), BatchNorm(8)])),
            Conv2d(8, 8, kernelSize: 3, padding: .symmetric(1), groups: 8), ReLU(),
            AvgPool2d(3, stride: 2, padding: .symmetric(1)), GlobalAvgPool2d(), Linear(8, 3),
        ], input: [3, 6, 6], classes: 3)
        let c = try makeNetwork([
            Flatten(), Linear(12, 10), ReLU(),
            Residual(body: Sequential([Linear(10, 10), ReLU(), Linear(10, 10)])),
            Linear(10, 4),
        ], input: [3, 2, 2], classes: 4)
        return [a, b, c]
    }

    @Test(arguments: [0.05, 0.2, 0.5, 0.9])
    func matchesBruteForceSearchOnTheUnitGraph(density: Double) throws {
        var rng = RandomGenerator(seed: 7, stream: "masks-\(density)")
        for (netIndex, network) in try Self.networks().enumerated() {
            let effective = try EffectiveMasks(network: network)
            for trial in 0..<6 {
                let masks: [[Float]] = network.prunableParameters.map { parameter in
                    (0..<parameter.count).map { _ in rng.nextUniform() < Float(density) ? 1 : 0 }
                }
                let expected = try BruteForcePaths.effectiveMasks(network, masks: masks)
                let tensors = zip(network.prunableParameters, masks).map { Tensor(shape: $0.shape, values: $1) }
                let (actual, report) = try effective.compute(tensors)
                for layer in masks.indices {
                    let mismatches = zip(actual[layer].array, expected[layer]).filter { $0 != $1 }.count
                    #expect(mismatches == 0, "network \(netIndex) trial \(trial) layer \(layer) density \(density)")
                }
                #expect(report.effective == expected.joined().reduce(0) { $0 + Int($1) })
                #expect(report.kept == masks.joined().reduce(0) { $0 + Int($1) })
            }
        }
    }
}
