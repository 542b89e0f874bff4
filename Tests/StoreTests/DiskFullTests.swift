import FileSupport
import Foundation
import GRDB
import Store
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct DiskFullTests {
    /// SQLite's SQLITE_FULL — here from a page limit, as a full disk raises it — is told apart from
    /// other failures, names the database, and leaves the rows committed before it intact.
    @Test func sqliteFullIsDiskFullAndKeepsWhatWasCommitted() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let queue = try DatabaseQueue(path: directory.appendingPathComponent("full.sqlite").path)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)")
            try db.execute(sql: "INSERT INTO t (payload) VALUES (zeroblob(1000))")
        }
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA max_page_count = 20") }
        var caught: (any Error)?
        do {
            try queue.write { db in
                for _ in 0..<200 { try db.execute(sql: "INSERT INTO t (payload) VALUES (zeroblob(4000))") }
            }
        } catch {
            caught = error
        }
        let full = try #require(caught.flatMap { DiskFull.of($0) })
        #expect(full.store == "database" && full.description.contains("disk is full"), "\(full)")
        #expect(try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM t") } == 1, "the failed transaction rolled back whole")
        #expect(DiskFull.of(DatabaseError(resultCode: .SQLITE_BUSY)) == nil)
    }

    /// The artifact store's ENOSPC and EDQUOT are a full disk, from its folders or from an
    /// upload's file; other I/O errors are not.
    @Test func artifactWritesOutOfSpaceAreDiskFull() {
        #expect(DiskFull.of(ArtifactError.io(path: "/a", operation: "mkdir", errno: ENOSPC))?.store == "artifacts")
        #expect(DiskFull.of(ArtifactError.io(path: "/a", operation: "mkdir", errno: EDQUOT))?.store == "artifacts")
        #expect(DiskFull.of(ArtifactError.io(path: "/a", operation: "mkdir", errno: EIO)) == nil)
        let upload = FileWriteError.io(path: "/a/uploads/u", operation: "write", errno: ENOSPC)
        #expect(DiskFull.of(upload)?.store == "artifacts" && DiskFull.of(upload)?.reason.contains("/a/uploads/u") == true)
        #expect(DiskFull.of(FileWriteError.io(path: "/a", operation: "fsync", errno: EDQUOT))?.store == "artifacts")
        #expect(DiskFull.of(FileWriteError.io(path: "/a", operation: "write", errno: EIO)) == nil)
        #expect(DiskFull.of(POSIXError(.ENOSPC)) != nil)
    }
}
