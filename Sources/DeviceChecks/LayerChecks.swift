import NeuralNet
import Tensors

/// Every layer type, forward (training and inference) and backward, built twice — on the device
/// and on the CPU — with the same parameters and inputs: outputs, input gradients and parameter
/// gradients must agree.
enum LayerChecks {
    typealias Make = @Sendable (any Backend) -> any Layer

    static var all: [DeviceCheck] {
        let cases: [(String, [Int], Double, Make)] = [
            ("Linear(37→23)", [16, 37], 1e-5, { Linear(37, 23, backend: $0) }),
            ("Linear(784→300) without bias", [32, 784], 1e-5, { Linear(784, 300, bias: false, backend: $0) }),
            ("Conv2d(3→8, 3×3, pad 1)", [4, 3, 12, 12], 1e-5, { Conv2d(3, 8, kernelSize: 3, padding: .symmetric(1), backend: $0) }),
            ("Conv2d(4→6, 5×5, valid, no bias)", [3, 4, 11, 9], 1e-5, { Conv2d(4, 6, kernelSize: 5, bias: false, backend: $0) }),
            ("Conv2d(6→8, 3×3, stride 2, same, groups 2)", [2, 6, 10, 10], 1e-5,
             { Conv2d(6, 8, kernelSize: 3, stride: 2, padding: .same, groups: 2, backend: $0) }),
            ("Conv2d(8→8, 3×3, depthwise)", [2, 8, 7, 7], 1e-5,
             { Conv2d(8, 8, kernelSize: 3, padding: .symmetric(1), groups: 8, bias: false, backend: $0) }),
            ("Conv2d(5→7, 1×1, stride 2)", [3, 5, 9, 9], 1e-5, { Conv2d(5, 7, kernelSize: 1, stride: 2, backend: $0) }),
            ("Conv2d(64→64, 3×3, pad 1) at 16×16", [8, 64, 16, 16], 1e-5,
             { Conv2d(64, 64, kernelSize: 3, padding: .symmetric(1), backend: $0) }),
            ("Conv2d(512→512, 3×3, same) at 2×2 (VGG's last block)", [8, 512, 2, 2], 1e-5,
             { Conv2d(512, 512, kernelSize: 3, padding: .same, backend: $0) }),
            ("BatchNorm(512) at 2×2", [8, 512, 2, 2], 1e-4, { BatchNorm(512, backend: $0) }),
            ("MaxPool2d(2) at 2×2", [8, 512, 2, 2], 0, { MaxPool2d(2, backend: $0) }),
            ("BatchNorm(8) on [N, C, H, W]", [6, 8, 5, 5], 1e-4, { BatchNorm(8, backend: $0) }),
            ("BatchNorm(23) on [N, C]", [16, 23], 1e-4, { BatchNorm(23, backend: $0) }),
            ("ReLU", [4, 3, 6, 6], 0, { ReLU(backend: $0) }),
            ("ReLU6", [4, 3, 6, 6], 0, { ReLU(ceiling: 6, backend: $0) }),
            ("MaxPool2d(2)", [3, 4, 8, 8], 0, { MaxPool2d(2, backend: $0) }),
            ("MaxPool2d(3, stride 2, pad 1)", [3, 4, 9, 9], 1e-6, { MaxPool2d(3, stride: 2, padding: .symmetric(1), backend: $0) }),
            ("AvgPool2d(3, stride 1, pad 1)", [3, 4, 7, 7], 1e-6, { AvgPool2d(3, stride: 1, padding: .symmetric(1), backend: $0) }),
            ("GlobalAvgPool2d", [3, 5, 6, 6], 1e-6, { GlobalAvgPool2d(backend: $0) }),
            ("Flatten", [3, 4, 5, 5], 0, { Flatten(backend: $0) }),
            ("Residual(conv-bn-relu-conv, projection shortcut)", [2, 4, 8, 8], 1e-4, { backend in
                Residual(body: Sequential([Conv2d(4, 8, kernelSize: 3, stride: 2, padding: .symmetric(1), backend: backend),
                                           BatchNorm(8, backend: backend), ReLU(backend: backend),
                                           Conv2d(8, 8, kernelSize: 3, padding: .symmetric(1), backend: backend)]),
                         shortcut: Sequential([Conv2d(4, 8, kernelSize: 1, stride: 2, backend: backend)]), backend: backend)
            }),
            ("Residual(identity shortcut)", [2, 4, 6, 6], 1e-5, { backend in
                Residual(body: Sequential([Conv2d(4, 4, kernelSize: 3, padding: .symmetric(1), backend: backend), ReLU(backend: backend)]),
                         backend: backend)
            }),
        ]
        return cases.map { name, shape, limit, make in
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

    static func compareLayer(_ make: Make, inputShape: [Int], device: any Backend, cpu: any Backend) throws -> Comparison {
        let outputs = try [device, cpu].map { backend -> [String: [Float]] in
            let layer = make(backend)
            initialize(layer, seed: 61)
            let input = randomTensor(inputShape, seed: 62)
            var result: [String: [Float]] = [:]
            let output = try layer.forward(input, training: true)
            result["output"] = try values(output, backend)
            let gradient = randomTensor(output.shape, seed: 63)
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
        var comparison = Comparison()
        for key in outputs[1].keys.sorted() {
            comparison.add(key, device: outputs[0][key] ?? [], cpu: outputs[1][key] ?? [])
        }
        return comparison
    }
}
