import Datasets
import Experiments
import Figures
import NeuralNet
import Pruning
import Testing

/// Connectivity curves: each point is the direct pruning of a freshly initialised network, points
/// already known are skipped, unreachable targets are reported, data-dependent pruners need data
/// of the architecture's own shape.
@Suite struct ConnectivityCurvesTests {
    @Test func pointsAreDirectPruningsAndKnownPointsAreSkipped() throws {
        let request = ConnectivityCurves.Request(architectures: ["lenet5"], pruners: ["random/uniform", "synflow", "random/uniform+"],
                                                 targets: [10, 1000], seeds: [0, 1], rounds: 4)
        var points: [ConnectivityPoint] = []
        var unreachable: [ConnectivityCurves.Unreachable] = []
        try ConnectivityCurves.compute(request, record: { points.append($0) }, unreachable: { unreachable.append($0) })
        // uniform+ keeps LeNet-5's first layer dense and 20 % of its last: 1000× is out of reach.
        #expect(unreachable.map(\.pruner) == ["random/uniform+", "random/uniform+"] && unreachable.allSatisfy { $0.target == 1000 })
        #expect(points.count == 2 * 2 + 2 * 2 + 2)
        for point in points {
            let network = try ModelZoo.make("lenet5")
            network.initialize(seed: UInt64(point.seed))
            let outcome = try Pruner(point.pruner).prune(network, options: PruningOptions(compression: point.target, seed: UInt64(point.seed),
                                                                                          rounds: 4))
            #expect(point.kept == outcome.report.kept && point.effective == outcome.report.effective && point.total == 61770, "\(point)")
            #expect(point.rounds == (point.pruner == "synflow" ? 4 : 1) && point.dataset == "")
        }
        // Every point known: nothing is computed again.
        var again = 0
        try ConnectivityCurves.compute(request, known: Set(points.map(\.identity)), record: { _ in again += 1 })
        #expect(again == 0)
    }

    @Test func dataDependentPrunersNeedDataOfTheArchitecturesShape() throws {
        var request = ConnectivityCurves.Request(architectures: ["lenet5"], pruners: ["snip"], targets: [10], seeds: [0])
        #expect(throws: ConnectivityCurves.Failure.needsData(pruner: "snip")) { try ConnectivityCurves.validate(request) }
        let wrong = try RunData.load(dataset: "synthetic", architecture: "lenet300-100", directory: nil)
        request.dataset = ("synthetic", wrong)
        #expect(throws: ConnectivityCurves.Failure.self) { try ConnectivityCurves.validate(request) }
        request.dataset = ("synthetic", try RunData.load(dataset: "synthetic", architecture: "lenet5", directory: nil))
        var points: [ConnectivityPoint] = []
        try ConnectivityCurves.compute(request, record: { points.append($0) })
        #expect(points.count == 1 && points[0].dataset == "synthetic" && points[0].kept == 6177)
        #expect(throws: (any Error).self) {
            try ConnectivityCurves.validate(.init(architectures: ["lenet5"], pruners: ["random/uniform"], targets: [1], seeds: [0]))
        }
        #expect(throws: (any Error).self) {
            try ConnectivityCurves.validate(.init(architectures: ["alexnet"], pruners: ["random/uniform"], targets: [10], seeds: [0]))
        }
    }
}
