import Datasets
import Foundation
import NeuralNet

/// Decoded, normalised data sets kept between the runs of one process (a worker), so that a
/// sweep of short runs reads and normalises Fashion-MNIST once rather than once a run.
///
/// Splits are values with copy-on-write storage: a run gets the cached arrays and never writes
/// them, so a cached run computes on exactly the bytes a cold `RunData.load` produces. Entries are
/// evicted least recently used once their bytes exceed `capacityBytes`; a data set larger than
/// the cap is loaded and not kept.
public final class DatasetCache: @unchecked Sendable {
    public let capacityBytes: Int
    private var entries: [String: (splits: DatasetSplits, bytes: Int, used: UInt64)] = [:]
    private var clock: UInt64 = 0
    private let lock = NSLock()
    private let load: @Sendable (String, String, String?) throws -> DatasetSplits

    /// `load`: how a missing entry is read (`RunData.load`; tests pass their own).
    public init(capacityBytes: Int,
                load: @escaping @Sendable (String, String, String?) throws -> DatasetSplits = { try RunData.load(dataset: $0, architecture: $1, directory: $2) }) {
        self.capacityBytes = max(0, capacityBytes)
        self.load = load
    }

    /// Bytes held now.
    public var heldBytes: Int { lock.withLock { entries.values.reduce(0) { $0 + $1.bytes } } }

    /// What the cache holds, by key (tests, logs).
    public var keys: [String] { lock.withLock { entries.keys.sorted() } }

    /// The splits `RunData.load(dataset:architecture:directory:)` returns, from the cache when held.
    public func splits(dataset: String, architecture: String, directory: String?) throws -> DatasetSplits {
        let key = try Self.key(dataset: dataset, architecture: architecture, directory: directory)
        if let hit = lock.withLock({ () -> DatasetSplits? in
            clock += 1
            entries[key]?.used = clock
            return entries[key]?.splits
        }) {
            return hit
        }
        // Loaded outside the lock (seconds for large sets); a concurrent load of the same key just
        // keeps the later copy.
        let splits = try load(dataset, architecture, directory)
        let bytes = Self.bytes(of: splits)
        guard bytes <= capacityBytes else { return splits }
        lock.withLock {
            clock += 1
            entries[key] = (splits, bytes, clock)
            var held = entries.values.reduce(0) { $0 + $1.bytes }
            while held > capacityBytes, let oldest = entries.min(by: { $0.value.used < $1.value.used }) {
                held -= oldest.value.bytes
                entries[oldest.key] = nil
            }
        }
        return splits
    }

    /// Synthetic data depends on the architecture's input shape and classes; real data sets on
    /// their name and folder only.
    static func key(dataset: String, architecture: String, directory: String?) throws -> String {
        guard dataset == "synthetic" else { return "\(dataset)|\(directory ?? "")" }
        let entry = try Architecture.resolve(architecture).describe()
        return "synthetic|\(entry.inputShape)|\(entry.classes)"
    }

    static func bytes(of splits: DatasetSplits) -> Int {
        [splits.train, splits.test].reduce(0) { $0 + $1.images.count * MemoryLayout<Float>.size + $1.labels.count * MemoryLayout<Int32>.size }
    }
}
