import Crypto
import FileSupport
import Foundation
import NeuralNet
import ONNX
import Tensors

/// What a run config's `architecture` names: one of the zoo's networks, or an ONNX model uploaded
/// to the service (`POST /api/v1/models`), named `onnx:<sha256 of the file>` — the content
/// address makes a run key mean one model for ever.
public enum Architecture: Hashable, Sendable {
    case zoo(String)
    case imported(sha256: String)

    /// The prefix of an imported model's name.
    public static let importedPrefix = "onnx:"

    /// The architecture `name` means, nil when it is neither a zoo name nor `onnx:` and 64
    /// lowercase hexadecimal digits.
    public init?(_ name: String) {
        if ModelZoo.names.contains(name) {
            self = .zoo(name)
        } else if name.hasPrefix(Self.importedPrefix), ContentAddress.isSHA256(String(name.dropFirst(Self.importedPrefix.count))) {
            self = .imported(sha256: String(name.dropFirst(Self.importedPrefix.count)))
        } else {
            return nil
        }
    }

    /// The name runs store: the zoo's name, or `onnx:<sha256>`.
    public var name: String {
        switch self {
        case let .zoo(name): name
        case let .imported(sha256): Self.importedPrefix + sha256
        }
    }

    /// The architecture `name` means, or the zoo's unknown-architecture error listing what is known.
    public static func resolve(_ name: String) throws -> Architecture {
        guard let architecture = Architecture(name) else { throw ModelZoo.Error.unknownArchitecture(name) }
        return architecture
    }

    /// What every error about an unknown architecture lists.
    public static var known: String { "\(ModelZoo.names.joined(separator: ", ")) or onnx:<sha256> of a model uploaded to POST /api/v1/models" }

    /// The per-sample input shape and class count the architecture is defined for (the zoo's
    /// defaults, an imported graph's declared input and output), its default data set (none for
    /// an imported model).
    public struct Description: Sendable {
        public let inputShape: [Int]
        public let classes: Int
        public let defaultDataset: String?
    }

    public func describe() throws -> Description {
        switch self {
        case let .zoo(name):
            let entry = try ModelZoo.entry(name)
            return Description(inputShape: entry.inputShape, classes: entry.classes, defaultDataset: entry.defaultDataset)
        case let .imported(sha256):
            let model = try ImportedModels.shared.trainable(sha256)
            return Description(inputShape: model.inputShape, classes: model.classes, defaultDataset: nil)
        }
    }

    /// The network for samples of `inputShape` and `classes` classes. The zoo adapts its networks
    /// to the data; an imported graph is what it is, so data of another shape is refused naming both.
    public func make(inputShape: [Int], classes: Int, backend: any Backend = CPUBackend.shared) throws -> Network {
        switch self {
        case let .zoo(name):
            return try ModelZoo.make(name, inputShape: inputShape, classes: classes, backend: backend)
        case let .imported(sha256):
            let model = try ImportedModels.shared.trainable(sha256)
            guard model.inputShape == inputShape, model.classes == classes else {
                throw ImportedModels.Failure.doesNotFit(name: name, expects: model.inputShape, classes: model.classes,
                                                        given: inputShape, givenClasses: classes)
            }
            return try ONNXNetwork.make(model.graph, name: name, backend: backend).network
        }
    }
}

/// The ONNX models this process can train, by SHA-256, read through its sources (the service reads
/// its artifact store, a worker the copies it downloaded, `prunelab run` the files it was given),
/// tried in the order they were added, and checked once: the bytes must hash to
/// the name they are asked for, and the graph must be one the engine trains (`ONNXNetwork`).
/// Parsed graphs are kept (a few: a ResNet-50 with its parameters is 100 MB).
public final class ImportedModels: @unchecked Sendable {
    public static let shared = ImportedModels()

    /// A parsed model the engine can train, with what runs need to know of it.
    public struct Trainable: Sendable {
        public let graph: ONNXModel
        public let inputShape: [Int]
        public let classes: Int
    }

    public enum Failure: Error, Equatable, CustomStringConvertible {
        case unknown(sha256: String)
        case corrupt(sha256: String, actual: String)
        case doesNotFit(name: String, expects: [Int], classes: Int, given: [Int], givenClasses: Int)

        public var description: String {
            switch self {
            case let .unknown(sha256): "no model onnx:\(sha256) here (upload it with POST /api/v1/models)"
            case let .corrupt(sha256, actual): "the stored copy of model onnx:\(sha256) hashes to \(actual); refusing it"
            case let .doesNotFit(name, expects, classes, given, givenClasses):
                "\(name) takes samples \(expects) in \(classes) classes; the data set has samples \(given) in \(givenClasses) classes"
            }
        }
    }

    private let lock = NSLock()
    /// Each returns a model's bytes by SHA-256, nil when it has no such model.
    private var sources: [@Sendable (String) throws -> Data?] = []
    private var folders: Set<String> = []
    private var parsed: [String: (model: Trainable, used: UInt64)] = [:]
    private var clock: UInt64 = 0
    /// Parsed models kept at once.
    public let capacity = 4

    public init() {}

    /// One more place models come from (parsed ones stay: a content address never changes meaning).
    public func addSource(_ source: @escaping @Sendable (String) throws -> Data?) {
        lock.withLock { sources.append(source) }
    }

    /// A source reading `<folder>/<sha256>.onnx` (once per folder).
    public func addFolder(_ folder: String) {
        guard lock.withLock({ folders.insert(folder).inserted }) else { return }
        addSource { sha256 in
            let path = "\(folder)/\(sha256).onnx"
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        }
    }

    /// The model named `sha256`, parsed and checked (once while it stays in the cache).
    public func trainable(_ sha256: String) throws -> Trainable {
        if let hit = lock.withLock({ () -> Trainable? in
            clock += 1
            parsed[sha256]?.used = clock
            return parsed[sha256]?.model
        }) {
            return hit
        }
        var found: Data?
        for source in lock.withLock({ sources }) {
            if let data = try source(sha256) { found = data; break }
        }
        guard let data = found else { throw Failure.unknown(sha256: sha256) }
        let actual = Self.sha256(of: data)
        guard actual == sha256 else { throw Failure.corrupt(sha256: sha256, actual: actual) }
        let model = try Self.check(ONNXModel(data: data))
        lock.withLock {
            clock += 1
            parsed[sha256] = (model, clock)
            while parsed.count > capacity, let oldest = parsed.min(by: { $0.value.used < $1.value.used }) { parsed[oldest.key] = nil }
        }
        return model
    }

    /// A model's name in run configs without its `onnx:`: the file's SHA-256 in lowercase hex.
    public static func sha256(of data: Data) -> String { Array(SHA256.hash(data: data)).hexString }

    /// Why the engine cannot train a graph: the node and what is wrong with it.
    public struct Refusal: Error, Sendable {
        public let reason: String
    }

    /// `check`, with a graph the engine cannot train as its reason: what `POST /models` records
    /// and `prunelab models --onnx` prints.
    public static func assess(_ graph: ONNXModel) -> Result<Trainable, Refusal> {
        do {
            return .success(try check(graph))
        } catch let ONNXError.notTrainable(node, reason) {
            return .failure(Refusal(reason: "\(node): \(reason)"))
        } catch {
            return .failure(Refusal(reason: String(describing: error)))
        }
    }

    /// Builds the graph's network once: a graph that reads but does not train throws
    /// `ONNXError.notTrainable` naming the node and the reason.
    public static func check(_ graph: ONNXModel) throws -> Trainable {
        let made = try ONNXNetwork.make(graph, name: "model")
        let shape = made.network.inputShape
        guard shape.count == 3 else {
            throw ONNXError.notTrainable(node: "graph input", reason: "prunelab trains on images, samples [C, H, W]; this graph takes \(shape)")
        }
        return Trainable(graph: graph, inputShape: shape, classes: made.network.classes)
    }
}
