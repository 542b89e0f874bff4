import Foundation

/// Where one run's wall time went, phase by phase (`RunExecutor.profile`, `prunelab run --profile`):
/// what a short run costs besides training.
public struct RunProfile: Sendable, Equatable {
    /// Loading the data set (nothing when a warm worker's cache had it).
    public var data = 0.0
    /// Building and initialising the network and its effective-mask graph.
    public var network = 0.0
    /// Pruning (all rounds and probes; lottery-ticket rounds together).
    public var pruning = 0.0
    /// Computing the effective masks of the masks it trains with and handing them on.
    public var masks = 0.0
    /// The SGD steps.
    public var training = 0.0
    /// Evaluating the test split (every evaluation, and recording its metrics).
    public var evaluation = 0.0
    /// Writing (or encoding, for a worker) checkpoints.
    public var checkpoints = 0.0
    /// Writing the final state that child runs prune from.
    public var finalState = 0.0
    /// The run from start to result.
    public var wall = 0.0

    /// What no phase above accounts for.
    public var other: Double { wall - (data + network + pruning + masks + training + evaluation + checkpoints + finalState) }

    /// One line per phase: seconds and share of the wall time.
    public var table: String {
        rows.map { name, seconds in
            name.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(format: " %8.3f s %6.1f %%", seconds, wall > 0 ? 100 * seconds / wall : 0)
        }.joined(separator: "\n")
    }

    /// The phases on one line, for logs: "data 0.000 s, network 0.012 s, …".
    public var summary: String {
        rows.map { String(format: "%@ %.3f s", $0.0, $0.1) }.joined(separator: ", ")
    }

    private var rows: [(String, Double)] {
        [("data", data), ("network", network), ("pruning", pruning), ("masks", masks), ("training", training),
         ("evaluation", evaluation), ("checkpoints", checkpoints), ("final state", finalState), ("other", other), ("wall", wall)]
    }
}
