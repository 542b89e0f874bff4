import Foundation
import GRDB
import Store
import Testing

/// Uploaded models (`models`, 0009): recorded once per file, kept by the collector, copied by backups.
@Suite("uploaded models")
struct ModelRecordTests {
    static func record(_ stored: (sha256: String, size: Int), refusal: String? = nil) -> ModelRecord {
        ModelRecord(sha256: stored.sha256, name: "net", size: stored.size, producer: "pytorch 2.5", inputShape: [3, 32, 32],
                    classes: refusal == nil ? 10 : nil, prunableLayers: 3, weights: 1234, refusal: refusal)
    }

    @Test func aModelIsRecordedOnceAndOutlivesTheCollector() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try artifact(store, Array(repeating: 7, count: 300))
        let (first, new) = try store.registerModel(Self.record(file))
        #expect(new && first.trainable && first.inputShape == [3, 32, 32] && first.classes == 10 && !first.uploadedAt.isEmpty)
        var renamed = Self.record(file)
        renamed.name = "again"
        let (second, again) = try store.registerModel(renamed)
        #expect(!again && second == first, "the same file keeps its first record")
        #expect(try store.model(file.sha256) == first && store.models() == [first])
        #expect(try store.modelBytes(file.sha256) == Data(repeating: 7, count: 300))

        let other = try artifact(store, [1, 2, 3])
        let (refused, _) = try store.registerModel(Self.record(other, refusal: "node 'cat' (Concat): not trained"))
        #expect(!refused.trainable && refused.classes == nil && refused.refusal?.contains("Concat") == true)
        #expect(try store.models().count == 2)

        // The collector keeps model files (no checkpoint refers to them) and `release` does too.
        #expect(try store.collectGarbage(grace: 0).orphanFiles == 0)
        try store.release([file.sha256])
        #expect(store.artifacts.size(of: file.sha256) == 300 && store.artifacts.size(of: other.sha256) == 3)

        // A model whose file is not in the store, or with a bad name, is refused and not recorded.
        #expect(throws: StoreError.self) { _ = try store.registerModel(Self.record((String(repeating: "a", count: 64), 5))) }
        #expect(throws: StoreError.self) { _ = try store.registerModel(Self.record(("ABC", 5))) }
        #expect(try store.models().count == 2)
        #expect(try store.model(String(repeating: "a", count: 64)) == nil)
        // The table's own checks hold against direct writes too.
        #expect(throws: (any Error).self) {
            try store.pool.write { db in
                try db.execute(sql: "INSERT INTO models (sha256, name, size, producer, input_shape, prunable_layers, weights, trainable, refusal) "
                               + "VALUES (?, 'x', 1, '', '[1]', 0, 0, 1, 'but refused')", arguments: [String(repeating: "b", count: 64)])
            }
        }
    }

    @Test func backupsCopyModelFiles() throws {
        let (store, directory) = try temporaryDatabase()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try artifact(store, Array(repeating: 9, count: 1000))
        _ = try store.registerModel(Self.record(file))
        let copy = directory.appendingPathComponent("backup.sqlite").path
        let report = try Store.backup(database: store.path, to: copy, artifacts: Store.defaultArtifactsPath(for: store.path), replace: false)
        #expect(report.artifactFiles == 1 && report.artifactBytes == 1000)
        let restored = try Store(path: copy)
        #expect(try restored.model(file.sha256)?.size == 1000)
        #expect(try restored.modelBytes(file.sha256) == Data(repeating: 9, count: 1000))
        // Without the model's file the backup fails rather than keep a model nobody can train.
        try store.artifacts.remove(file.sha256)
        #expect(throws: (any Error).self) {
            _ = try Store.backup(database: store.path, to: directory.appendingPathComponent("second.sqlite").path,
                                 artifacts: Store.defaultArtifactsPath(for: store.path), replace: false)
        }
    }
}
