import Crypto
import Figures
import FileSupport
import Foundation
import NeuralNet
import Tensors

/// A run's complete training state: enough that a run stopped here and resumed ends
/// bit-identical to the uninterrupted run.
///
/// Data order and augmentation are functions of (seed, epoch, batch) only (`BatchLoader`), and the
/// learning rate a function of the step, so the step stands in for every random generator's
/// state; the weights, BatchNorm statistics, momentum buffers and masks are stored exactly.
///
/// File format, version 1 (all integers little-endian):
///
/// | offset | size | content |
/// |---|---|---|
/// | 0 | 8 | magic `50 4C 43 4B 50 54 0D 0A` ("PLCKPT\r\n": catches text-mode mangling) |
/// | 8 | 4 | format version (UInt32) = 1 |
/// | 12 | 4 | header length H (UInt32) |
/// | 16 | H | header, UTF-8 JSON: `run_key`, `architecture`, `step`, `phase`, `tensors` [{`name`, `shape`}], `metrics`, `train_window` |
/// | 16 + H | 4·Σ counts | the tensors' float32 values, in header order, row-major |
/// | end − 32 | 32 | SHA-256 of every byte before it |
///
/// Tensor names: `parameter.<i>.value` and `parameter.<i>.velocity` for the network's parameters in
/// canonical order, `buffer.<j>` for BatchNorm running statistics, `mask.<layer>` for the masks of
/// the prunable layers (`conv1`, `fc1`, …). Files are written to a temporary name and renamed.
public struct Checkpoint: Equatable, Sendable {
    public static let magic: [UInt8] = [0x50, 0x4C, 0x43, 0x4B, 0x50, 0x54, 0x0D, 0x0A]
    public static let version: UInt32 = 1

    public struct Header: Codable, Equatable, Sendable {
        public var runKey: String
        public var architecture: String
        /// SGD steps completed in the current phase.
        public var step: Int
        /// Training phase: 0 for ordinary runs; the round (1-based) for lottery-ticket rounds.
        public var phase: Int
        public var tensors: [TensorEntry]
        /// Evaluations recorded so far, so metrics.jsonl continues seamlessly after a resume.
        public var metrics: [MetricRecord]?
        /// Running training-loss window since the last evaluation: summed loss, correct, images.
        public var trainWindow: [Double]?
        /// The density quota the pruner gave each prunable layer (pruners that allot quotas), so that
        /// a resumed run, which does not prune again, reports the same per-layer table.
        public var quotas: [Double]?
    }

    /// The number of elements of `shape` when every dimension is ≥ 0 and the product is at most
    /// `limit` (checked as it is multiplied, so no shape overflows); nil otherwise.
    public static func elementCount(_ shape: [Int], atMost limit: Int) -> Int? {
        guard !shape.contains(where: { $0 < 0 }) else { return nil }
        if shape.contains(0) { return 0 }
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= limit else { return nil }
            count = product
        }
        return count
    }

    /// A training window is [summed loss, correct, images]: finite, the counts whole numbers in
    /// 0...2⁵³ with correct ≤ images (what a resumed run converts back to integers).
    public static func validWindow(_ window: [Double]) -> Bool {
        guard window.count == 3, window.allSatisfy(\.isFinite) else { return false }
        let (correct, images) = (window[1], window[2])
        return correct >= 0 && correct <= images && images <= 9_007_199_254_740_992
            && correct == correct.rounded() && images == images.rounded()
    }

    public struct TensorEntry: Codable, Equatable, Sendable {
        public var name: String
        public var shape: [Int]
        /// Elements of `shape`; 0 for a shape with a negative dimension or whose product overflows
        /// (never a network's, and refused when a checkpoint is read: `init(decoding:path:)`
        /// counts with `elementCount` and never reads this for a file's shapes).
        public var count: Int { Checkpoint.elementCount(shape, atMost: .max) ?? 0 }
    }

    public var header: Header
    /// Values per tensor, in header order.
    public var values: [[Float]]

    /// Where a stored tensor lives in a network and its optimiser.
    private enum Source {
        case value(Parameter), velocity(Parameter), buffer(Tensor), mask(Parameter)
    }

    /// The tensors a checkpoint of `network` holds, in file order — the one place that order is
    /// written down, for saving and for checking before a restore.
    private static func contents(of network: Network) -> [(entry: TensorEntry, source: Source)] {
        var contents: [(TensorEntry, Source)] = []
        for (i, parameter) in network.parameters.enumerated() {
            contents.append((TensorEntry(name: "parameter.\(i).value", shape: parameter.shape), .value(parameter)))
            contents.append((TensorEntry(name: "parameter.\(i).velocity", shape: parameter.shape), .velocity(parameter)))
        }
        for (j, buffer) in network.buffers.enumerated() {
            contents.append((TensorEntry(name: "buffer.\(j)", shape: buffer.tensor.shape), .buffer(buffer.tensor)))
        }
        for (name, parameter) in zip(network.prunableLayerNames, network.prunableParameters) {
            contents.append((TensorEntry(name: "mask.\(name)", shape: parameter.shape), .mask(parameter)))
        }
        return contents
    }

    /// The tensors a checkpoint of `network` holds, in file order.
    public static func tensorEntries(of network: Network) -> [TensorEntry] { contents(of: network).map(\.entry) }

    /// The state of `network` and `optimizer` after `step` steps of `phase`.
    public init(runKey: String, network: Network, optimizer: SGD, step: Int, phase: Int, metrics: [MetricRecord]? = nil,
                trainWindow: [Double]? = nil, quotas: [Double]? = nil) {
        let contents = Self.contents(of: network)
        values = contents.map { _, source in
            switch source {
            case let .value(parameter): parameter.value.array
            case let .velocity(parameter): optimizer.velocity(of: parameter)?.array ?? Array(repeating: 0, count: parameter.count)
            case let .buffer(tensor): tensor.array
            case let .mask(parameter): parameter.mask?.array ?? Array(repeating: 1, count: parameter.count)
            }
        }
        header = Header(runKey: runKey, architecture: network.name, step: step, phase: phase, tensors: contents.map(\.entry),
                        metrics: metrics, trainWindow: trainWindow, quotas: quotas)
    }

    /// Puts the stored state back into `network` and `optimizer`, after checking that the
    /// checkpoint belongs to `runKey` and matches the network tensor for tensor.
    public func restore(into network: Network, optimizer: SGD, runKey: String, path: String) throws {
        guard header.runKey == runKey else {
            throw ExperimentsError.badCheckpoint(path: path, reason: "belongs to run \(header.runKey), not \(runKey)")
        }
        let contents = Self.contents(of: network)
        guard header.tensors == contents.map(\.entry) else {
            throw ExperimentsError.badCheckpoint(path: path, reason: "its tensors do not match \(network.name)'s parameters")
        }
        for ((_, source), stored) in zip(contents, values) {
            let target: Tensor
            switch source {
            case let .value(parameter): target = parameter.value
            case let .velocity(parameter): target = optimizer.velocityBuffer(of: parameter)
            case let .buffer(tensor): target = tensor
            case let .mask(parameter):
                target = Tensor(shape: parameter.shape)
                parameter.mask = target
            }
            stored.withUnsafeBufferPointer { target.data.update(from: $0.baseAddress!, count: $0.count) }
        }
    }

    /// The masks stored in the checkpoint, in canonical layer order.
    public var masks: [Tensor] {
        zip(header.tensors, values).filter { $0.0.name.hasPrefix("mask.") }.map { Tensor(shape: $0.0.shape, values: $0.1) }
    }

    /// The value of the prunable weights, in canonical order (what child runs rank by magnitude).
    public func prunableWeights(of network: Network) -> [Tensor] {
        let prunable = Set(network.prunableParameters.map(ObjectIdentifier.init))
        return network.parameters.enumerated().compactMap { i, parameter in
            guard prunable.contains(ObjectIdentifier(parameter)) else { return nil }
            return Tensor(shape: parameter.shape, values: values[2 * i])
        }
    }

    // MARK: - Bytes

    public func encoded() throws -> Data {
        let headerData = try JSONCoding.encoder().encode(header)
        var data = Data(Self.magic)
        append(Self.version, to: &data)
        append(UInt32(headerData.count), to: &data)
        data.append(headerData)
        // Little-endian float32 on disk, the host order of every platform prunelab runs on.
        for tensor in values { tensor.withUnsafeBytes { data.append(contentsOf: $0) } }
        data.append(contentsOf: SHA256.hash(data: data))
        return data
    }

    public init(decoding data: Data, path: String) throws {
        func fail(_ reason: String) -> ExperimentsError { .badCheckpoint(path: path, reason: reason) }
        guard data.count >= 16 + 32 else { throw fail("truncated (\(data.count) bytes)") }
        guard Array(data.prefix(8)) == Self.magic else { throw fail("not a prunelab checkpoint (bad magic)") }
        let bytes = [UInt8](data)
        func word(at offset: Int) -> UInt32 {
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
        }
        let version = word(at: 8)
        guard version == Self.version else { throw fail("format version \(version), this prunelab reads version \(Self.version)") }
        let digest = Array(SHA256.hash(data: data.prefix(data.count - 32)))
        guard digest == Array(data.suffix(32)) else { throw fail("checksum mismatch (corrupt or truncated)") }
        let headerLength = Int(word(at: 12))
        guard 16 + headerLength <= data.count - 32 else { throw fail("header length \(headerLength) exceeds the file") }
        do {
            header = try JSONCoding.decoder().decode(Header.self, from: data.subdata(in: 16..<(16 + headerLength)))
        } catch {
            throw fail("unreadable header")
        }
        let payload = data.count - 32 - 16 - headerLength
        // Shapes and counts come from the file: multiplied with overflow checks and bounded by
        // the bytes there are before anything is allocated.
        var expected = 0, counts: [Int] = []
        for entry in header.tensors {
            guard let count = Self.elementCount(entry.shape, atMost: payload / 4), expected + 4 * count <= payload else {
                throw fail("tensor \(entry.name) of shape \(entry.shape) does not fit its \(payload) bytes of values")
            }
            expected += 4 * count
            counts.append(count)
        }
        guard payload == expected else { throw fail("holds \(payload) bytes of values, its header describes \(expected)") }
        guard header.step >= 0, header.phase >= 0 else { throw fail("negative step \(header.step) or phase \(header.phase)") }
        if let window = header.trainWindow {
            guard Self.validWindow(window) else { throw fail("malformed train_window \(window)") }
        }
        var offset = 16 + headerLength
        // The values are little-endian float32, which is the host order on every platform Swift runs
        // prunelab on (x86-64, arm64): copy them as bytes.
        // The counts just checked, not `TensorEntry.count`: a shape like [2⁶², 4, 0] has 0 elements
        // but overflows when multiplied from the left.
        values = data.withUnsafeBytes { raw in
            counts.map { count in
                var tensor = [Float](repeating: 0, count: count)
                tensor.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + 4 * count)])) }
                offset += 4 * count
                return tensor
            }
        }
    }

    /// Writes the state of `network` and `optimizer` after `step` steps of `phase` to `path`
    /// (atomically) straight from their tensors, without a copy of the state in memory. Returns
    /// the file's size and SHA-256 (its content address in the service's artifact store).
    @discardableResult
    public static func write(runKey: String, network: Network, optimizer: SGD, step: Int, phase: Int, metrics: [MetricRecord]? = nil,
                             trainWindow: [Double]? = nil, quotas: [Double]? = nil, to path: String) throws -> (bytes: Int, sha256: String) {
        do {
            let file = try AtomicFile(path: path)
            let sha256 = try stream(runKey: runKey, network: network, optimizer: optimizer, step: step, phase: phase, metrics: metrics,
                                    trainWindow: trainWindow, quotas: quotas, into: file.write)
            try file.commit()
            return (file.bytesWritten, sha256)
        } catch let error as ExperimentsError {
            throw error
        } catch {
            throw ExperimentsError.runDirectory(path: path, reason: "cannot write checkpoint: \(error)")
        }
    }

    /// The same checkpoint as bytes in memory, with their SHA-256: what a worker hands its uplink.
    public static func encode(runKey: String, network: Network, optimizer: SGD, step: Int, phase: Int, metrics: [MetricRecord]? = nil,
                              trainWindow: [Double]? = nil, quotas: [Double]? = nil) throws -> (data: Data, sha256: String) {
        var data = Data()
        let sha256 = try stream(runKey: runKey, network: network, optimizer: optimizer, step: step, phase: phase, metrics: metrics,
                                trainWindow: trainWindow, quotas: quotas) { data.append(contentsOf: $0) }
        return (data, sha256)
    }

    /// Hands the checkpoint's bytes to `sink` in order, straight from the tensors; returns their
    /// SHA-256 (which the bytes end with).
    private static func stream(runKey: String, network: Network, optimizer: SGD, step: Int, phase: Int, metrics: [MetricRecord]?,
                               trainWindow: [Double]?, quotas: [Double]?,
                               into sink: (UnsafeRawBufferPointer) throws -> Void) throws -> String {
        let contents = contents(of: network)
        let header = Header(runKey: runKey, architecture: network.name, step: step, phase: phase, tensors: contents.map(\.entry),
                            metrics: metrics, trainWindow: trainWindow, quotas: quotas)
        do {
            // The SHA-256 of everything written, kept as it goes: the checkpoint ends with it.
            var hasher = SHA256()
            func put(_ bytes: UnsafeRawBufferPointer) throws {
                hasher.update(bufferPointer: bytes)
                try sink(bytes)
            }
            try prelude(header).withUnsafeBytes { try put($0) }
            // Absent velocities (no step yet) are zeros, absent masks ones: written from one small buffer.
            var filler = [Float](repeating: 0, count: 1 << 14)
            func fill(_ value: Float, count: Int) throws {
                for i in filler.indices { filler[i] = value }
                var left = count
                while left > 0 {
                    let n = min(left, filler.count)
                    try filler.withUnsafeBytes { try put(UnsafeRawBufferPointer(rebasing: $0[0..<(4 * n)])) }
                    left -= n
                }
            }
            func write(_ tensor: Tensor, count: Int) throws {
                try put(UnsafeRawBufferPointer(start: tensor.readableData, count: 4 * count))
            }
            for (_, source) in contents {
                switch source {
                case let .value(parameter): try write(parameter.value, count: parameter.count)
                case let .velocity(parameter):
                    if let velocity = optimizer.velocity(of: parameter) { try write(velocity, count: parameter.count) } else {
                        try fill(0, count: parameter.count)
                    }
                case let .buffer(tensor): try write(tensor, count: tensor.count)
                case let .mask(parameter):
                    if let mask = parameter.mask { try write(mask, count: parameter.count) } else { try fill(1, count: parameter.count) }
                }
            }
            try Array(hasher.finalize()).withUnsafeBytes { try put($0) }
            return hasher.finalize().hexString
        }
    }

    /// Magic, version, header length and header: the bytes before the tensors' values.
    static func prelude(_ header: Header) throws -> Data {
        let headerData = try JSONCoding.encoder().encode(header)
        var data = Data(magic)
        withUnsafeBytes(of: version.littleEndian) { data.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(headerData.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(headerData)
        return data
    }

    /// Writes atomically: a temporary file in the same directory, then a rename.
    public func write(to path: String) throws {
        do {
            try AtomicFile.write(try encoded(), to: path)
        } catch {
            throw ExperimentsError.runDirectory(path: path, reason: "cannot write checkpoint: \(error)")
        }
    }

    public static func read(path: String) throws -> Checkpoint {
        // Mapped, not read: the values are copied once, into the tensors' arrays.
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) else {
            throw ExperimentsError.badCheckpoint(path: path, reason: "cannot be read")
        }
        return try Checkpoint(decoding: data, path: path)
    }

    private func append(_ value: UInt32, to data: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }
}
