import GRDB

/// A metric a worker uploads: one row of `metrics` (NaN is stored as NULL).
public struct MetricSample: Codable, Sendable, Equatable, FetchableRecord, TableRecord {
    public var phase: Int
    public var step: Int
    public var name: String
    public var value: Double
    public init(phase: Int, step: Int, name: String, value: Double) {
        self.phase = phase; self.step = step; self.name = name; self.value = value
    }

    enum CodingKeys: String, CodingKey, CaseIterable, ColumnExpression {
        case phase, step, name, value
    }

    public static let databaseTableName = "metrics"
    public static var databaseSelection: [any SQLSelectable] { CodingKeys.allCases }

    public init(row: Row) throws {
        phase = try row.decode(forColumn: CodingKeys.phase.rawValue)
        step = try row.decode(forColumn: CodingKeys.step.rawValue)
        name = try row.decode(forColumn: CodingKeys.name.rawValue)
        value = try row.decode(Double?.self, forColumn: CodingKeys.value.rawValue) ?? .nan
    }
}

extension Store {
    /// A run's metrics in order.
    public func metrics(_ key: String) throws -> [MetricSample] {
        try pool.read { db in
            try MetricSample.filter(Column("run_key") == key)
                .order(MetricSample.CodingKeys.phase, MetricSample.CodingKeys.step, MetricSample.CodingKeys.name)
                .fetchAll(db)
        }
    }
}
