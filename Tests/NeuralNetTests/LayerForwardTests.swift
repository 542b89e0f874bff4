import Testing
import Tensors
@testable import NeuralNet

/// Naive float64 NCHW operations, written from the definitions, for checking layer outputs.
enum Naive {
    struct Image { var values: [Double]; var shape: [Int] }   // [N, C, H, W] or [N, F]

    static func conv(_ x: Image, weight: [Float], bias: [Float]?, outChannels: Int, kernel: Int, stride: Int,
                     pad: (top: Int, left: Int, bottom: Int, right: Int), groups: Int) -> Image {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h + pad.top + pad.bottom - kernel) / stride + 1, ow = (w + pad.left + pad.right - kernel) / stride + 1
        let inPerGroup = c / groups, outPerGroup = outChannels / groups
        var y = [Double](repeating: 0, count: n * outChannels * oh * ow)
        for b in 0..<n { for o in 0..<outChannels { for i in 0..<oh { for j in 0..<ow {
            var sum = bias.map { Double($0[o]) } ?? 0
            for ci in 0..<inPerGroup {
                let channel = (o / outPerGroup) * inPerGroup + ci
                for p in 0..<kernel { for q in 0..<kernel {
                    let yy = i * stride - pad.top + p, xx = j * stride - pad.left + q
                    guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                    sum += x.values[((b * c + channel) * h + yy) * w + xx] * Double(weight[((o * inPerGroup + ci) * kernel + p) * kernel + q])
                } }
            }
            y[((b * outChannels + o) * oh + i) * ow + j] = sum
        } } } }
        return Image(values: y, shape: [n, outChannels, oh, ow])
    }

    /// Per-channel normalisation with the batch's biased statistics (training) or given ones.
    static func batchNorm(_ x: Image, scale: [Float], shift: [Float], epsilon: Double,
                          statistics: (mean: [Double], variance: [Double])? = nil) -> Image {
        let channels = x.shape[1], plane = x.shape.count == 4 ? x.shape[2] * x.shape[3] : 1
        func channel(_ i: Int) -> Int { (i / plane) % channels }
        var mean = [Double](repeating: 0, count: channels), variance = mean
        if let statistics { (mean, variance) = statistics } else {
            let count = Double(x.values.count / channels)
            for (i, v) in x.values.enumerated() { mean[channel(i)] += v / count }
            for (i, v) in x.values.enumerated() { variance[channel(i)] += (v - mean[channel(i)]) * (v - mean[channel(i)]) / count }
        }
        return Image(values: x.values.enumerated().map { i, v in
            let c = channel(i)
            return Double(scale[c]) * (v - mean[c]) / (variance[c] + epsilon).squareRoot() + Double(shift[c])
        }, shape: x.shape)
    }

    static func relu(_ x: Image) -> Image { Image(values: x.values.map { max($0, 0) }, shape: x.shape) }

    static func maxPool2(_ x: Image) -> Image {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        var y: [Double] = []
        for plane in 0..<(n * c) { for i in 0..<(h / 2) { for j in 0..<(w / 2) {
            let base = plane * h * w
            y.append([0, 1].flatMap { p in [0, 1].map { q in x.values[base + (2 * i + p) * w + 2 * j + q] } }.max()!)
        } } }
        return Image(values: y, shape: [n, c, h / 2, w / 2])
    }

    static func linear(_ x: Image, weight: [Float], bias: [Float], outFeatures: Int) -> Image {
        let rows = x.shape[0], inFeatures = x.values.count / rows
        var y: [Double] = []
        for r in 0..<rows { for o in 0..<outFeatures {
            var sum = Double(bias[o])
            for k in 0..<inFeatures { sum += x.values[r * inFeatures + k] * Double(weight[o * inFeatures + k]) }
            y.append(sum)
        } }
        return Image(values: y, shape: [rows, outFeatures])
    }
}

@Suite("Layer outputs, read in NCHW order, match a naive float64 network")
struct LayerForwardTests {
    func expectClose(_ got: [Float], _ want: Naive.Image, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(got.count == want.values.count, "\(what): \(got.count) values, want \(want.values.count)", sourceLocation: sourceLocation)
        var worst = 0.0
        for (g, w) in zip(got, want.values) { worst = max(worst, abs(Double(g) - w) / (1 + abs(w))) }
        // float32 layers against float64: ~1e-6 per operation; 1e-4 catches any wrong tap or channel.
        #expect(worst < 1e-4, "\(what): worst relative error \(worst)", sourceLocation: sourceLocation)
    }

    @Test func linearHandComputed() throws {
        let layer = Linear(3, 2)
        for (i, v) in [1, 0, -1, 2, 1, 0.5].enumerated() { layer.weight.value[i] = Float(v) }
        layer.bias!.value[0] = 0.5; layer.bias!.value[1] = -1
        let y = try layer.forward(Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), training: false)
        // Row (1, 2, 3): 1 − 3 + 0.5 = −1.5; 2 + 2 + 1.5 − 1 = 4.5.  Row (4, 5, 6): 4 − 6 + 0.5 = −1.5; 8 + 5 + 3 − 1 = 15.
        #expect(try CPUBackend.shared.plainValues(of: y) == [-1.5, 4.5, -1.5, 15])
    }

    /// conv(pad 1) → BN → ReLU → max pool → grouped stride-2 "same" conv (padding bottom/right only)
    /// → ReLU → flatten → dense, layer by layer, in training and then evaluation mode.
    @Test func smallConvNetLayerByLayer() throws {
        let conv1 = Conv2d(2, 4, kernelSize: 3, padding: .symmetric(1)), bn = BatchNorm(4)
        let conv2 = Conv2d(4, 6, kernelSize: 3, stride: 2, padding: .same, groups: 2), dense = Linear(24, 3)
        let layers: [any Layer] = [conv1, bn, ReLU(), MaxPool2d(2), conv2, ReLU(), Flatten(), dense]
        let network = Sequential(layers)
        randomizeParameters(network, seed: 31)
        let input = randomTensor([2, 2, 8, 8], seed: 32)
        let backend = CPUBackend.shared

        func reference(statistics: (mean: [Double], variance: [Double])?) -> [Naive.Image] {
            var x = Naive.Image(values: input.array.map(Double.init), shape: input.shape)
            var outputs: [Naive.Image] = []
            x = Naive.conv(x, weight: conv1.weight.value.array, bias: conv1.bias!.value.array, outChannels: 4, kernel: 3, stride: 1,
                           pad: (1, 1, 1, 1), groups: 1); outputs.append(x)
            x = Naive.batchNorm(x, scale: bn.scale.value.array, shift: bn.shift.value.array, epsilon: Double(bn.epsilon),
                                statistics: statistics); outputs.append(x)
            x = Naive.relu(x); outputs.append(x)
            x = Naive.maxPool2(x); outputs.append(x)
            // TensorFlow "same" on 4×4 with k3 s2: out 2, total padding 1, all of it bottom/right.
            x = Naive.conv(x, weight: conv2.weight.value.array, bias: conv2.bias!.value.array, outChannels: 6, kernel: 3, stride: 2,
                           pad: (0, 0, 1, 1), groups: 2); outputs.append(x)
            x = Naive.relu(x); outputs.append(x)
            x = Naive.Image(values: x.values, shape: [2, 24]); outputs.append(x)
            x = Naive.linear(x, weight: dense.weight.value.array, bias: dense.bias!.value.array, outFeatures: 3); outputs.append(x)
            return outputs
        }

        for training in [true, false] {
            let expected = reference(statistics: training ? nil
                : (bn.runningMean.array.map(Double.init), bn.runningVariance.array.map(Double.init)))
            var x = input
            for (index, layer) in layers.enumerated() {
                x = try layer.forward(x, training: training)
                #expect(x.shape == expected[index].shape, "\(layer.description) shape")
                expectClose(try backend.plainValues(of: x), expected[index], "\(training ? "training" : "eval") \(layer.description)")
            }
        }
        // The whole Sequential gives the same logits as the layers one by one.
        let logits = try backend.plainValues(of: try network.forward(input, training: false))
        expectClose(logits, reference(statistics: (bn.runningMean.array.map(Double.init), bn.runningVariance.array.map(Double.init))).last!,
                    "Sequential")
    }

    /// Average pooling layers exclude padding: AvgPool2d(3, stride 1, pad 1) of a constant is that constant.
    @Test func averagePoolLayerExcludesPadding() throws {
        let input = Tensor(shape: [1, 2, 3, 4])
        input.fill(2.5)
        let y = try AvgPool2d(3, stride: 1, padding: .symmetric(1)).forward(input, training: false)
        #expect(y.shape == [1, 2, 3, 4])
        #expect(try CPUBackend.shared.plainValues(of: y).allSatisfy { $0 == 2.5 })
        // Global average pooling gives [N, C] means: channel means of 0…11 and 12…23 are 5.5 and 17.5.
        let ramp = Tensor(shape: [1, 2, 3, 4], values: (0..<24).map(Float.init))
        let pooled = try GlobalAvgPool2d().forward(ramp, training: false)
        #expect(pooled.shape == [1, 2])
        #expect(try CPUBackend.shared.plainValues(of: pooled) == [5.5, 17.5])
    }
}
