import Testing
import Tensors

/// Naive pooling from the definition: max over the window's real pixels; average over the
/// window's real pixels only (padding excluded from both sum and count).
struct NaivePooling {
    let g: PoolingGeometry

    /// Calls `body(outputIndex, inputIndices)` with the in-bounds input pixels of every window.
    func forEachWindow(_ body: (Int, [Int]) -> Void) {
        for n in 0..<g.batch {
            for c in 0..<g.channels {
                let plane = (n * g.channels + c) * g.inHeight * g.inWidth
                for i in 0..<g.outHeight {
                    for j in 0..<g.outWidth {
                        var window: [Int] = []
                        for p in 0..<g.kernelHeight {
                            let y = i * g.strideHeight - g.padTop + p
                            guard y >= 0 && y < g.inHeight else { continue }
                            for q in 0..<g.kernelWidth {
                                let x = j * g.strideWidth - g.padLeft + q
                                if x >= 0 && x < g.inWidth { window.append(plane + y * g.inWidth + x) }
                            }
                        }
                        body(((n * g.channels + c) * g.outHeight + i) * g.outWidth + j, window)
                    }
                }
            }
        }
    }

    func forward(_ input: [Float]) -> [Double] {
        var output = [Double](repeating: 0, count: g.outputShape.reduce(1, *))
        forEachWindow { o, window in
            switch g.kind {
            case .max: output[o] = window.map { Double(input[$0]) }.max()!
            case .average: output[o] = window.reduce(0) { $0 + Double(input[$1]) } / Double(window.count)
            }
        }
        return output
    }

    func backward(input: [Float], outputGradient: [Float]) -> [Double] {
        var inputGradient = [Double](repeating: 0, count: g.inputShape.reduce(1, *))
        forEachWindow { o, window in
            switch g.kind {
            case .max:
                let argmax = window.max { input[$0] < input[$1] }!
                inputGradient[argmax] += Double(outputGradient[o])
            case .average:
                for i in window { inputGradient[i] += Double(outputGradient[o]) / Double(window.count) }
            }
        }
        return inputGradient
    }
}

/// Distinct values (a shuffled arithmetic sequence, 0.01 apart), so every window has one maximum.
func distinctValues(_ shape: [Int], seed: UInt64) -> Tensor {
    let count = shape.reduce(1, *)
    var order = Array(0..<count)
    var rng = RandomGenerator(seed: seed, stream: "distinct")
    rng.shuffle(&order)
    return Tensor(shape: shape, values: order.map { (Float($0) - Float(count) / 2) * 0.01 })
}

@Suite("PoolingPlan against naive max / average pooling")
struct PoolingPlanTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let geometry: PoolingGeometry
        var testDescription: String { name }
    }

    static func geometry(_ kind: PoolingKind, batch: Int = 2, channels: Int = 3, size: (Int, Int), kernel: Int, stride: Int,
                         pad: (Int, Int, Int, Int) = (0, 0, 0, 0)) -> PoolingGeometry {
        PoolingGeometry(kind: kind, batch: batch, channels: channels, inHeight: size.0, inWidth: size.1,
                        kernelHeight: kernel, kernelWidth: kernel, strideHeight: stride, strideWidth: stride,
                        padTop: pad.0, padLeft: pad.1, padBottom: pad.2, padRight: pad.3)
    }

    static let cases: [Case] = [PoolingKind.max, .average].flatMap { kind in [
        Case(name: "\(kind) 2×2 stride 2", geometry: geometry(kind, size: (6, 8), kernel: 2, stride: 2)),
        Case(name: "\(kind) 3×3 stride 2 overlapping, pad bottom/right", geometry: geometry(kind, size: (8, 6), kernel: 3, stride: 2, pad: (0, 0, 1, 1))),
        Case(name: "\(kind) 3×3 stride 1 pad 1", geometry: geometry(kind, size: (5, 4), kernel: 3, stride: 1, pad: (1, 1, 1, 1))),
        Case(name: "\(kind) 2×2 stride 2 odd input (last row dropped)", geometry: geometry(kind, size: (5, 7), kernel: 2, stride: 2)),
        Case(name: "\(kind) global 4×5", geometry: PoolingGeometry(kind: kind, batch: 2, channels: 3, inHeight: 4, inWidth: 5,
                                                                    kernelHeight: 4, kernelWidth: 5, strideHeight: 4, strideWidth: 5)),
    ] }

    @Test(arguments: cases)
    func forward(_ c: Case) throws {
        let g = c.geometry
        let plan = try PoolingPlan(g)
        let input = distinctValues(g.inputShape, seed: 71)
        let output = Tensor(shape: g.outputShape)
        try plan.forward(input: input, output: output, training: true)
        let expected = NaivePooling(g: g).forward(input.array)
        // Max is exact; an average of ≤ 20 values rounds at ~1e-7.
        #expect(maxRelativeError(try plain(output), expected) < 1e-6)
    }

    @Test(arguments: cases)
    func backward(_ c: Case) throws {
        let g = c.geometry
        let plan = try PoolingPlan(g)
        let input = distinctValues(g.inputShape, seed: 72)
        let output = Tensor(shape: g.outputShape)
        try plan.forward(input: input, output: output, training: true)
        let outputGradient = normalTensor(g.outputShape, seed: 73)
        let inputGradient = Tensor(shape: g.inputShape)
        inputGradient.fill(123)   // pixels no window reads must come back 0
        try plan.backward(outputGradient: outputGradient, inputGradient: inputGradient)
        let expected = NaivePooling(g: g).backward(input: input.array, outputGradient: outputGradient.array)
        #expect(maxRelativeError(try plain(inputGradient), expected) < 1e-6)
    }

    /// Average pooling excludes padding: a 3×3 window with pad 1 on a 2×2 input of ones averages
    /// to exactly 1 everywhere (it would be 4/9 if padding counted); max routes to the one maximum.
    @Test func handComputedSmallCases() throws {
        let average = try PoolingPlan(Self.geometry(.average, batch: 1, channels: 1, size: (2, 2), kernel: 3, stride: 1, pad: (1, 1, 1, 1)))
        let ones = Tensor(shape: [1, 1, 2, 2], values: [1, 1, 1, 1])
        let averaged = Tensor(shape: [1, 1, 2, 2])
        try average.forward(input: ones, output: averaged, training: false)
        #expect(try plain(averaged) == [1, 1, 1, 1])

        let max = try PoolingPlan(Self.geometry(.max, batch: 1, channels: 1, size: (2, 4), kernel: 2, stride: 2))
        let input = Tensor(shape: [1, 1, 2, 4], values: [1, 5, 2, 0, 3, 4, -1, -2])
        let pooled = Tensor(shape: [1, 1, 1, 2])
        try max.forward(input: input, output: pooled, training: true)
        #expect(try plain(pooled) == [5, 2])
        let inputGradient = Tensor(shape: [1, 1, 2, 4])
        try max.backward(outputGradient: Tensor(shape: [1, 1, 1, 2], values: [10, 20]), inputGradient: inputGradient)
        #expect(try plain(inputGradient) == [0, 10, 20, 0, 0, 0, 0, 0])
    }

    /// Max backward after a second forward on different data routes to the new maxima (the
    /// workspace shared between the passes follows the latest forward).
    @Test func maxBackwardFollowsTheLatestForward() throws {
        let g = Self.geometry(.max, size: (4, 4), kernel: 2, stride: 2)
        let plan = try PoolingPlan(g)
        let output = Tensor(shape: g.outputShape), inputGradient = Tensor(shape: g.inputShape)
        try plan.forward(input: distinctValues(g.inputShape, seed: 74), output: output, training: true)
        let second = distinctValues(g.inputShape, seed: 75)
        try plan.forward(input: second, output: output, training: true)
        let outputGradient = normalTensor(g.outputShape, seed: 76)
        try plan.backward(outputGradient: outputGradient, inputGradient: inputGradient)
        let expected = NaivePooling(g: g).backward(input: second.array, outputGradient: outputGradient.array)
        #expect(maxRelativeError(try plain(inputGradient), expected) < 1e-6)
    }
}
