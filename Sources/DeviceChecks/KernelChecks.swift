import Tensors

/// Checks of the backend operations that are not layers: GEMM in every transpose combination,
/// element-wise kernels, the optimiser, the loss and BatchNorm's running statistics.
enum KernelChecks {
    static var all: [DeviceCheck] {
        var checks: [DeviceCheck] = []
        for (transposeA, transposeB) in [(false, false), (true, false), (false, true), (true, true)] {
            for beta: Float in [0, 0.5] {
                checks.append(DeviceCheck("gemm \(transposeA ? "T" : "N")\(transposeB ? "T" : "N") 37×53×29 beta \(beta)", limit: 1e-5) { device, cpu in
                    try gemm(transposeA: transposeA, transposeB: transposeB, beta: beta, device: device, cpu: cpu)
                })
            }
        }
        checks.append(DeviceCheck("gemm NN 128×300×784 (LeNet fc1 size)", limit: 1e-5) { device, cpu in
            try gemm(transposeA: false, transposeB: true, m: 128, n: 300, k: 784, beta: 0, device: device, cpu: cpu)
        })
        checks += elementwise
        checks.append(DeviceCheck("sgd step with mask", limit: 1e-6) { try sgd(masked: true, device: $0, cpu: $1) })
        checks.append(DeviceCheck("sgd step without mask", limit: 1e-6) { try sgd(masked: false, device: $0, cpu: $1) })
        checks.append(DeviceCheck("softmax cross-entropy (loss, hits, gradient)", limit: 1e-5) { try softmax(device: $0, cpu: $1) })
        checks.append(DeviceCheck("BatchNorm running statistics", limit: 1e-6) { device, cpu in
            var comparison = Comparison()
            let results = try [device, cpu].map { backend -> [[Float]] in
                let mean = randomTensor([24], seed: 1), variance = randomTensor([24], seed: 2)
                let batchMean = randomTensor([24], seed: 3), batchVariance = randomTensor([24], seed: 4)
                backend.updateRunningStatistics(runningMean: mean, runningVariance: variance, batchMean: batchMean,
                                                batchVariance: batchVariance, momentum: 0.1, varianceCorrection: 1.25)
                return [try values(mean, backend), try values(variance, backend)]
            }
            comparison.add("running mean", device: results[0][0], cpu: results[1][0])
            comparison.add("running variance", device: results[0][1], cpu: results[1][1])
            return comparison
        })
        return checks
    }

    static func gemm(transposeA: Bool, transposeB: Bool, m: Int = 37, n: Int = 53, k: Int = 29, beta: Float,
                     device: any Backend, cpu: any Backend) throws -> Comparison {
        let results = try [device, cpu].map { backend -> [Float] in
            let a = randomTensor(transposeA ? [k, m] : [m, k], seed: 11), b = randomTensor(transposeB ? [n, k] : [k, n], seed: 12)
            let c = randomTensor([m, n], seed: 13)
            backend.gemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 0.75, a: a, b: b, beta: beta, c: c)
            return try values(c, backend)
        }
        var comparison = Comparison()
        comparison.add("C", device: results[0], cpu: results[1])
        return comparison
    }

    static var elementwise: [DeviceCheck] {
        let n = 10_007
        func unary(_ name: String, _ operation: @escaping @Sendable (any Backend, Tensor, Tensor, Tensor) -> Void) -> DeviceCheck {
            DeviceCheck(name, limit: 0) { device, cpu in
                let results = try [device, cpu].map { backend -> [Float] in
                    let x = randomTensor([n], seed: 21), y = randomTensor([n], seed: 22, scale: 4), z = randomTensor([n], seed: 23)
                    operation(backend, x, y, z)
                    return try values(z, backend)
                }
                var comparison = Comparison()
                comparison.add("result", device: results[0], cpu: results[1])
                return comparison
            }
        }
        return [
            unary("relu") { b, x, _, z in b.relu(input: x, output: z) },
            unary("relu6") { b, _, y, z in b.relu(input: y, output: z, ceiling: 6) },
            unary("relu backward") { b, x, y, z in b.reluBackward(output: y, outputGradient: x, inputGradient: z) },
            unary("relu6 backward") { b, x, y, z in b.reluBackward(output: y, outputGradient: x, inputGradient: z, ceiling: 6) },
            unary("add") { b, x, y, z in b.add(x, y, into: z) },
            unary("accumulate") { b, x, _, z in b.accumulate(x, into: z) },
            unary("apply mask") { b, x, _, z in
                b.relu(input: x, output: x)
                b.binarize(x)
                b.applyMask(x, to: z)
            },
            unary("binarize") { b, _, _, z in b.binarize(z) },
            unary("add bias to rows") { b, x, _, z in
                let bias = Tensor(viewing: x, shape: [n])
                b.addBias(Tensor(shape: [1], values: [0.5]), to: Tensor(viewing: z, shape: [n, 1]))
                b.addBias(bias, to: Tensor(viewing: z, shape: [1, n]))
            },
            DeviceCheck("sum of rows", limit: 1e-6) { device, cpu in
                let results = try [device, cpu].map { backend -> [Float] in
                    let x = randomTensor([128, 300], seed: 31), s = Tensor(shape: [300])
                    backend.sumRows(of: x, into: s)
                    return try values(s, backend)
                }
                var comparison = Comparison()
                comparison.add("sums", device: results[0], cpu: results[1])
                return comparison
            },
        ]
    }

    static func sgd(masked: Bool, device: any Backend, cpu: any Backend) throws -> Comparison {
        let results = try [device, cpu].map { backend -> [[Float]] in
            let w = randomTensor([5_003], seed: 41), g = randomTensor([5_003], seed: 42), v = randomTensor([5_003], seed: 43)
            let mask = masked ? randomMask([5_003], seed: 44, density: 0.3) : nil
            for _ in 0..<3 {
                backend.sgdStep(weight: w, gradient: g, velocity: v, mask: mask, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4)
            }
            return [try values(w, backend), try values(v, backend)]
        }
        var comparison = Comparison()
        comparison.add("weights", device: results[0][0], cpu: results[1][0])
        comparison.add("velocity", device: results[0][1], cpu: results[1][1])
        return comparison
    }

    static func softmax(device: any Backend, cpu: any Backend) throws -> Comparison {
        let rows = 100, classes = 10
        var labels = [Int32](repeating: 0, count: rows)
        var rng = RandomGenerator(seed: 51, stream: "labels")
        for r in 0..<rows { labels[r] = Int32(rng.nextInt(below: classes)) }
        let results = try [device, cpu].map { backend -> (Double, Int, [Float]) in
            let logits = randomTensor([rows, classes], seed: 52, scale: 3), gradient = Tensor(shape: [rows, classes])
            let (loss, correct) = labels.withUnsafeBufferPointer {
                backend.softmaxCrossEntropy(logits: logits, labels: $0.baseAddress!, rows: rows, logitsGradient: gradient)
            }
            return (loss, correct, try values(gradient, backend))
        }
        var comparison = Comparison()
        comparison.add("loss", device: results[0].0, cpu: results[1].0)
        comparison.add("hits", device: Double(results[0].1), cpu: Double(results[1].1))
        comparison.add("gradient", device: results[0].2, cpu: results[1].2)
        return comparison
    }
}
