/// A request to stop a long computation early, asked between its units of work (a pruning round,
/// an effective-mode probe, a scoring or evaluation batch): the one hook that SIGTERM and a lost lease
/// reach the engine through. Cheap to ask: the worker's closure reads two flags.
public struct StopCheck: Sendable {
    private let requested: @Sendable () -> Bool

    public init(_ requested: @escaping @Sendable () -> Bool) { self.requested = requested }

    /// Never asks to stop (commands, benches, tests).
    public static let never = StopCheck { false }

    /// Whether a stop was asked for.
    public var isRequested: Bool { requested() }

    /// Throws `ComputationStopped` when a stop was asked for; `place` says where (for the logs).
    public func check(_ place: @autoclosure () -> String = "") throws {
        if requested() { throw ComputationStopped(place: place()) }
    }
}

/// A computation gave up on request (`StopCheck`), leaving its inputs as they were.
public struct ComputationStopped: Error, CustomStringConvertible {
    /// Where it stopped, outermost first: "probe 3 (kept 1204): round 17 of 100".
    public var place: String

    public init(place: String = "") { self.place = place }

    /// The same stop, inside `outer`.
    public func within(_ outer: String) -> ComputationStopped {
        ComputationStopped(place: place.isEmpty ? outer : "\(outer): \(place)")
    }

    public var description: String { place.isEmpty ? "stopped on request" : "stopped on request in \(place)" }
}
