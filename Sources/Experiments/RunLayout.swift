import Crypto
import Foundation
import NeuralNet
import Tensors

extension Sequence where Element == UInt8 {
    /// Lowercase hexadecimal.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

/// What a run's masks and checkpoints hold, known from its config alone: its prunable layers in
/// canonical order and the tensors of its checkpoints. The service bounds and checks a run's
/// uploads with it (a mask upload is exactly `packedMaskBytes`; a checkpoint at most
/// `maximumCheckpointBytes`) without loading its data or training anything.
public struct RunLayout: Sendable, Equatable {
    public struct Layer: Sendable, Equatable {
        public let name: String
        public let shape: [Int]
        public var size: Int { shape.reduce(1, *) }
        /// numpy.packbits of the layer's mask: one bit per weight, the last byte zero-padded.
        public var packedBytes: Int { (size + 7) / 8 }
    }

    public let architecture: String
    public let layers: [Layer]
    public let checkpointTensors: [Checkpoint.TensorEntry]
    /// Evaluations a checkpoint's header may list (metrics of every phase so far).
    public let evaluations: Int

    /// Every layer's packed mask, one after the other.
    public var packedMaskBytes: Int { layers.reduce(0) { $0 + $1.packedBytes } }

    /// The checkpoint's float32 values.
    public var checkpointValueBytes: Int { checkpointTensors.reduce(0) { $0 + 4 * $1.count } }

    /// Bytes a checkpoint's JSON header may take: its tensor list and up to four metrics (train
    /// and test loss and accuracy) per evaluation, each well under the allowance per entry.
    public var maximumHeaderBytes: Int { 4096 + 256 * checkpointTensors.count + 4 * 160 * evaluations }

    /// The largest checkpoint of the run: magic, version and length (16), header, values, SHA-256 (32).
    public var maximumCheckpointBytes: Int { 16 + maximumHeaderBytes + checkpointValueBytes + 32 }

    /// The layout of `config`'s runs (cached: one per architecture, input and evaluation count).
    public static func of(_ config: RunConfig) throws -> RunLayout {
        let (shape, classes) = try RunData.sampleShape(dataset: config.dataset, architecture: config.architecture)
        let phases = config.pruner.phases(config.settings)
        let perPhase = config.training.iterations / max(1, config.training.evalEvery) + 1
        let evaluations = phases.multipliedReportingOverflow(by: perPhase)
        guard !evaluations.overflow else { throw ExperimentsError.invalidField(field: "training.eval_every", reason: "too many evaluations") }
        let key = "\(config.architecture) \(shape) \(classes)"
        let network = try cache.withLock { entries in
            if let hit = entries[key] { return hit }
            let made = try describe(config.architecture, inputShape: shape, classes: classes)
            entries[key] = made
            return made
        }
        return RunLayout(architecture: config.architecture, layers: network.layers, checkpointTensors: network.tensors,
                         evaluations: evaluations.partialValue)
    }

    private static let cache = Locked<[String: (layers: [Layer], tensors: [Checkpoint.TensorEntry])]>([:])

    /// Builds the network once to read its structure. Its tensors are mapped, never touched, so
    /// this costs address space, not memory.
    private static func describe(_ architecture: String, inputShape: [Int], classes: Int) throws
        -> (layers: [Layer], tensors: [Checkpoint.TensorEntry]) {
        let network = try Architecture.resolve(architecture).make(inputShape: inputShape, classes: classes)
        let layers = zip(network.prunableLayerNames, network.prunableParameters).map { Layer(name: $0, shape: $1.shape) }
        return (layers, Checkpoint.tensorEntries(of: network))
    }
}

/// A value behind a lock (Synchronization's Mutex needs macOS 15; this package targets 14).
public final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    public init(_ value: Value) { self.value = value }
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

extension RunData {
    /// The per-sample input shape and class count of `dataset` for `architecture` (synthetic data
    /// takes the architecture's own), without loading it.
    public static func sampleShape(dataset: String, architecture: String) throws -> (shape: [Int], classes: Int) {
        if let shape = sampleShape(of: dataset) { return shape }
        guard dataset == "synthetic" else { throw ExperimentsError.invalidField(field: "dataset", reason: "unknown data set '\(dataset)'") }
        let description = try Architecture.resolve(architecture).describe()
        return (description.inputShape, description.classes)
    }

    /// The per-sample input shape and class count of a real data set; nil for synthetic data
    /// (the architecture's own) and unknown names.
    public static func sampleShape(of dataset: String) -> (shape: [Int], classes: Int)? {
        switch dataset {
        case "fashion-mnist", "mnist": ([1, 28, 28], 10)
        case "cifar10": ([3, 32, 32], 10)
        case "cifar100": ([3, 32, 32], 100)
        case "tinyimagenet": ([3, 64, 64], 200)
        default: nil
        }
    }
}

extension Checkpoint {
    /// Checks a checkpoint as its bytes arrive, without holding them: the prelude and header
    /// (magic, version, run, phase and step, the tensors of the run's layout), the exact length
    /// the header implies, and the SHA-256 trailer over everything before it.
    public struct StreamCheck {
        public let runKey: String
        public let phase: Int
        public let step: Int
        public let layout: RunLayout
        private var head: [UInt8] = []
        private var expectedLength: Int?
        /// Hash of every byte but the last 32 seen (the trailer, if this is the end).
        private var body = SHA256()
        private var lag: [UInt8] = []
        public private(set) var received = 0

        public init(runKey: String, phase: Int, step: Int, layout: RunLayout) {
            self.runKey = runKey; self.phase = phase; self.step = step; self.layout = layout
        }

        /// Why the bytes are refused.
        public struct Refusal: Error, CustomStringConvertible {
            public let description: String
            /// The bytes exceed what the layout allows (an HTTP 413 rather than a 400).
            public let tooLarge: Bool
        }

        public mutating func consume(_ bytes: UnsafeRawBufferPointer) throws {
            received += bytes.count
            if received > (expectedLength ?? layout.maximumCheckpointBytes) {
                throw Refusal(description: "checkpoint exceeds the \(expectedLength ?? layout.maximumCheckpointBytes) bytes "
                              + "\(expectedLength == nil ? "a checkpoint of \(layout.architecture) may take" : "its header implies")",
                              tooLarge: expectedLength == nil)
            }
            if expectedLength == nil { try readHead(bytes) }
            // Hash all but the trailing 32 bytes seen so far.
            if bytes.count >= 32 {
                body.update(data: lag)
                body.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[0..<(bytes.count - 32)]))
                lag = Array(bytes[(bytes.count - 32)...])
            } else {
                lag.append(contentsOf: bytes)
                if lag.count > 32 {
                    body.update(data: lag[0..<(lag.count - 32)])
                    lag.removeFirst(lag.count - 32)
                }
            }
        }

        private mutating func readHead(_ bytes: UnsafeRawBufferPointer) throws {
            head.append(contentsOf: bytes.prefix(max(0, 16 + layout.maximumHeaderBytes - head.count)))
            guard head.count >= 16 else { return }
            guard Array(head[0..<8]) == Checkpoint.magic else { throw Refusal(description: "not a prunelab checkpoint (bad magic)", tooLarge: false) }
            let version = head[8..<12].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard version == Checkpoint.version else {
                throw Refusal(description: "checkpoint format version \(version), this server reads version \(Checkpoint.version)", tooLarge: false)
            }
            let headerLength = Int(head[12..<16].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard headerLength <= layout.maximumHeaderBytes else {
                throw Refusal(description: "checkpoint header of \(headerLength) bytes exceeds \(layout.maximumHeaderBytes)", tooLarge: true)
            }
            guard head.count >= 16 + headerLength else { return }
            let header: Header
            do {
                header = try JSONCoding.decoder().decode(Header.self, from: Data(head[16..<(16 + headerLength)]))
            } catch {
                throw Refusal(description: "unreadable checkpoint header", tooLarge: false)
            }
            guard header.runKey == runKey else { throw Refusal(description: "checkpoint of run \(header.runKey), not \(runKey)", tooLarge: false) }
            guard header.phase == phase, header.step == step else {
                throw Refusal(description: "checkpoint of phase \(header.phase) step \(header.step), not phase \(phase) step \(step)", tooLarge: false)
            }
            guard header.tensors == layout.checkpointTensors else {
                throw Refusal(description: "checkpoint tensors do not match \(layout.architecture)'s", tooLarge: false)
            }
            expectedLength = 16 + headerLength + layout.checkpointValueBytes + 32
            head = []
            if received > expectedLength! {
                throw Refusal(description: "checkpoint longer than the \(expectedLength!) bytes its header implies", tooLarge: false)
            }
        }

        /// Call at the end of the bytes: checks length and trailer.
        public func finish() throws {
            guard let expectedLength, received == expectedLength else {
                throw Refusal(description: "checkpoint truncated: \(received) bytes, \(expectedLength.map { "its header implies \($0)" } ?? "header incomplete")",
                              tooLarge: false)
            }
            var body = body
            guard Array(body.finalize()) == lag else {
                throw Refusal(description: "checkpoint checksum mismatch (corrupt or truncated)", tooLarge: false)
            }
        }
    }
}
