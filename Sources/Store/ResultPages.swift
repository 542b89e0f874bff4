import GRDB

/// A column of the results table a page of rows can be sorted by.
public enum ResultColumn: String, CaseIterable, Sendable {
    case key, architecture, dataset, pruner, mode
    case targetCompression = "target_compression"
    case seed, status, attempts
    case testAccuracy = "test_accuracy", testLoss = "test_loss"
    case directCompression = "direct_compression", effectiveCompression = "effective_compression"
    case wallSeconds = "wall_seconds"
    case error
}

/// Some of a sweep's results rows, with what a reader needs to ask for the next ones.
public struct ResultPage: Sendable, Equatable {
    public var rows: [ResultRow]
    /// Rows that match, before limit and offset.
    public var total: Int
    /// The sweep's change cursor when the rows were read (`Store.sweepChanges`).
    public var changes: Int64
}

/// Which rows of a sweep's results to read, in which order.
public struct ResultQuery: Sendable, Equatable {
    /// nil: by pruner, mode, target compression and seed.
    public var sort: ResultColumn?
    public var descending = false
    /// nil: every row.
    public var limit: Int?
    public var offset = 0
    /// Only runs changed after this cursor.
    public var changedAfter: Int64?

    public init(sort: ResultColumn? = nil, descending: Bool = false, limit: Int? = nil, offset: Int = 0, changedAfter: Int64? = nil) {
        self.sort = sort
        self.descending = descending
        self.limit = limit
        self.offset = offset
        self.changedAfter = changedAfter
    }
}

extension Store {
    /// The sweep's change cursor: the largest change number of its runs (0 for none). It grows
    /// whenever a run of the sweep changes status or figures (migration 0007's triggers).
    public func sweepChanges(_ id: Int64) throws -> Int64 {
        try pool.read { db in try Self.sweepChanges(id, db) }
    }

    static func sweepChanges(_ id: Int64, _ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: """
            SELECT COALESCE(MAX(r.changed), 0) FROM runs AS r JOIN sweep_runs AS s ON s.run_key = r.key WHERE s.sweep_id = ?
            """, arguments: [id]) ?? 0
    }

    /// A page of a sweep's results rows, read in one transaction with their count and the
    /// sweep's change cursor. Sorted rows put missing values last either way, then go by key.
    public func results(sweep id: Int64, _ query: ResultQuery) throws -> ResultPage {
        try pool.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM sweeps WHERE id = ?", arguments: [id]) != nil else {
                throw StoreError.unknownSweep(id)
            }
            typealias Columns = ResultRow.CodingKeys
            var request = ResultRow.filter(Self.runKeys(ofSweep: id).contains(Columns.key))
            if let after = query.changedAfter {
                request = request.filter(sql: "key IN (SELECT key FROM runs WHERE changed > ?)", arguments: [after])
            }
            let total = try request.fetchCount(db)
            if let sort = query.sort, let column = Columns(rawValue: sort.rawValue) {
                request = request.order(column == nil, query.descending ? column.desc : column.asc, Columns.key)
            } else {
                request = request.order(Columns.pruner, Columns.mode, Columns.targetCompression, Columns.seed, Columns.key)
            }
            if query.limit != nil || query.offset > 0 { request = request.limit(query.limit ?? -1, offset: query.offset) }
            return ResultPage(rows: try request.fetchAll(db), total: total, changes: try Self.sweepChanges(id, db))
        }
    }
}
