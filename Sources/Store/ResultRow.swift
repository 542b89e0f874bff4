import GRDB

/// One row of the `results` view, as the API's results tables, the runs list, the CSV file and
/// the plots read it.
public struct ResultRow: Codable, Sendable, Equatable, FetchableRecord, EncodableRecord, TableRecord {
    public var key: String
    public var architecture: String
    public var dataset: String
    public var pruner: String
    public var mode: String?
    public var targetCompression: Double?
    public var seed: Int64
    public var status: RunStatus
    public var attempts: Int
    public var testAccuracy: Double?
    public var testLoss: Double?
    public var directCompression: Double?
    public var effectiveCompression: Double?
    public var wallSeconds: Double?
    public var error: String?

    /// The view's columns this record reads, each named once, in the order of the CSV file.
    enum CodingKeys: String, CodingKey, CaseIterable, ColumnExpression {
        case key, architecture, dataset, pruner, mode, targetCompression = "target_compression", seed, status, attempts
        case testAccuracy = "test_accuracy", testLoss = "test_loss", directCompression = "direct_compression"
        case effectiveCompression = "effective_compression", wallSeconds = "wall_seconds", error
    }

    public static let databaseTableName = "results"
    public static var databaseSelection: [any SQLSelectable] { CodingKeys.allCases }

    /// Column names, in `CodingKeys` order.
    public static var columnNames: [String] { CodingKeys.allCases.map(\.rawValue) }

    /// The row's values in `columnNames` order as Swift prints them (nil for NULL): a CSV line.
    public func columnTexts() throws -> [String?] {
        let values = try databaseDictionary
        return Self.columnNames.map { name in
            switch values[name]?.storage {
            case let .int64(value): "\(value)"
            case let .double(value): "\(value)"
            case let .string(value): value
            case .blob, .null, nil: nil
            }
        }
    }
}

/// Which runs to list.
public struct RunFilter: Sendable, Equatable {
    public var sweep: Int64?
    public var status: RunStatus?
    public var pruner: String?
    public var architecture: String?
    public init(sweep: Int64? = nil, status: RunStatus? = nil, pruner: String? = nil, architecture: String? = nil) {
        self.sweep = sweep; self.status = status; self.pruner = pruner; self.architecture = architecture
    }
}

extension Store {
    /// The results rows of a sweep's runs, ordered by pruner, mode, target and seed.
    public func results(sweep id: Int64) throws -> [ResultRow] {
        try pool.read { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM sweeps WHERE id = ?", arguments: [id]) != nil else {
                throw StoreError.unknownSweep(id)
            }
            typealias Columns = ResultRow.CodingKeys
            return try ResultRow.filter(Self.runKeys(ofSweep: id).contains(Columns.key))
                .order(Columns.pruner, Columns.mode, Columns.targetCompression, Columns.seed, Columns.key)
                .fetchAll(db)
        }
    }

    /// Runs matching `filter` in key order, after `after` (keyset pagination), at most `limit`.
    public func runs(_ filter: RunFilter, after: String?, limit: Int) throws -> [ResultRow] {
        try pool.read { db in
            typealias Columns = ResultRow.CodingKeys
            var request = ResultRow.all()
            if let sweep = filter.sweep { request = request.filter(Self.runKeys(ofSweep: sweep).contains(Columns.key)) }
            if let status = filter.status { request = request.filter(Columns.status == status) }
            if let pruner = filter.pruner { request = request.filter(Columns.pruner == pruner) }
            if let architecture = filter.architecture { request = request.filter(Columns.architecture == architecture) }
            if let after { request = request.filter(Columns.key > after) }
            return try request.order(Columns.key).limit(limit).fetchAll(db)
        }
    }
}
