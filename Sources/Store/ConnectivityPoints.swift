import Figures
import GRDB

// Connectivity-curve points (module Figures) as rows of `connectivity_points`.

extension ConnectivityPoint: FetchableRecord, PersistableRecord {
    public enum Columns: String, CaseIterable, ColumnExpression {
        case architecture, pruner, seed, target, rounds, dataset, total, kept, effective, seconds
    }

    public static let databaseTableName = "connectivity_points"
    public static var databaseSelection: [any SQLSelectable] { Columns.allCases }
}

extension Store {
    /// Stored points, of one architecture or all, in the order the curves draw them.
    public func connectivityPoints(architecture: String? = nil) throws -> [ConnectivityPoint] {
        try pool.read { db in
            var request = ConnectivityPoint.all()
            if let architecture { request = request.filter(ConnectivityPoint.Columns.architecture == architecture) }
            return try request.order(ConnectivityPoint.Columns.architecture, ConnectivityPoint.Columns.pruner,
                                     ConnectivityPoint.Columns.dataset, ConnectivityPoint.Columns.rounds,
                                     ConnectivityPoint.Columns.target, ConnectivityPoint.Columns.seed).fetchAll(db)
        }
    }

    /// Records a computed point (a point computed again replaces the old row: same identity,
    /// same numbers, a newer time).
    public func saveConnectivityPoint(_ point: ConnectivityPoint) throws {
        try pool.write { db in try point.insert(db, onConflict: .replace) }
    }
}
