import GRDB

/// Per-layer figures a finished run uploads: one row of `layers` (its shape a JSON array of
/// integers, which the table's CHECK keeps valid JSON).
public struct LayerSample: Codable, Sendable, Equatable, FetchableRecord, TableRecord {
    public var name: String
    public var shape: [Int]
    public var size: Int
    public var kept: Int
    public var effective: Int
    public var quota: Double?
    public init(name: String, shape: [Int], size: Int, kept: Int, effective: Int, quota: Double?) {
        self.name = name; self.shape = shape; self.size = size; self.kept = kept; self.effective = effective; self.quota = quota
    }

    enum CodingKeys: String, CodingKey, CaseIterable, ColumnExpression {
        case name, shape, size, kept, effective, quota
    }

    public static let databaseTableName = "layers"
    public static var databaseSelection: [any SQLSelectable] { CodingKeys.allCases }
}
