import Figures
import GRDB

// The run figures (module Figures) as rows: a layer of `layers` (its shape a JSON array of
// integers, which the table's CHECK keeps valid JSON), a metric of `metrics` (NaN is stored as NULL).

extension LayerFigures: FetchableRecord, TableRecord {
    public enum Columns: String, CaseIterable, ColumnExpression {
        case name, shape, size, kept, effective, quota
    }

    public static let databaseTableName = "layers"
    public static var databaseSelection: [any SQLSelectable] { Columns.allCases }
}

extension MetricRecord: FetchableRecord, TableRecord {
    public enum Columns: String, CaseIterable, ColumnExpression {
        case phase, step, name, value
    }

    public static let databaseTableName = "metrics"
    public static var databaseSelection: [any SQLSelectable] { Columns.allCases }

    public init(row: Row) throws {
        self.init(phase: try row.decode(forColumn: Columns.phase.rawValue), step: try row.decode(forColumn: Columns.step.rawValue),
                  name: try row.decode(forColumn: Columns.name.rawValue),
                  value: try row.decode(Double?.self, forColumn: Columns.value.rawValue) ?? .nan)
    }
}

extension Store {
    /// A run's metrics in order.
    public func metrics(_ key: String) throws -> [MetricRecord] {
        try pool.read { db in
            try MetricRecord.filter(Column("run_key") == key)
                .order(MetricRecord.Columns.phase, MetricRecord.Columns.step, MetricRecord.Columns.name)
                .fetchAll(db)
        }
    }
}
