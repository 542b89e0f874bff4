import Foundation
import SwiftProtobuf

/// An ONNX model's graph as prunelab reads it: checked nodes in topological order, the tensors
/// its initializers declare (data read on demand), and the shapes of its inputs, outputs and
/// annotated values. Decoding is bounded: the file by `maximumFileBytes`, every declared tensor by
/// `maximumTensorElements` (checked before anything that size is allocated), nesting by the
/// protobuf decoder's depth limit. A file that fails any check is one `ONNXError`.
public struct ONNXModel: Sendable {
    /// Larger files are refused before they are read (protobuf's own limit is 2 GiB).
    public static let maximumFileBytes = 1 << 31 - 1
    /// Elements of one declared tensor (weights, masks, values): 2^28, 1 GiB of float32.
    public static let maximumTensorElements = 1 << 28

    public let irVersion: Int
    /// The default domain's operator set version (0 when the file names none).
    public let opsetVersion: Int
    public let producer: String
    /// Graph inputs that no initializer backs: the data input, and the weights of a model exported
    /// without parameters (`export_params=False`).
    public let inputs: [ValueInfo]
    public let outputs: [ValueInfo]
    /// Initializers by name; `Constant` nodes' tensors are here too, under their output's name.
    public let initializers: [String: TensorInfo]
    /// Shapes the file declares for values (inputs, outputs, value_info), by name.
    public let declaredShapes: [String: [Dimension]]
    /// Every node, each after the nodes whose outputs it reads.
    public let nodes: [Node]

    /// The product of `dimensions`, overflow-checked and at most `maximumTensorElements`; `what`
    /// names the tensor or map in the error.
    public static func elementCount(_ dimensions: [Int], of what: String) throws -> Int {
        var count = 1
        for dimension in dimensions {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= maximumTensorElements else {
                throw ONNXError.invalid("\(what) has shape \(dimensions), more than \(maximumTensorElements) elements (2^28)")
            }
            count = product
        }
        return count
    }

    /// Reads and checks the model in `url`: its size first, then its contents.
    public init(contentsOf url: URL) throws {
        let size: Int
        do {
            let values = try url.resourceValues(forKeys: [.fileSizeKey, .isRegularFileKey])
            guard values.isRegularFile == true, let fileSize = values.fileSize else {
                throw ONNXError.invalid("\(url.path) is not a regular file")
            }
            size = fileSize
        } catch let error as ONNXError {
            throw error
        } catch {
            throw ONNXError.invalid("cannot read \(url.path): \(error.localizedDescription)")
        }
        guard size <= Self.maximumFileBytes else { throw ONNXError.tooLarge(bytes: size, limit: Self.maximumFileBytes) }
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw ONNXError.invalid("cannot read \(url.path): \(error.localizedDescription)")
        }
        try self.init(data: data)
    }

    /// Decodes and checks a serialized ModelProto.
    public init(data: Data) throws {
        guard data.count <= Self.maximumFileBytes else { throw ONNXError.tooLarge(bytes: data.count, limit: Self.maximumFileBytes) }
        guard !data.isEmpty else { throw ONNXError.malformed("the file is empty") }
        var options = BinaryDecodingOptions()
        options.discardUnknownFields = true
        options.messageDepthLimit = 64
        let model: Prunelab_Onnx_ModelProto
        do {
            model = try Prunelab_Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw ONNXError.malformed("not an ONNX model (protobuf decoding failed: \(Self.describe(error)))")
        }
        guard model.hasGraph else { throw ONNXError.malformed("the model has no graph (not an ONNX model?)") }
        let graph = model.graph
        guard !graph.node.isEmpty else { throw ONNXError.invalid("the graph has no nodes") }
        irVersion = Int(model.irVersion)
        opsetVersion = Int(model.opsetImport.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" })?.version ?? 0)
        producer = [model.producerName, model.producerVersion].filter { !$0.isEmpty }.joined(separator: " ")

        var initializers: [String: TensorInfo] = [:]
        for tensor in graph.initializer {
            guard !tensor.name.isEmpty else { throw ONNXError.invalid("an initializer has no name") }
            guard initializers[tensor.name] == nil else { throw ONNXError.invalid("initializer '\(tensor.name)' is defined twice") }
            initializers[tensor.name] = try TensorInfo(tensor, name: tensor.name)
        }
        var declared: [String: [Dimension]] = [:]
        func declare(_ info: Prunelab_Onnx_ValueInfoProto) throws -> ValueInfo {
            let value = try ValueInfo(info)
            if let dimensions = value.dimensions { declared[value.name] = dimensions }
            return value
        }
        let graphInputs = try graph.input.map(declare)
        outputs = try graph.output.map(declare)
        for info in graph.valueInfo { _ = try declare(info) }
        inputs = graphInputs.filter { initializers[$0.name] == nil }
        guard !outputs.isEmpty else { throw ONNXError.invalid("the graph has no outputs") }

        // Nodes, with unnamed ones named by position; Constant nodes become initializers.
        var nodes: [Node] = []
        var producers: [String: Int] = [:]
        var defined = Set(graphInputs.map(\.name)).union(initializers.keys)
        for (position, proto) in graph.node.enumerated() {
            let node = try Node(proto, position: position)
            for output in node.outputs where !output.isEmpty {
                guard producers[output] == nil, !defined.contains(output) else {
                    throw ONNXError.invalid("value '\(output)' is defined twice (again by \(node.label))")
                }
                producers[output] = position
            }
            if node.opType == "Constant" {
                guard node.outputs.count == 1, case let .tensor(tensor)? = node.attributes["value"] else {
                    throw ONNXError.unsupportedAttribute(node: node.label, reason: "only Constant nodes with a tensor `value` are supported")
                }
                initializers[node.outputs[0]] = tensor.renamed(node.outputs[0])
            }
            nodes.append(node)
        }
        defined.formUnion(producers.keys)
        for node in nodes {
            for input in node.inputs where !input.isEmpty && !defined.contains(input) {
                throw ONNXError.invalid("\(node.label) reads '\(input)', which no input, initializer or node defines")
            }
        }
        for output in outputs where !defined.contains(output.name) {
            throw ONNXError.invalid("graph output '\(output.name)' is not computed by any node")
        }
        self.nodes = try Self.topologicallySorted(nodes, producers: producers)
        self.initializers = initializers
        declaredShapes = declared
    }

    /// Kahn's algorithm, stable in file order; a node left over lies on a cycle.
    private static func topologicallySorted(_ nodes: [Node], producers: [String: Int]) throws -> [Node] {
        var waiting = [Int](repeating: 0, count: nodes.count)
        var consumers = [[Int]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() {
            let sources = Set(node.inputs.compactMap { producers[$0] })
            waiting[index] = sources.count
            for source in sources { consumers[source].append(index) }
        }
        var ready = (0..<nodes.count).filter { waiting[$0] == 0 }.reversed().map { $0 }
        var order: [Int] = []
        order.reserveCapacity(nodes.count)
        while let index = ready.popLast() {
            order.append(index)
            var released: [Int] = []
            for consumer in consumers[index] {
                waiting[consumer] -= 1
                if waiting[consumer] == 0 { released.append(consumer) }
            }
            ready.append(contentsOf: released.sorted(by: >))
            ready.sort(by: >)
        }
        guard order.count == nodes.count else {
            let stuck = (0..<nodes.count).first { waiting[$0] > 0 }!
            throw ONNXError.invalid("the graph has a cycle through \(nodes[stuck].label)")
        }
        return order.map { nodes[$0] }
    }

    private static func describe(_ error: Error) -> String {
        switch error {
        case BinaryDecodingError.truncated: "the file is truncated"
        case BinaryDecodingError.malformedProtobuf: "malformed protobuf data"
        case BinaryDecodingError.messageDepthLimit: "messages nested too deeply"
        case BinaryDecodingError.invalidUTF8: "a string is not UTF-8"
        default: String(describing: error)
        }
    }
}

/// One dimension of a declared shape.
public enum Dimension: Equatable, Sendable, CustomStringConvertible {
    case fixed(Int)
    /// A named dimension (`batch_size`) or one with neither value nor name.
    case symbolic(String)

    public var description: String {
        switch self {
        case let .fixed(value): String(value)
        case let .symbolic(name): name.isEmpty ? "?" : name
        }
    }
}

/// A graph input, output or annotated value: its name and, when declared, its tensor shape.
public struct ValueInfo: Equatable, Sendable {
    public let name: String
    public let elementType: Int
    public let dimensions: [Dimension]?

    init(_ proto: Prunelab_Onnx_ValueInfoProto) throws {
        guard !proto.name.isEmpty else { throw ONNXError.invalid("a graph input or output has no name") }
        name = proto.name
        guard case let .tensorType(tensor)? = proto.type.value else {
            elementType = 0
            dimensions = nil
            return
        }
        elementType = Int(tensor.elemType)
        guard tensor.hasShape else {
            dimensions = nil
            return
        }
        dimensions = try tensor.shape.dim.map { dimension -> Dimension in
            switch dimension.value {
            case let .dimValue(value)?:
                guard value >= 0, value <= Int64(ONNXModel.maximumTensorElements) else {
                    throw ONNXError.invalid("value '\(proto.name)' declares dimension \(value)")
                }
                return .fixed(Int(value))
            case let .dimParam(name)?: return .symbolic(name)
            case nil: return .symbolic("")
            }
        }
        if let dimensions {
            let fixed = dimensions.map { if case let .fixed(value) = $0 { value } else { 1 } }
            _ = try TensorInfo.elementCount(fixed, name: name)
        }
    }
}

/// A tensor the file declares (initializer or constant): its shape always, its values on demand.
public struct TensorInfo: Sendable {
    public private(set) var name: String
    public let dimensions: [Int]
    public let elementType: Int
    public let count: Int
    private let proto: Prunelab_Onnx_TensorProto

    public static let float = 1, int32 = 6, int64 = 7, double = 11

    init(_ proto: Prunelab_Onnx_TensorProto, name: String) throws {
        self.name = name
        dimensions = try proto.dims.map { dimension in
            guard dimension >= 0, dimension <= Int64(ONNXModel.maximumTensorElements) else {
                throw ONNXError.invalid("tensor '\(name)' declares dimension \(dimension)")
            }
            return Int(dimension)
        }
        count = try Self.elementCount(dimensions, name: name)
        elementType = Int(proto.dataType)
        self.proto = proto
        // Values, when present, must be as many as the shape says.
        if !proto.rawData.isEmpty {
            guard let size = Self.elementSize(elementType) else {
                throw ONNXError.invalid("tensor '\(name)' has raw data of element type \(elementType), which prunelab does not read")
            }
            guard proto.rawData.count == count * size else {
                throw ONNXError.invalid("tensor '\(name)' declares \(count) elements but holds \(proto.rawData.count) bytes of data")
            }
        } else {
            let held = [proto.floatData.count, proto.int32Data.count, proto.int64Data.count, proto.doubleData.count].max()!
            guard held == 0 || held == count else {
                throw ONNXError.invalid("tensor '\(name)' declares \(count) elements but holds \(held) values")
            }
        }
    }

    static func elementCount(_ dimensions: [Int], name: String) throws -> Int {
        try ONNXModel.elementCount(dimensions, of: "tensor '\(name)'")
    }

    private static func elementSize(_ type: Int) -> Int? {
        switch type {
        case float, int32: 4
        case int64, double: 8
        default: nil
        }
    }

    func renamed(_ name: String) -> TensorInfo {
        var copy = self
        copy.name = name
        return copy
    }

    /// Whether the file holds the values (not external data, not an input without an initializer).
    public var hasValues: Bool {
        proto.dataLocation != .external && count > 0
            && (!proto.rawData.isEmpty || !proto.floatData.isEmpty || !proto.doubleData.isEmpty
                || !proto.int32Data.isEmpty || !proto.int64Data.isEmpty)
    }

    /// The values as float32, or nil when the file holds none or holds a type other than float or double.
    public func floats() -> [Float]? {
        guard hasValues else { return nil }
        switch elementType {
        case Self.float:
            if !proto.floatData.isEmpty { return proto.floatData }
            return Self.littleEndian(proto.rawData, count: count, as: UInt32.self).map { Float(bitPattern: $0) }
        case Self.double:
            if !proto.doubleData.isEmpty { return proto.doubleData.map(Float.init) }
            return Self.littleEndian(proto.rawData, count: count, as: UInt64.self).map { Float(Double(bitPattern: $0)) }
        default: return nil
        }
    }

    /// The values as integers (int32 or int64 tensors: shapes, axes), or nil.
    public func integers() -> [Int]? {
        guard hasValues || count == 0 else { return nil }
        switch elementType {
        case Self.int64:
            if !proto.int64Data.isEmpty { return proto.int64Data.map { Int($0) } }
            return Self.littleEndian(proto.rawData, count: count, as: UInt64.self).map { Int(Int64(bitPattern: $0)) }
        case Self.int32:
            if !proto.int32Data.isEmpty { return proto.int32Data.map { Int($0) } }
            return Self.littleEndian(proto.rawData, count: count, as: UInt32.self).map { Int(Int32(bitPattern: $0)) }
        default: return nil
        }
    }

    private static func littleEndian<T: FixedWidthInteger>(_ data: Data, count: Int, as: T.Type) -> [T] {
        precondition(data.count == count * MemoryLayout<T>.size, "sizes checked at decoding")
        return data.withUnsafeBytes { raw in
            (0..<count).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
        }
    }
}

/// A node: its operator, the values it reads and writes, and its attributes.
public struct Node: Sendable {
    public let name: String
    public let opType: String
    public let inputs: [String]
    public let outputs: [String]
    public let attributes: [String: Attribute]

    /// "node 'layer1.0/conv1' (Conv)", or by position when the file gives no name.
    public var label: String { "node '\(name)' (\(opType))" }

    init(_ proto: Prunelab_Onnx_NodeProto, position: Int) throws {
        name = proto.name.isEmpty ? "#\(position)" : proto.name
        opType = proto.opType
        let label = "node '\(name)' (\(opType))"
        guard !opType.isEmpty else { throw ONNXError.invalid("node '\(name)' has no operator") }
        guard proto.domain.isEmpty || proto.domain == "ai.onnx" else {
            throw ONNXError.unsupportedAttribute(node: label, reason: "operator domain '\(proto.domain)' is not ONNX's default domain")
        }
        inputs = proto.input
        outputs = proto.output
        guard !outputs.isEmpty, outputs.contains(where: { !$0.isEmpty }) else { throw ONNXError.invalid("\(label) has no outputs") }
        var attributes: [String: Attribute] = [:]
        for attribute in proto.attribute {
            guard !attribute.name.isEmpty else { throw ONNXError.invalid("\(label) has an attribute without a name") }
            attributes[attribute.name] = try Attribute(attribute, node: label)
        }
        self.attributes = attributes
    }

    /// An integer attribute, or `defaultValue` when absent; an attribute of another type is an error.
    public func int(_ name: String, default defaultValue: Int) throws -> Int {
        switch attributes[name] {
        case nil: return defaultValue
        case let .int(value)?: return value
        default: throw ONNXError.unsupportedAttribute(node: label, reason: "attribute \(name) must be an integer")
        }
    }

    public func ints(_ name: String) throws -> [Int]? {
        switch attributes[name] {
        case nil: return nil
        case let .ints(values)?: return values
        default: throw ONNXError.unsupportedAttribute(node: label, reason: "attribute \(name) must be a list of integers")
        }
    }

    public func float(_ name: String, default defaultValue: Float) throws -> Float {
        switch attributes[name] {
        case nil: return defaultValue
        case let .float(value)?: return value
        default: throw ONNXError.unsupportedAttribute(node: label, reason: "attribute \(name) must be a float")
        }
    }

    public func string(_ name: String, default defaultValue: String) throws -> String {
        switch attributes[name] {
        case nil: return defaultValue
        case let .string(value)?: return value
        default: throw ONNXError.unsupportedAttribute(node: label, reason: "attribute \(name) must be a string")
        }
    }
}

/// The attribute kinds prunelab reads; the others are kept only as their kind's name.
public enum Attribute: Sendable {
    case int(Int)
    case float(Float)
    case string(String)
    case ints([Int])
    case floats([Float])
    case tensor(TensorInfo)
    case other(String)

    init(_ proto: Prunelab_Onnx_AttributeProto, node: String) throws {
        switch proto.type {
        case .int: self = .int(Int(proto.i))
        case .float: self = .float(proto.f)
        case .string: self = .string(String(decoding: proto.s, as: UTF8.self))
        case .ints: self = .ints(proto.ints.map { Int($0) })
        case .floats: self = .floats(proto.floats)
        case .tensor: self = .tensor(try TensorInfo(proto.t, name: "\(node).\(proto.name)"))
        case .undefined:
            throw ONNXError.unsupportedAttribute(node: node, reason: "attribute \(proto.name) has no type")
        default: self = .other("\(proto.type)")
        }
    }
}

/// Why a model cannot be read or used: one line naming the offending part.
public enum ONNXError: Error, Equatable, CustomStringConvertible {
    case tooLarge(bytes: Int, limit: Int)
    /// Not decodable as an ONNX protobuf (truncated, corrupt, another format).
    case malformed(String)
    /// Decodable but inconsistent: undefined values, cycles, impossible shapes.
    case invalid(String)
    case unsupportedOperator(node: String, supported: [String])
    case unsupportedAttribute(node: String, reason: String)
    /// Readable, but not a network the engine can train (effective sparsity still works).
    case notTrainable(node: String, reason: String)

    public var description: String {
        switch self {
        case let .tooLarge(bytes, limit): "ONNX model: the file has \(bytes) bytes, more than the limit of \(limit)"
        case let .malformed(reason): "ONNX model: \(reason)"
        case let .invalid(reason): "ONNX model: \(reason)"
        case let .unsupportedOperator(node, supported):
            "ONNX model: \(node) is not supported; prunelab reads \(supported.joined(separator: ", "))"
        case let .unsupportedAttribute(node, reason): "ONNX model: \(node): \(reason)"
        case let .notTrainable(node, reason):
            "ONNX model: not trainable by prunelab: \(node): \(reason) (its effective sparsity and data-free pruning work all the same)"
        }
    }
}
