import Foundation
import NeuralNet
@testable import Pruning
import Testing

/// A stop asked for after `calls` questions (rounds, probes, batches).
final class StopAfter: @unchecked Sendable {
    private let lock = NSLock()
    private var left: Int
    init(calls: Int) { left = calls }
    var check: StopCheck {
        StopCheck { [self] in lock.withLock { left -= 1; return left < 0 } }
    }
}

@Suite struct StopCheckTests {
    /// A stop in the middle of SynFlow's rounds, of effective mode's probes or of
    /// iterative SNIP's scoring batches ends the call there (saying where) and leaves the network
    /// as it was: weights, masks and BatchNorm statistics.
    @Test(arguments: [("synflow", "direct", 3, "round 4 of 50"), ("synflow", "effective", 3, "probe 1 (kept "),
                      ("snip/iterative", "direct", 2, "round 1 of 50: scoring batch 2 of 2")])
    func stopEndsPruningWhereItIsAndLeavesTheNetworkAlone(pruner: String, mode: String, calls: Int, place: String) throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 1)
        let before = network.parameters.map(\.value.array), buffers = network.buffers.map(\.tensor.array)
        let batches = syntheticBatches(for: network, samples: 20) + syntheticBatches(for: network, samples: 20, seed: 4)
        let stop = StopAfter(calls: calls)
        let options = PruningOptions(compression: 20, mode: PruningMode(rawValue: mode)!, seed: 2, rounds: 50, stop: stop.check)
        do {
            _ = try Pruner(pruner).prune(network, options: options, batches: batches)
            Issue.record("\(pruner) \(mode) ignored the stop")
        } catch let stopped as ComputationStopped {
            #expect(stopped.place.contains(place), "\(stopped.place)")
        }
        #expect(network.parameters.map(\.value.array) == before)
        #expect(network.buffers.map(\.tensor.array) == buffers)
        #expect(network.prunableParameters.allSatisfy { $0.mask == nil })
    }

    /// Without a stop the hook costs nothing and changes nothing: the masks are those of a call without one.
    @Test func neverStoppingGivesTheSameMasks() throws {
        let network = try ModelZoo.make("lenet5")
        network.initialize(seed: 1)
        let plain = try Pruner("synflow").prune(network, options: PruningOptions(compression: 20, seed: 2, rounds: 10)).masks
        let hooked = try Pruner("synflow").prune(network, options: PruningOptions(compression: 20, seed: 2, rounds: 10,
                                                                                   stop: StopCheck { false })).masks
        #expect(plain.map(\.array) == hooked.map(\.array))
    }
}
