import Foundation
import GRDB

/// The service's SQLite file: one `DatabasePool` (WAL, foreign keys on) with the schema of
/// `migrations/` applied in order at open and recorded by GRDB's migrator (`grdb_migrations`).
public final class Store: Sendable {
    public let pool: DatabasePool
    public let path: String
    /// Where checkpoints live (by default a folder beside the database: `<path>.artifacts`).
    public let artifacts: any ArtifactStore

    /// The migrations compiled into the binary, in order: (identifier, SQL).
    public static let migrations: [(name: String, sql: String)] = [
        ("0001_initial", String(decoding: PackageResources._001_initial_sql, as: UTF8.self)),
        ("0002_queue_index", String(decoding: PackageResources._002_queue_index_sql, as: UTF8.self)),
        ("0003_artifacts", String(decoding: PackageResources._003_artifacts_sql, as: UTF8.self)),
        ("0004_strict", String(decoding: PackageResources._004_strict_sql, as: UTF8.self)),
        ("0005_event_counts", String(decoding: PackageResources._005_event_counts_sql, as: UTF8.self)),
        ("0006_results_config", String(decoding: PackageResources._006_results_config_sql, as: UTF8.self)),
        ("0007_run_changes", String(decoding: PackageResources._007_run_changes_sql, as: UTF8.self)),
        ("0008_connectivity_points", String(decoding: PackageResources._008_connectivity_points_sql, as: UTF8.self)),
        ("0009_models", String(decoding: PackageResources._009_models_sql, as: UTF8.self)),
    ]

    /// The default artifact folder of the database at `path`.
    public static func defaultArtifactsPath(for path: String) -> String { path + ".artifacts" }

    /// Opens (creating) the database at `path` and brings its schema up to date. Checkpoints go to
    /// `artifacts` (default: a folder beside the database).
    public init(path: String, artifacts: (any ArtifactStore)? = nil) throws {
        self.path = path
        do {
            self.artifacts = try artifacts ?? FileArtifactStore(root: Self.defaultArtifactsPath(for: path))
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "\(error)")
        }
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.label = "prunelab"
        configuration.prepareDatabase { db in
            // WAL lets readers (the API, people with sqlite3) run while a writer commits.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // After a checkpoint the WAL file is cut back to this size, so a burst of large writes
            // (masks of a ResNet-50 sweep) does not leave a large file behind.
            try db.execute(sql: "PRAGMA journal_size_limit = \(Self.walSizeLimit)")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "\(error)")
        }
        try migrator.migrate(pool)
    }

    /// Bytes the WAL file is truncated to after checkpoints.
    public static let walSizeLimit = 16 << 20

    var migrator: DatabaseMigrator { Self.migrator(artifacts: artifacts) }

    /// Every migration; 0003 moves old checkpoint BLOBs into `artifacts`.
    public static func migrator(artifacts: (any ArtifactStore)?) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.name) { db in
                try db.execute(sql: migration.sql)
                if migration.name == "0003_artifacts" { try moveCheckpointsOutOfRows(db, to: artifacts) }
            }
        }
        return migrator
    }

    /// 0003: each checkpoint BLOB of the old table becomes a file in the artifact store.
    static func moveCheckpointsOutOfRows(_ db: Database, to artifacts: (any ArtifactStore)?) throws {
        let rows = try Row.fetchCursor(db, sql: "SELECT run_key, phase, step, data FROM checkpoints_v1")
        while let row = try rows.next() {
            guard let artifacts else { throw StoreError.invalid(field: "artifacts", reason: "no artifact store to move checkpoints into") }
            let data: Data = row["data"]
            let upload = try artifacts.beginUpload()
            try data.withUnsafeBytes { try upload.write($0) }
            let hash = try upload.commit()
            try db.execute(sql: "INSERT INTO checkpoints (run_key, phase, step, sha256, size) VALUES (?, ?, ?, ?, ?)",
                           arguments: [row["run_key"] as String, row["phase"] as Int, row["step"] as Int, hash, data.count])
        }
        try db.execute(sql: "DROP TABLE checkpoints_v1")
    }

    /// Identifiers of the applied migrations, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try migrator.appliedIdentifiers(db) }.sorted()
    }

    /// The journal mode SQLite reports ("wal").
    public func journalMode() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
    }
}

/// Store failures that name what went wrong.
public enum StoreError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case unknownRun(String)
    case unknownSweep(Int64)
    /// The worker no longer holds the run's lease (expired, or the run was reassigned).
    case leaseLost(run: String, worker: String)
    case invalid(field: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): "database \(path): \(reason)"
        case let .unknownRun(key): "unknown run \(key)"
        case let .unknownSweep(id): "unknown sweep \(id)"
        case let .leaseLost(run, worker): "worker \(worker) does not hold the lease of run \(run)"
        case let .invalid(field, reason): "\(field): \(reason)"
        }
    }
}
