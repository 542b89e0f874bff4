import NeuralNet
import Tensors

/// Every layer type, forward (training and inference) and backward, built twice — on the device
/// and on the CPU — with the same parameters and inputs: outputs, input gradients and parameter
/// gradients must agree.
enum LayerChecks {
    typealias Make = @Sendable (any Backend) -> any Layer

    /// (name, input shape, limit, layer): each limit is `Tolerance.rounding` for the check's longest
    /// reduction (forward fan-in, or batch × output positions for weight gradients) and the
    /// reductions chained in it; 0 where no arithmetic rounds (max, comparisons, copies).
    static var cases: [(name: String, shape: [Int], limit: Double, make: Make)] {
        [
            ("Linear(37→23)", [16, 37], Tolerance.rounding(terms: 37, depth: 1), { Linear(37, 23, backend: $0) }),
            ("Linear(784→300) without bias", [32, 784], Tolerance.rounding(terms: 784, depth: 1),
             { Linear(784, 300, bias: false, backend: $0) }),
            ("Conv2d(3→8, 3×3, pad 1)", [4, 3, 12, 12], Tolerance.rounding(terms: 4 * 12 * 12, depth: 1),
             { Conv2d(3, 8, kernelSize: 3, padding: .symmetric(1), backend: $0) }),
            ("Conv2d(4→6, 5×5, valid, no bias)", [3, 4, 11, 9], Tolerance.rounding(terms: 4 * 25, depth: 1),
             { Conv2d(4, 6, kernelSize: 5, bias: false, backend: $0) }),
            ("Conv2d(6→8, 3×3, stride 2, same, groups 2)", [2, 6, 10, 10], Tolerance.rounding(terms: 2 * 5 * 5, depth: 1),
             { Conv2d(6, 8, kernelSize: 3, stride: 2, padding: .same, groups: 2, backend: $0) }),
            ("Conv2d(8→8, 3×3, depthwise)", [2, 8, 7, 7], Tolerance.rounding(terms: 2 * 7 * 7, depth: 1),
             { Conv2d(8, 8, kernelSize: 3, padding: .symmetric(1), groups: 8, bias: false, backend: $0) }),
            ("Conv2d(5→7, 1×1, stride 2)", [3, 5, 9, 9], Tolerance.rounding(terms: 3 * 5 * 5, depth: 1),
             { Conv2d(5, 7, kernelSize: 1, stride: 2, backend: $0) }),
            ("Conv2d(64→64, 3×3, pad 1) at 16×16", [8, 64, 16, 16], Tolerance.rounding(terms: 8 * 16 * 16, depth: 1),
             { Conv2d(64, 64, kernelSize: 3, padding: .symmetric(1), backend: $0) }),
            ("Conv2d(512→512, 3×3, same) at 2×2 (VGG's last block)", [8, 512, 2, 2], Tolerance.rounding(terms: 512 * 9, depth: 1),
             { Conv2d(512, 512, kernelSize: 3, padding: .same, backend: $0) }),
            // BatchNorm's backward chains three reductions over the batch (mean, variance, the two means of the gradient).
            ("BatchNorm(512) at 2×2", [8, 512, 2, 2], Tolerance.rounding(terms: 8 * 2 * 2, depth: 3), { BatchNorm(512, backend: $0) }),
            ("MaxPool2d(2) at 2×2", [8, 512, 2, 2], 0, { MaxPool2d(2, backend: $0) }),
            ("BatchNorm(8) on [N, C, H, W]", [6, 8, 5, 5], Tolerance.rounding(terms: 6 * 5 * 5, depth: 3), { BatchNorm(8, backend: $0) }),
            ("BatchNorm(23) on [N, C]", [16, 23], Tolerance.rounding(terms: 16, depth: 3), { BatchNorm(23, backend: $0) }),
            ("ReLU", [4, 3, 6, 6], 0, { ReLU(backend: $0) }),
            ("ReLU6", [4, 3, 6, 6], 0, { ReLU(ceiling: 6, backend: $0) }),
            ("MaxPool2d(2)", [3, 4, 8, 8], 0, { MaxPool2d(2, backend: $0) }),
            // Overlapping windows add gradients where they meet (at most 4 windows cover a pixel).
            ("MaxPool2d(3, stride 2, pad 1)", [3, 4, 9, 9], Tolerance.rounding(terms: 4, depth: 1),
             { MaxPool2d(3, stride: 2, padding: .symmetric(1), backend: $0) }),
            ("AvgPool2d(3, stride 1, pad 1)", [3, 4, 7, 7], Tolerance.rounding(terms: 9, depth: 1),
             { AvgPool2d(3, stride: 1, padding: .symmetric(1), backend: $0) }),
            ("GlobalAvgPool2d", [3, 5, 6, 6], Tolerance.rounding(terms: 36, depth: 1), { GlobalAvgPool2d(backend: $0) }),
            ("Flatten", [3, 4, 5, 5], 0, { Flatten(backend: $0) }),
            // conv (fan-in 8·9 = 72) → BatchNorm (3 reductions) → conv, and back: 4 chained reductions
            // of at most 72 terms between the input and its gradient.
            ("Residual(conv-bn-relu-conv, projection shortcut)", [2, 4, 8, 8], Tolerance.rounding(terms: 72, depth: 4), { backend in
                Residual(body: Sequential([Conv2d(4, 8, kernelSize: 3, stride: 2, padding: .symmetric(1), backend: backend),
                                           BatchNorm(8, backend: backend), ReLU(backend: backend),
                                           Conv2d(8, 8, kernelSize: 3, padding: .symmetric(1), backend: backend)]),
                         shortcut: Sequential([Conv2d(4, 8, kernelSize: 1, stride: 2, backend: backend)]), backend: backend)
            }),
            ("Residual(identity shortcut)", [2, 4, 6, 6], Tolerance.rounding(terms: 2 * 6 * 6, depth: 2), { backend in
                Residual(body: Sequential([Conv2d(4, 4, kernelSize: 3, padding: .symmetric(1), backend: backend), ReLU(backend: backend)]),
                         backend: backend)
            }),
        ]
    }

    static var all: [DeviceCheck] {
        cases.map { name, shape, limit, make in
            DeviceCheck("\(name) forward/backward", limit: limit) { device, cpu in try compareLayer(make, inputShape: shape, device: device, cpu: cpu) }
        }
    }

    /// Same random parameters on both copies (scales and shifts too, so BatchNorm is not the identity).
    static func initialize(_ layer: any Layer, seed: UInt64) {
        for (index, parameter) in collectParameters(layer).enumerated() {
            let values = randomTensor(parameter.shape, seed: seed + UInt64(index), scale: parameter.role == .scale ? 0.5 : 0.3)
            let p = parameter.value.data, v = values.data
            for i in 0..<parameter.count { p[i] = parameter.role == .scale ? 1 + v[i] : v[i] }
        }
    }

    static func collectParameters(_ layer: any Layer) -> [Parameter] {
        layer.children.isEmpty ? layer.parameters : layer.children.flatMap(collectParameters)
    }

    /// The scale of what the layer checks' reductions add: inputs and upstream gradients are
    /// standard normal, parameters of scale 0.3 (`initialize`), so terms are of order 1.
    static let termScale = 1.0

    /// `dropTerm`: the first backend's backward pass loses one term (the upstream gradient's first
    /// element), as a kernel with an off-by-one reduction would — what the limits must still catch.
    static func compareLayer(_ make: Make, inputShape: [Int], device: any Backend, cpu: any Backend,
                             dropTerm: Bool = false) throws -> Comparison {
        let outputs = try [device, cpu].enumerated().map { index, backend -> [String: [Float]] in
            let layer = make(backend)
            initialize(layer, seed: 61)
            let input = randomTensor(inputShape, seed: 62)
            var result: [String: [Float]] = [:]
            let output = try layer.forward(input, training: true)
            result["output"] = try values(output, backend)
            let gradient = randomTensor(output.shape, seed: 63)
            if dropTerm, index == 0 { gradient.data[0] = 0 }
            if let inputGradient = try layer.backward(gradient, needsInputGradient: true) {
                result["input gradient"] = try values(inputGradient, backend)
            }
            for (index, parameter) in collectParameters(layer).enumerated() {
                result["\(parameter.name) \(index) gradient"] = try values(parameter.gradient, backend)
            }
            for (name, tensor) in layer.buffers { result[name] = try values(tensor, backend) }
            result["inference output"] = try values(try layer.forward(input, training: false), backend)
            return result
        }
        var comparison = Comparison(floor: termScale)
        for key in outputs[1].keys.sorted() {
            comparison.add(key, device: outputs[0][key] ?? [], cpu: outputs[1][key] ?? [])
        }
        return comparison
    }
}
