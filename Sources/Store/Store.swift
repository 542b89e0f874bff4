import Foundation
import GRDB

/// The service's SQLite file: one `DatabasePool` (WAL, foreign keys on) with the schema of
/// `migrations/` applied in order at open and recorded by GRDB's migrator (`grdb_migrations`).
public final class Store: Sendable {
    public let pool: DatabasePool
    public let path: String

    /// The migrations compiled into the binary, in order: (identifier, SQL).
    public static let migrations: [(name: String, sql: String)] = [
        ("0001_initial", String(decoding: PackageResources._001_initial_sql, as: UTF8.self)),
        ("0002_queue_index", String(decoding: PackageResources._002_queue_index_sql, as: UTF8.self)),
    ]

    /// Opens (creating) the database at `path` and brings its schema up to date.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        configuration.busyMode = .timeout(10)
        configuration.label = "prunelab"
        configuration.prepareDatabase { db in
            // WAL lets readers (the API, people with sqlite3) run while a writer commits.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
        } catch {
            throw StoreError.cannotOpen(path: path, reason: "\(error)")
        }
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in migrations {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.sql) }
        }
        return migrator
    }

    /// Identifiers of the applied migrations, in order.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Self.migrator.appliedIdentifiers(db) }.sorted()
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
