import GRDB

/// A run's state in the queue: its status, attempts so far, last error and lease holder.
public struct RunState: Codable, Sendable, Equatable, FetchableRecord, TableRecord {
    public var status: RunStatus
    public var attempts: Int
    public var error: String?
    /// The worker holding the lease (leased and running runs).
    public var worker: String?

    enum CodingKeys: String, CodingKey, CaseIterable, ColumnExpression {
        case status, attempts, error, worker = "worker_id"
    }

    public static let databaseTableName = "runs"
    public static var databaseSelection: [any SQLSelectable] { CodingKeys.allCases }
}

extension Store {
    /// A run's status, attempts, error and lease holder.
    public func runStatus(_ key: String) throws -> RunState {
        try pool.read { db in
            guard let state = try RunState.fetchOne(db, key: key) else { throw StoreError.unknownRun(key) }
            return state
        }
    }
}
