import Foundation
import NeuralNet
@testable import Pruning
import Tensors
import Testing

@Suite struct SynFlowTests {
    func synflowKeys(_ network: Network) throws -> [Double] {
        let layout = FlatLayout(shapes: network.prunableParameters.map(\.shape))
        let graph = try PathGraph(network: network)
        return try Scores.synflowLog(network.prunableParameters.map(\.value), graph: graph, layout: layout, masks: network.prunableParameters.map { _ in nil },
                                     scratch: layout.shapes.map { Tensor(shape: $0) })
    }

    func set(_ parameter: Parameter, _ values: [Float]) {
        for (i, v) in values.enumerated() { parameter.value[i] = v }
    }

    /// 2 → 2 → 1 with W1 = [[1, −2], [3, 4]], W2 = [[5, −6]] on an all-ones input: hidden sums
    /// |W1|·1 = (3, 7) and R = 5·3 + 6·7 = 57. Scores |w|·∂R/∂|w|: layer 1 row i gets |W2_i|
    /// (5 and 6), so (5, 10, 18, 24); layer 2 gets |w|·hidden = (15, 42). Each layer sums to R.
    @Test func scoresByHand() throws {
        let network = try makeNetwork([Linear(2, 2), ReLU(), BatchNorm(2), Linear(2, 1)], input: [2], classes: 1)
        network.initialize(seed: 0)
        set(network.prunableParameters[0], [1, -2, 3, 4])
        set(network.prunableParameters[1], [5, -6])
        let keys = try synflowKeys(network)
        let expected: [Double] = [5, 10, 18, 24, 15, 42]
        for (key, value) in zip(keys, expected) { #expect(abs(key - log(value)) < 1e-6, "\(exp(key)) vs \(value)") }
    }

    /// SynFlow on the linearised network is multilinear in the weights, so a weight's score
    /// |w|·∂R/∂|w| equals R minus R with that weight removed. Checked in Double on a net with a
    /// residual block (which the rescaling must not distort) against an explicit evaluation of R.
    @Test func residualScoresMatchRemovalDifferences() throws {
        let network = try makeNetwork([Linear(3, 4), ReLU(), Residual(body: Sequential([Linear(4, 4), ReLU(), Linear(4, 4)])),
                                       Linear(4, 2)], input: [3], classes: 2)
        network.initialize(seed: 4)
        let weights = network.prunableParameters.map { $0.value.array.map { Double(abs($0)) } }
        func matvec(_ w: [Double], _ x: [Double], out: Int) -> [Double] {
            (0..<out).map { o in (0..<x.count).reduce(0) { $0 + w[o * x.count + $1] * x[$1] } }
        }
        func pathSum(_ w: [[Double]]) -> Double {
            let h = matvec(w[0], [1, 1, 1], out: 4)
            let body = matvec(w[2], matvec(w[1], h, out: 4), out: 4)
            return matvec(w[3], zip(body, h).map(+), out: 2).reduce(0, +)
        }
        let total = pathSum(weights)
        let keys = try synflowKeys(network)
        var flat = 0
        for layer in weights.indices {
            for i in weights[layer].indices {
                var removed = weights
                removed[layer][i] = 0
                let score = total - pathSum(removed)
                #expect(abs(exp(keys[flat]) - score) <= 1e-4 * score, "layer \(layer) weight \(i)")
                flat += 1
            }
        }
    }

    /// 60 dense layers of 16 units with all weights 1: R = 16^61 and every score is 16^59 ≈ e^163.6,
    /// far beyond float32 (e^88.7). The log-space scores stay exact.
    @Test func deepChainDoesNotOverflow() throws {
        let layers: [any Layer] = (0..<60).map { _ in Linear(16, 16, bias: false) }
        let network = try makeNetwork(layers, input: [16], classes: 16)
        for parameter in network.prunableParameters { parameter.value.fill(1) }
        let keys = try synflowKeys(network)
        let expected = 59 * log(16.0)
        #expect(keys.allSatisfy { $0.isFinite && abs($0 - expected) < 1e-4 * expected })
    }

    /// The paper's point about SynFlow: its masks keep (almost) every kept weight on a path, while
    /// random pruning at the same direct compression disconnects many.
    @Test func synflowKeepsEffectiveCloseToDirectWhereRandomDoesNot() throws {
        let network = try ModelZoo.make("resnet20")
        network.initialize(seed: 0)
        let synflow = try Pruner("synflow").prune(network, options: PruningOptions(compression: 100, rounds: 20)).report
        let random = try Pruner("random/uniform").prune(network, options: PruningOptions(compression: 100)).report
        #expect(synflow.effectiveCompression / synflow.directCompression < 1.05, "synflow \(synflow.effectiveCompression)")
        #expect(random.effectiveCompression / random.directCompression > 1.3, "random \(random.effectiveCompression)")
    }
}

@Suite struct GraspTests {
    /// Hg by central differences against the closed form for a dense softmax classifier:
    /// with p_n = softmax((W x_n + b)/T), ∇_W L = mean_n (p_n − e_{y_n}) x_nᵀ / T and
    /// H·V = mean_n [(diag p_n − p_n p_nᵀ)(V x_n)] x_nᵀ / T².
    @Test(arguments: [Float(1), 200])
    func hessianGradientProductMatchesClosedForm(temperature: Float) throws {
        let (features, classes, samples) = (5, 3, 12)
        let network = try makeNetwork([Linear(features, classes)], input: [features], classes: classes)
        network.initialize(seed: 8)
        var rng = RandomGenerator(seed: 2, stream: "grasp-data")
        let images = Tensor(shape: [samples, features])
        for i in 0..<images.count { images[i] = Float(rng.nextNormal()) }
        let labels = (0..<samples).map { Int32($0 % classes) }
        let (gradient, hg) = try Scores.hessianGradientProduct(network, batches: [ScoringBatch(images: images, labels: labels)],
                                                               temperature: temperature)
        let w = network.prunableParameters[0].value.array.map(Double.init)
        let t = Double(temperature)
        var g = [Double](repeating: 0, count: w.count), hv = g
        let x = (0..<samples).map { n in (0..<features).map { Double(images[n * features + $0]) } }
        func probabilities(_ xn: [Double]) -> [Double] {
            let z = (0..<classes).map { c in (0..<features).reduce(0) { $0 + w[c * features + $1] * xn[$1] } / t }
            let m = z.max()!
            let e = z.map { exp($0 - m) }
            let s = e.reduce(0, +)
            return e.map { $0 / s }
        }
        for n in 0..<samples {
            let p = probabilities(x[n])
            for c in 0..<classes {
                for f in 0..<features { g[c * features + f] += (p[c] - (Int32(c) == labels[n] ? 1 : 0)) * x[n][f] / t / Double(samples) }
            }
        }
        for n in 0..<samples {
            let p = probabilities(x[n])
            let vx = (0..<classes).map { c in (0..<features).reduce(0) { $0 + g[c * features + $1] * x[n][$1] } }
            let pvx = zip(p, vx).reduce(0) { $0 + $1.0 * $1.1 }
            for c in 0..<classes {
                let hc = p[c] * vx[c] - p[c] * pvx
                for f in 0..<features { hv[c * features + f] += hc * x[n][f] / (t * t) / Double(samples) }
            }
        }
        func relativeError(_ a: [Float], _ b: [Double]) -> Double {
            let difference = zip(a, b).reduce(0) { $0 + (Double($1.0) - $1.1) * (Double($1.0) - $1.1) }.squareRoot()
            return difference / b.reduce(0) { $0 + $1 * $1 }.squareRoot()
        }
        #expect(relativeError(gradient[0], g) < 1e-5)
        #expect(relativeError(hg[0], hv) < 1e-2, "Hg relative error \(relativeError(hg[0], hv))")
    }
}
