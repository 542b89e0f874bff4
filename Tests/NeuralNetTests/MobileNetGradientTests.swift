import Testing
import Tensors
@testable import NeuralNet

/// Finite-difference checks of the pieces MobileNetV2 adds: depthwise and grouped convolutions,
/// ReLU6, and the inverted residual block with an identity shortcut.
@Suite("MobileNetV2 building blocks agree with central finite differences")
struct MobileNetGradientTests {
    let check = GradientCheck()

    /// Sets BatchNorm scale/shift per channel from `affine(channel)`.
    static func setBatchNorm(_ layer: BatchNorm, _ affine: (Int) -> (scale: Float, shift: Float)) {
        for channel in 0..<layer.channels {
            let (scale, shift) = affine(channel)
            layer.scale.value[channel] = scale
            layer.shift.value[channel] = shift
        }
    }

    /// Channels whose BatchNorm output sits around 3 (ReLU6 passes it), around 9 (clipped at 6) and
    /// around −3 (clipped at 0), with scale 0.5 so that every value stays ≥ 0.2 from the kinks.
    static func mixedAffine(_ channel: Int) -> (scale: Float, shift: Float) {
        [(0.5, 3), (0.45, 3), (0.5, 9), (0.5, -3)][channel % 4]
    }

    /// Smallest distance of a train-mode output of `layers` (run in order on `input`) to ReLU6's kinks.
    static func distanceToKinks(_ layers: [any Layer], _ input: Tensor) throws -> Float {
        var x = input
        for layer in layers { x = try layer.forward(x, training: true) }
        return try CPUBackend.shared.plainValues(of: x).map { min(abs($0), abs($0 - 6)) }.min() ?? 0
    }

    @Test func relu6WithDistinctValues() throws {
        // 288 values 0.05 apart over ±7.2: 0 and 6 fall midway between two neighbours (±0.025 > ε).
        let input = distinctTensor([2, 4, 6, 6], seed: 31)
        let layer = ReLU(ceiling: 6)
        let output = try CPUBackend.shared.plainValues(of: try layer.forward(input, training: true))
        for i in 0..<input.count { #expect(output[i] == min(max(input[i], 0), 6), "x = \(input[i]) gave \(output[i])") }
        #expect(output.filter { $0 == 6 }.count > 10 && output.filter { $0 == 0 }.count > 100)
        var everyCoordinate = check
        everyCoordinate.samplesPerTensor = input.count
        #expect(try everyCoordinate.check(layer, input: input) == input.count)
    }

    /// MobileNetV2's depthwise stage: 3×3 depthwise (groups = channels) stride 2 "same" on an even
    /// input (padding only bottom/right), BatchNorm, ReLU6; in every activation layout.
    @Test(arguments: [TensorLayout.plain, .channelBlocked(8), .channelBlocked(16), .channelsLast])
    func depthwiseStrideTwoThenBatchNormThenReLU6(layout: TensorLayout) throws {
        let backend = CPUBackend(activationLayout: layout)
        let conv = Conv2d(8, 8, kernelSize: 3, stride: 2, padding: .same, groups: 8, bias: false, backend: backend)
        let norm = BatchNorm(8, backend: backend)
        let layer = Sequential([conv, norm, ReLU(ceiling: 6, backend: backend)])
        randomizeParameters(layer, seed: 32)
        Self.setBatchNorm(norm, Self.mixedAffine)
        let input = randomTensor([2, 8, 8, 8], seed: 33)
        #expect(conv.weight.shape == [8, 1, 3, 3])
        let g = try conv.geometry(for: input.shape)
        #expect([g.padTop, g.padLeft, g.padBottom, g.padRight] == [0, 0, 1, 1] && g.outHeight == 4)
        let margin = try Self.distanceToKinks([conv, norm], input)
        try #require(margin >= 0.2, "a pre-activation lies \(margin) from a ReLU6 kink")
        #expect(try check.check(layer, input: input) > 80)
    }

    @Test(arguments: [(6, 9, 3, 1, 7), (6, 9, 3, 2, 8), (8, 4, 4, 2, 7), (4, 8, 2, 1, 6)])
    func groupedConvolution(inChannels: Int, outChannels: Int, groups: Int, stride: Int, size: Int) throws {
        for layout in [TensorLayout.plain, .channelBlocked(8), .channelsLast] {
            let backend = CPUBackend(activationLayout: layout)
            let layer = Conv2d(inChannels, outChannels, kernelSize: 3, stride: stride, padding: .same, groups: groups, backend: backend)
            #expect(layer.weight.shape == [outChannels, inChannels / groups, 3, 3])
            randomizeParameters(layer, seed: 34)
            try check.check(layer, input: randomTensor([2, inChannels, size, size], seed: 35))
        }
    }

    /// Output channel o of a grouped conv reads only its group's inputs: perturbing another group's
    /// input leaves it unchanged (checked directly, not through the gradient).
    @Test func groupedConvolutionDoesNotMixGroups() throws {
        let layer = Conv2d(4, 6, kernelSize: 3, padding: .same, groups: 2)
        randomizeParameters(layer, seed: 36)
        let input = randomTensor([1, 4, 5, 5], seed: 37)
        let before = try CPUBackend.shared.plainValues(of: try layer.forward(input, training: false))
        for i in 0..<50 { input[2 * 25 + i] += 1 }   // channels 2 and 3: group 1
        let after = try CPUBackend.shared.plainValues(of: try layer.forward(input, training: false))
        #expect(Array(before[0..<75]) == Array(after[0..<75]), "group 0's outputs (channels 0–2) moved")
        #expect(Array(before[75..<150]) != Array(after[75..<150]))
    }

    /// An inverted residual block (t = 3) with an identity shortcut, built from public layers:
    /// 1×1 expansion → BN → ReLU6 → 3×3 depthwise → BN → ReLU6 → 1×1 linear projection → BN, plus x.
    @Test(arguments: [TensorLayout.plain, .channelBlocked(8)])
    func invertedResidualWithIdentityShortcut(layout: TensorLayout) throws {
        let backend = CPUBackend(activationLayout: layout)
        let expand = Conv2d(4, 12, kernelSize: 1, bias: false, backend: backend)
        let norm1 = BatchNorm(12, backend: backend)
        let relu1 = ReLU(ceiling: 6, backend: backend)
        let depthwise = Conv2d(12, 12, kernelSize: 3, padding: .same, groups: 12, bias: false, backend: backend)
        let norm2 = BatchNorm(12, backend: backend)
        let relu2 = ReLU(ceiling: 6, backend: backend)
        let project = Conv2d(12, 4, kernelSize: 1, bias: false, backend: backend)
        let norm3 = BatchNorm(4, backend: backend)
        let block = Residual(body: Sequential([expand, norm1, relu1, depthwise, norm2, relu2, project, norm3]), backend: backend)
        randomizeParameters(block, seed: 38)
        Self.setBatchNorm(norm1, Self.mixedAffine)
        Self.setBatchNorm(norm2) { channel in Self.mixedAffine(channel + 1) }
        let input = randomTensor([2, 4, 5, 5], seed: 39)
        #expect(try block.outputShape(for: input.shape) == input.shape)
        #expect(block.parameters.filter(\.isPrunable).map(\.shape) == [[12, 4, 1, 1], [12, 1, 3, 3], [4, 12, 1, 1]])
        try #require(try Self.distanceToKinks([expand, norm1], input) >= 0.2)
        try #require(try Self.distanceToKinks([expand, norm1, relu1, depthwise, norm2], input) >= 0.2)
        // Three BatchNorms in series on activations near 3 and 6: float32 cancellation in the last
        // one's mean subtraction leaves ~5e-5 of noise in L (e.g. d/dshift of norm2, exactly 0 in
        // exact arithmetic, reads 3e-3 at ε = 1e-2 in blocked layouts); ε = 3e-2 divides it by 3
        // and still moves no pre-activation across a kink (all ≥ 0.2 away).
        var coarser = check
        coarser.epsilon = 3e-2
        #expect(try coarser.check(block, input: input) > 200)
    }

    /// With every body weight zero the block is the identity: the shortcut really adds x.
    @Test func invertedResidualShortcutIsTheIdentity() throws {
        let body = Sequential(MobileNetV2.invertedResidual(8, 8, expansion: 6, stride: 1, backend: CPUBackend.shared))
        let blocks = body.layers
        let residual = try #require(blocks.first as? Residual)
        #expect(blocks.count == 1 && residual.shortcut == nil)
        for parameter in residual.parameters { parameter.value.fill(0) }
        let input = randomTensor([2, 8, 4, 4], seed: 40)
        let output = try CPUBackend.shared.plainValues(of: try residual.forward(input, training: true))
        #expect(output == input.array)
        // Strided or width-changing blocks have no shortcut at all.
        #expect(!(MobileNetV2.invertedResidual(8, 8, expansion: 6, stride: 2, backend: CPUBackend.shared).first is Residual))
        #expect(!(MobileNetV2.invertedResidual(8, 16, expansion: 6, stride: 1, backend: CPUBackend.shared).first is Residual))
    }
}
