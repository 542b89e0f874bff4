import FileSupport
import Foundation
import GRDB

/// An uploaded ONNX model (`models`, migration 0009): its file is in the artifact store under
/// `sha256`; the rest is what reading the graph found at upload.
public struct ModelRecord: Sendable, Equatable, Codable {
    public var sha256: String
    /// What the uploader called it (the file name by default).
    public var name: String
    public var size: Int
    /// The tool that wrote the file (`pytorch 2.5`), "" when it says nothing.
    public var producer: String
    /// The graph's per-sample input shape.
    public var inputShape: [Int]
    /// Output classes when the engine trains the graph.
    public var classes: Int?
    public var prunableLayers: Int
    public var weights: Int
    /// Why the engine cannot train it (nil when it can): sweeps naming it are refused with this.
    public var refusal: String?
    public var uploadedAt: String

    public var trainable: Bool { refusal == nil }

    public init(sha256: String, name: String, size: Int, producer: String, inputShape: [Int], classes: Int?, prunableLayers: Int,
                weights: Int, refusal: String?, uploadedAt: String = "") {
        self.sha256 = sha256; self.name = name; self.size = size; self.producer = producer; self.inputShape = inputShape
        self.classes = classes; self.prunableLayers = prunableLayers; self.weights = weights; self.refusal = refusal
        self.uploadedAt = uploadedAt
    }

    init(row: Row) throws {
        let shapeText: String = row["input_shape"]
        guard let shape = try? JSONDecoder().decode([Int].self, from: Data(shapeText.utf8)) else {
            throw StoreError.invalid(field: "input_shape", reason: "model \(row["sha256"] as String? ?? "?") has an unreadable input shape")
        }
        self.init(sha256: row["sha256"], name: row["name"], size: row["size"], producer: row["producer"], inputShape: shape,
                  classes: row["classes"], prunableLayers: row["prunable_layers"], weights: row["weights"], refusal: row["refusal"],
                  uploadedAt: row["uploaded_at"])
    }
}

extension Store {
    /// Records a model whose file is committed to the artifact store under `record.sha256`. The
    /// same file uploaded again keeps its first record: returns the stored record and whether it is new.
    public func registerModel(_ record: ModelRecord) throws -> (record: ModelRecord, new: Bool) {
        guard ContentAddress.isSHA256(record.sha256) else {
            throw StoreError.invalid(field: "sha256", reason: "a model is named by 64 lowercase hexadecimal digits")
        }
        let name = String(record.name.prefix(200))
        return try pool.write { db in
            // Checked inside the write transaction, which also serialises `release` and the collector.
            guard artifacts.size(of: record.sha256) == record.size else {
                throw StoreError.invalid(field: "body", reason: "model \(record.sha256) is not in the artifact store")
            }
            if let row = try Row.fetchOne(db, sql: "SELECT * FROM models WHERE sha256 = ?", arguments: [record.sha256]) {
                return (try ModelRecord(row: row), false)
            }
            let shape = String(decoding: try JSONEncoder().encode(record.inputShape), as: UTF8.self)
            try db.execute(sql: """
                INSERT INTO models (sha256, name, size, producer, input_shape, classes, prunable_layers, weights, trainable, refusal)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [record.sha256, name.isEmpty ? "model" : name, record.size, String(record.producer.prefix(200)), shape,
                                 record.classes, record.prunableLayers, record.weights, record.trainable ? 1 : 0,
                                 record.refusal.map { String($0.prefix(2000)) }])
            let row = try Row.fetchOne(db, sql: "SELECT * FROM models WHERE sha256 = ?", arguments: [record.sha256])
            guard let row else { throw StoreError.invalid(field: "sha256", reason: "model \(record.sha256) vanished while stored") }
            return (try ModelRecord(row: row), true)
        }
    }

    /// The model named `sha256`, nil when none was uploaded.
    public func model(_ sha256: String) throws -> ModelRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM models WHERE sha256 = ?", arguments: [sha256]).map(ModelRecord.init) }
    }

    /// Every uploaded model, newest first.
    public func models() throws -> [ModelRecord] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM models ORDER BY uploaded_at DESC, sha256").map(ModelRecord.init) }
    }

    /// The bytes of model `sha256` from the artifact store (nil when there is no such model),
    /// at most `limit` of them.
    public func modelBytes(_ sha256: String, limit: Int = Int(Int32.max)) throws -> Data? {
        guard ContentAddress.isSHA256(sha256), let record = try model(sha256) else { return nil }
        guard record.size <= limit else { throw StoreError.invalid(field: "sha256", reason: "model \(sha256) is over \(limit) bytes") }
        let reader = try artifacts.reader(for: sha256)
        var data = Data(capacity: record.size)
        while data.count < record.size {
            let chunk = try reader.read(upTo: min(1 << 20, record.size - data.count))
            if chunk.isEmpty { break }
            data.append(contentsOf: chunk)
        }
        return data
    }
}
