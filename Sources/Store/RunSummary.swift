import Figures
import Foundation
import GRDB

/// One run as its page shows it: config, state, progress and (once succeeded) final figures.
public struct RunSummary: Codable, Sendable, Equatable, FetchableRecord, TableRecord {
    public var key: String
    public var config: String
    public var status: RunStatus
    public var attempts: Int
    public var maxAttempts: Int
    public var error: String?
    public var worker: String?
    public var step: Int?
    public var totalSteps: Int?
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var testAccuracy: Double?
    public var testLoss: Double?
    public var totalWeights: Int?
    public var kept: Int?
    public var effective: Int?
    public var directCompression: Double?
    public var effectiveCompression: Double?
    public var wallSeconds: Double?
    public var imagesPerSecond: Double?
    /// Dense runs this one prunes from (from `run_dependencies`, not a column).
    public var parents: [String] = []
    /// Per prunable layer, once the run succeeded (from `layers`, not a column).
    public var layers: [LayerFigures] = []

    /// The `runs` columns, each named once.
    enum CodingKeys: String, CodingKey, CaseIterable, ColumnExpression {
        case key, config, status, attempts, maxAttempts = "max_attempts", error, worker = "worker_id", step
        case totalSteps = "total_steps", createdAt = "created_at", startedAt = "started_at", finishedAt = "finished_at"
        case testAccuracy = "test_accuracy", testLoss = "test_loss", totalWeights = "total_weights", kept, effective
        case directCompression = "direct_compression", effectiveCompression = "effective_compression"
        case wallSeconds = "wall_seconds", imagesPerSecond = "images_per_second"
    }

    public static let databaseTableName = "runs"
    public static var databaseSelection: [any SQLSelectable] { CodingKeys.allCases }
}

extension Store {
    /// A run's page: config, state, figures, parents and per-layer table, in one read
    /// transaction with cached statements (this is the API's hottest read).
    public func runSummary(_ key: String) throws -> RunSummary? {
        try pool.read { db in
            guard var run = try RunSummary.fetchOne(db.cachedStatement(literal: """
                SELECT \(columnsOf: RunSummary.self) FROM runs WHERE key = \(key)
                """)) else { return nil }
            run.parents = try String.fetchAll(db.cachedStatement(literal: """
                SELECT parent_key FROM run_dependencies WHERE run_key = \(key) ORDER BY parent_key
                """))
            run.layers = try LayerFigures.fetchAll(db.cachedStatement(literal: """
                SELECT \(columnsOf: LayerFigures.self) FROM layers WHERE run_key = \(key) ORDER BY layer_index
                """))
            return run
        }
    }

    /// A succeeded run's masks of one kind ("direct" or "effective") with their layers, in
    /// canonical order; nil when the run has none stored.
    public func masks(_ key: String, kind: String) throws -> [(layer: LayerFigures, bits: Data)]? {
        try pool.read { db in
            let rows = try Row.fetchAll(db, SQLRequest(literal: """
                SELECT \(columnsOf: LayerFigures.self, tableAlias: "l"), m.bits FROM layers l
                JOIN masks m ON m.run_key = l.run_key AND m.layer_index = l.layer_index AND m.kind = \(kind)
                JOIN runs r ON r.key = l.run_key AND r.status = \(RunStatus.succeeded)
                WHERE l.run_key = \(key) ORDER BY l.layer_index
                """))
            let layerCount = try Int.fetchOne(db, sql: "SELECT count(*) FROM layers WHERE run_key = ?", arguments: [key]) ?? 0
            guard !rows.isEmpty, rows.count == layerCount else { return nil }
            return try rows.map { (try LayerFigures(row: $0), $0["bits"]) }
        }
    }
}
