import Testing
import Tensors
@testable import NeuralNet

/// Central finite differences on float32 layers, accumulated in Double.
///
/// The scalar checked is L = Σ output ⊙ r for a fixed random r, so d L / d output = r.
/// float32 forward passes carry ~1e-7 relative noise; with ε = 1e-2 on O(1) inputs the numeric
/// derivative is good to ~1e-4, hence the tolerance |a − n| ≤ 3e-3 + 2e-2·max(|a|, |n|).
struct GradientCheck {
    var epsilon: Float = 1e-2
    var absoluteTolerance = 3e-3
    var relativeTolerance = 2e-2
    /// At most this many coordinates per tensor are checked (spread evenly).
    var samplesPerTensor = 40

    func loss(_ layer: any Layer, _ input: Tensor, _ projection: [Float]) throws -> Double {
        let y = try CPUBackend.shared.plainValues(of: try layer.forward(input, training: true))
        var sum = 0.0
        for i in 0..<y.count { sum += Double(y[i]) * Double(projection[i]) }
        return sum
    }

    func numericDerivative(_ layer: any Layer, _ input: Tensor, _ projection: [Float], perturbing tensor: Tensor, at index: Int) throws -> Double {
        let original = tensor[index]
        tensor[index] = original + epsilon
        let plus = try loss(layer, input, projection)
        tensor[index] = original - epsilon
        let minus = try loss(layer, input, projection)
        tensor[index] = original
        return (plus - minus) / Double(2 * epsilon)
    }

    func indices(_ count: Int) -> [Int] {
        count <= samplesPerTensor ? Array(0..<count) : (0..<samplesPerTensor).map { $0 * count / samplesPerTensor + ($0 % 3) }.filter { $0 < count }
    }

    /// Checks d L / d input and d L / d every parameter; returns the number of coordinates compared.
    @discardableResult
    func check(_ layer: any Layer, input: Tensor, seed: UInt64 = 7, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        var rng = RandomGenerator(seed: seed, stream: "projection")
        let outputShape = try layer.outputShape(for: input.shape)
        let projection = (0..<outputShape.reduce(1, *)).map { _ in Float(rng.nextNormal()) }
        _ = try layer.forward(input, training: true)
        let gradientTensor = Tensor(shape: outputShape, values: projection)
        let inputGradient = Tensor(shape: input.shape,
                                   values: try CPUBackend.shared.plainValues(of: try #require(try layer.backward(gradientTensor, needsInputGradient: true))))
        let parameterGradients = layer.parameters.map { $0.gradient.clone() }

        var compared = 0
        for index in indices(input.count) {
            let numeric = try numericDerivative(layer, input, projection, perturbing: input, at: index)
            let analytic = Double(inputGradient[index])
            #expect(abs(analytic - numeric) <= absoluteTolerance + relativeTolerance * max(abs(analytic), abs(numeric)),
                    "\(layer.description) d/dinput[\(index)]: analytic \(analytic) numeric \(numeric)", sourceLocation: sourceLocation)
            compared += 1
        }
        for (parameter, gradient) in zip(layer.parameters, parameterGradients) {
            for index in indices(parameter.count) {
                let numeric = try numericDerivative(layer, input, projection, perturbing: parameter.value, at: index)
                let analytic = Double(gradient[index])
                #expect(abs(analytic - numeric) <= absoluteTolerance + relativeTolerance * max(abs(analytic), abs(numeric)),
                        "\(layer.description) d/d\(parameter.name)[\(index)]: analytic \(analytic) numeric \(numeric)",
                        sourceLocation: sourceLocation)
                compared += 1
            }
        }
        return compared
    }
}

/// A tensor of normal samples.
func randomTensor(_ shape: [Int], seed: UInt64, scale: Double = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed, stream: "tensor")
    let t = Tensor(shape: shape)
    for i in 0..<t.count { t[i] = Float(rng.nextNormal() * scale) }
    return t
}

/// Random weights for every parameter of a layer (biases and shifts too, so they are exercised).
func randomizeParameters(_ layer: any Layer, seed: UInt64) {
    var rng = RandomGenerator(seed: seed, stream: "parameters")
    for parameter in layer.parameters {
        for i in 0..<parameter.count {
            parameter.value[i] = parameter.role == .scale ? Float(1 + 0.3 * rng.nextNormal()) : Float(0.5 * rng.nextNormal())
        }
    }
}

/// A tensor whose values are distinct and at least 0.05 apart (no ties or kinks within ±ε = 1e-2),
/// shuffled so that maxima land in different window positions; signs alternate around zero.
func distinctTensor(_ shape: [Int], seed: UInt64) -> Tensor {
    let count = shape.reduce(1, *)
    var order = Array(0..<count)
    var rng = RandomGenerator(seed: seed, stream: "distinct")
    rng.shuffle(&order)
    let t = Tensor(shape: shape)
    for i in 0..<count { t[i] = (Float(order[i]) - Float(count) / 2 + 0.5) * 0.05 }
    return t
}
