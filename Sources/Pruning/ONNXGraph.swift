import Figures
import ONNX
import Tensors

/// The path structure of an imported ONNX graph: its prunable weights (Conv, Gemm and MatMul
/// weights, by their ONNX names and in the layouts the file gives them) and the reach DAG between
/// its data input and outputs. Built from shapes only: the weights' values are never needed.
///
/// What routes paths: Conv (groups, strides, dilations, pads, `auto_pad`), Gemm and MatMul with a
/// weight operand, MaxPool/AveragePool (pads, `ceil_mode`; `count_include_pad` changes values, not
/// paths), GlobalAveragePool/GlobalMaxPool, Flatten and Reshape to [batch, features], Add of two
/// computed values (residuals: union), Concat over channels or features. Transparent: the
/// elementwise operators and those that combine a computed value with a constant (bias Add,
/// scaling Mul, normalising Sub/Div). Anything else is an error naming the node.
public final class ONNXGraph {
    /// A prunable weight: its ONNX name, its shape as the file declares it, and whether that shape
    /// is (in, out) — MatMul's and Gemm's with transB = 0 — rather than (out, in).
    public struct Weight: Equatable, Sendable {
        public let name: String
        public let shape: [Int]
        public let isTransposed: Bool
        /// The node that multiplies by it ("node 'fc' (Gemm)").
        public let node: String
        public var count: Int { shape.reduce(1, *) }
    }

    public static let supportedOperators = [
        "Conv", "Gemm", "MatMul", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Flatten", "Reshape",
        "Add", "Concat", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid",
        "Dropout", "Identity", "Mul, Sub and Div by a constant", "Constant", "Softmax and LogSoftmax over features",
    ]
    /// Maps and bookkeeping of one graph may take at most this many bytes (a hostile file could
    /// otherwise declare a convolution whose shifted maps need terabytes).
    public static let maximumWorkingBytes = 4 << 30

    public let weights: [Weight]
    /// Per weight, the value its data comes from (its own name, or the source of PyTorch's Identity copy).
    let sources: [String]
    /// Per weight index, the parameter holding the mask torch.nn.utils.prune put in the graph.
    let maskSources: [Int: String]
    /// The data input's per-sample shape (batch dimension dropped).
    public let inputShape: [Int]
    public let producer: String
    /// The graph's steps between numbered values (value 0 is the input), independent of semiring.
    let description: GraphDescription
    let dag: ReachDAG

    public init(model: ONNXModel) throws {
        var builder = try ONNXGraphBuilder(model: model)
        try builder.build()
        weights = builder.weights
        sources = builder.sources
        maskSources = builder.maskSources
        inputShape = builder.inputShape
        producer = model.producer
        description = GraphDescription(valueShapes: builder.valueShapes, steps: builder.steps, outputs: builder.outputs,
                                       weightShapes: builder.weights.map(\.reachShape))
        dag = try ReachDAG(description)
    }

    public var weightNames: [String] { weights.map(\.name) }
    public var weightShapes: [[Int]] { weights.map(\.shape) }
}

extension ONNXGraph.Weight {
    /// The shape reach nodes read: (out, in) for dense weights.
    var reachShape: [Int] { isTransposed ? [shape[1], shape[0]] : shape }
}

/// Translates nodes into reach steps, tracking every computed value's per-sample shape.
private struct ONNXGraphBuilder {
    let model: ONNXModel
    private(set) var weights: [ONNXGraph.Weight] = []
    private(set) var sources: [String] = []
    /// Per weight index, the parameter holding torch.nn.utils.prune's mask, when the graph has one.
    private(set) var maskSources: [Int: String] = [:]
    private(set) var valueShapes: [[Int]] = []
    private(set) var steps: [GraphDescription.Step] = []
    private(set) var outputs: [Int] = []
    private(set) var inputShape: [Int] = []
    /// Computed values by name: the value's number and its rank per sample (1: features, 3: C, H, W).
    private var values: [String: (id: Int, rank: Int)] = [:]
    private var usedWeights: [String: String] = [:]
    private var workingBytes = 0

    init(model: ONNXModel) throws { self.model = model }

    mutating func build() throws {
        let data = try model.dataInput()
        guard let dimensions = data.dimensions else {
            throw ONNXError.invalid("the data input '\(data.name)' declares no shape")
        }
        guard dimensions.count == 4 || dimensions.count == 2 else {
            throw ONNXError.invalid("the data input '\(data.name)' has shape \(dimensions); prunelab reads [batch, C, H, W] or [batch, features]")
        }
        let sample = try dimensions.dropFirst().map { dimension -> Int in
            guard case let .fixed(value) = dimension, value > 0 else {
                throw ONNXError.invalid("the data input '\(data.name)' has shape \(dimensions): every dimension but the batch must be a number above 0")
            }
            return value
        }
        inputShape = sample
        _ = try addValue(data.name, shape: sample.count == 3 ? sample : [sample[0], 1, 1], rank: sample.count)
        for node in model.nodes { try translate(node) }
        for output in model.outputs {
            guard let value = values[output.name] else {
                throw ONNXError.invalid("graph output '\(output.name)' does not depend on the data input '\(data.name)'")
            }
            outputs.append(value.id)
        }
        guard !weights.isEmpty else { throw ONNXError.invalid("the graph has no Conv, Gemm or MatMul weights to prune") }
    }

    private mutating func addValue(_ name: String, shape: [Int], rank: Int) throws -> Int {
        precondition(shape.count == 3, "values are C, H, W")
        let bits = try checkedProduct(shape, what: "value '\(name)'")
        try charge(bits / 8 * 3 + 64 * shape[0], what: "value '\(name)'")
        valueShapes.append(shape)
        values[name] = (valueShapes.count - 1, rank)
        return valueShapes.count - 1
    }

    private func checkedProduct(_ values: [Int], what: String) throws -> Int {
        try ONNXModel.elementCount(values, of: what)
    }

    private mutating func charge(_ bytes: Int, what: String) throws {
        let (total, overflow) = workingBytes.addingReportingOverflow(bytes)
        guard !overflow, total <= ONNXGraph.maximumWorkingBytes else {
            throw ONNXError.invalid("\(what) takes the graph's reach maps past \(ONNXGraph.maximumWorkingBytes >> 30) GiB")
        }
        workingBytes = total
    }

    private func unsupported(_ node: Node) -> ONNXError {
        .unsupportedOperator(node: node.label, supported: ONNXGraph.supportedOperators)
    }

    private func bad(_ node: Node, _ reason: String) -> ONNXError { .unsupportedAttribute(node: node.label, reason: reason) }

    /// The node's first output, which every translated node writes.
    private func output(_ node: Node) throws -> String {
        guard let name = node.outputs.first, !name.isEmpty else { throw bad(node, "its first output has no name") }
        return name
    }

    private mutating func translate(_ node: Node) throws {
        let computed = node.inputs.enumerated().filter { !$0.element.isEmpty && values[$0.element] != nil }
        // Nodes on constants only (shape arithmetic on initializers) carry no path.
        if computed.isEmpty { return }
        let x = computed[0].element
        let (id, rank) = values[x]!
        switch node.opType {
        case "Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "Dropout", "Identity", "BatchNormalization",
             "Elu", "Selu", "Softplus", "Gelu":
            guard computed.count == 1, computed[0].offset == 0 else { throw bad(node, "only its first input may be computed from the data") }
            values[try output(node)] = (id, rank)
        case "Add", "Mul", "Sub", "Div":
            if computed.count == 1 {
                // A computed value and a constant: bias, scale, normalisation.
                if node.opType == "Sub" || node.opType == "Div", computed[0].offset != 0 {
                    throw bad(node, "subtracts or divides a computed value from a constant; only x − c and x / c are supported")
                }
                values[try output(node)] = (id, rank)
            } else if node.opType == "Add" {
                try join(node, computed.map(\.element), concatenate: false)
            } else {
                throw bad(node, "\(node.opType) of two computed values is not supported (only Add, which joins residual paths)")
            }
        case "Concat":
            guard computed.count == node.inputs.count else { throw bad(node, "concatenates a constant with computed values") }
            let axis = try node.int("axis", default: Int.min)
            let allowed = rank == 3 ? [1, -3] : [1, -1]
            guard allowed.contains(axis) else {
                throw bad(node, "axis \(axis == Int.min ? "missing" : String(axis)); prunelab concatenates channels (axis 1)")
            }
            try join(node, computed.map(\.element), concatenate: true)
        case "Conv": try convolution(node, input: id, rank: rank)
        case "Gemm", "MatMul": try dense(node, input: id, rank: rank, inputSlot: computed[0].offset, computedCount: computed.count)
        case "MaxPool", "AveragePool": try pooling(node, input: id, rank: rank)
        case "GlobalAveragePool", "GlobalMaxPool":
            guard rank == 3 else { throw bad(node, "needs a [batch, C, H, W] input") }
            let shape = valueShapes[id]
            let geometry = PoolingGeometry(kind: node.opType == "GlobalMaxPool" ? .max : .average, batch: 1, channels: shape[0],
                                           inHeight: shape[1], inWidth: shape[2], kernelHeight: shape[1], kernelWidth: shape[2],
                                           strideHeight: 1, strideWidth: 1)
            try step(.pooling(geometry, global: true), inputs: [id], output: try output(node), shape: [shape[0], 1, 1], rank: 3)
        case "Flatten":
            let axis = try node.int("axis", default: 1)
            guard axis == 1 || (rank == 3 && axis == -3) || (rank == 1 && axis == -1) else {
                throw bad(node, "axis \(axis); prunelab flattens to [batch, features] (axis 1)")
            }
            try flatten(node, input: id, rank: rank)
        case "Softmax", "LogSoftmax":
            // Over the features of a [batch, features] value: every output depends on every input.
            guard computed.count == 1, rank == 1 || valueShapes[id][1] * valueShapes[id][2] == 1 else {
                throw bad(node, "only a softmax over the features of a [batch, features] value is supported")
            }
            let axis = try node.int("axis", default: -1)
            guard axis == 1 || axis == -1 else { throw bad(node, "axis \(axis); prunelab supports the feature axis (1 or -1)") }
            try step(.mix, inputs: [id], output: try output(node), shape: valueShapes[id], rank: 1)
        case "Reshape":
            guard computed.count == 1, computed[0].offset == 0, node.inputs.count >= 2,
                  let target = model.initializers[node.inputs[1]]?.integers() else {
                throw bad(node, "needs a constant target shape (an initializer or Constant)")
            }
            let features = valueShapes[id].reduce(1, *)
            let fits = target.count == 2
                && ((target[1] == features && [0, 1, -1].contains(target[0])) || (target[1] == -1 && [0, 1].contains(target[0])))
            guard fits else { throw bad(node, "reshapes to \(target); prunelab supports only [batch, features] (\(features) features)") }
            try flatten(node, input: id, rank: rank)
        default:
            throw unsupported(node)
        }
    }

    private mutating func step(_ operation: GraphDescription.Operation, inputs: [Int], output name: String, shape: [Int], rank: Int) throws {
        let id = try addValue(name, shape: shape, rank: rank)
        steps.append(GraphDescription.Step(operation: operation, inputs: inputs, output: id))
    }

    private mutating func flatten(_ node: Node, input id: Int, rank: Int) throws {
        let shape = valueShapes[id]
        guard rank == 3, shape[1] * shape[2] > 1 else {
            // Features, or C channels of one position: already flat.
            values[try output(node)] = (id, 1)
            return
        }
        try step(.flatten, inputs: [id],
                 output: try output(node), shape: [shape.reduce(1, *), 1, 1], rank: 1)
    }

    private mutating func join(_ node: Node, _ names: [String], concatenate: Bool) throws {
        let inputs = names.map { values[$0]! }
        let shapes = inputs.map { valueShapes[$0.id] }
        let rank = inputs[0].rank
        guard inputs.allSatisfy({ $0.rank == rank }) else { throw bad(node, "joins values of different ranks") }
        let shape: [Int]
        if concatenate {
            guard shapes.allSatisfy({ $0[1] == shapes[0][1] && $0[2] == shapes[0][2] }) else {
                throw bad(node, "concatenates maps of different sizes \(shapes.map { Array($0.dropFirst()) })")
            }
            shape = [shapes.reduce(0) { $0 + $1[0] }, shapes[0][1], shapes[0][2]]
        } else {
            guard shapes.allSatisfy({ $0 == shapes[0] }) else {
                throw bad(node, "adds values of shapes \(shapes) (broadcasting is not supported)")
            }
            shape = shapes[0]
        }
        try step(concatenate ? .concatenate : .union, inputs: inputs.map(\.id), output: try output(node), shape: shape, rank: rank)
    }

    /// A weight operand's declared shape: from its initializer or, without one, its graph input.
    private mutating func weight(_ node: Node, slot: Int) throws -> (name: String, shape: [Int], source: String) {
        guard slot < node.inputs.count, !node.inputs[slot].isEmpty else { throw bad(node, "has no weight input") }
        var name = node.inputs[slot]
        let shape: [Int]
        // A copy through Identity nodes keeps its own (PyTorch) name and takes its source's shape;
        // a weight torch.nn.utils.prune masked takes its module's name and carries its mask.
        var source = model.parameterSource(of: name)
        if let pruned = model.prunedWeight(name) {
            name = pruned.name
            source = pruned.values
            maskSources[weights.count] = pruned.mask
        } else if model.initializers[source] == nil, !model.inputs.contains(where: { $0.name == source }),
                  let producer = model.nodes.first(where: { $0.outputs.contains(source) }) {
            throw bad(node, "its weight is computed by \(producer.label); prunelab reads weights that are parameters "
                      + "(for torch.nn.utils.prune's weight_orig * weight_mask it reads both; otherwise export the plain weights)")
        }
        if let tensor = model.initializers[source] {
            shape = tensor.dimensions
        } else if let input = model.inputs.first(where: { $0.name == source }), let dimensions = input.dimensions {
            shape = try dimensions.map { dimension in
                guard case let .fixed(value) = dimension else { throw bad(node, "weight '\(name)' has a symbolic dimension \(dimensions)") }
                return value
            }
        } else {
            throw bad(node, "weight '\(name)' is neither an initializer nor a graph input with a shape")
        }
        if let other = usedWeights[name] { throw bad(node, "shares weight '\(name)' with \(other); shared weights are not supported") }
        usedWeights[name] = node.label
        return (name, shape, source)
    }

    private func positive(_ node: Node, _ name: String, _ values: [Int], limit: Int = 1 << 16) throws {
        guard values.allSatisfy({ $0 >= 1 && $0 <= limit }) else { throw bad(node, "\(name) \(values) must lie in 1…\(limit)") }
    }

    private mutating func convolution(_ node: Node, input id: Int, rank: Int) throws {
        guard rank == 3 else { throw bad(node, "needs a [batch, C, H, W] input (only 2-D convolutions are supported)") }
        let shape = valueShapes[id]
        let w = try weight(node, slot: 1)
        guard w.shape.count == 4 else { throw bad(node, "weight '\(w.name)' has shape \(w.shape), not (out, in/groups, kh, kw)") }
        let groups = try node.int("group", default: 1)
        guard groups >= 1, groups <= shape[0], shape[0] % groups == 0, w.shape[0] % groups == 0, w.shape[1] * groups == shape[0] else {
            throw bad(node, "weight \(w.shape) with group \(groups) does not fit \(shape[0]) input channels")
        }
        guard w.shape[0] >= 1, w.shape[2] >= 1, w.shape[3] >= 1 else { throw bad(node, "weight '\(w.name)' has shape \(w.shape)") }
        let kernel = [w.shape[2], w.shape[3]]
        if let declared = try node.ints("kernel_shape"), declared != kernel {
            throw bad(node, "kernel_shape \(declared) differs from the weight's \(kernel)")
        }
        let strides = try node.pair("strides", default: [1, 1]), dilations = try node.pair("dilations", default: [1, 1])
        try positive(node, "strides", strides)
        try positive(node, "dilations", dilations)
        let (begin, _, out) = try node.window(input: shape, kernel: kernel, strides: strides, dilations: dilations, ceilMode: false)
        var window = ReachWindow(inChannels: shape[0], outChannels: w.shape[0], groups: groups, inHeight: shape[1], inWidth: shape[2],
                                 outHeight: out[0], outWidth: out[1], kernelHeight: kernel[0], kernelWidth: kernel[1])
        window.strideHeight = strides[0]; window.strideWidth = strides[1]
        window.dilationHeight = dilations[0]; window.dilationWidth = dilations[1]
        window.padTop = begin[0]; window.padLeft = begin[1]
        // Per (input channel, tap): shifted and gathered maps; per tap and output position: its source.
        let taps = kernel[0] * kernel[1], outWords = (out[0] * out[1] + 63) / 64
        let perSlot = try checkedProduct([shape[0], taps, max(outWords, 1)], what: "\(node.label)'s reach maps")
        try charge(perSlot * 16 + taps * out[0] * out[1] * 4, what: node.label)
        try addWeight(w, transposed: false, node: node)
        try step(.convolution(window, weight: weights.count - 1), inputs: [id], output: try output(node),
                 shape: [w.shape[0], out[0], out[1]], rank: 3)
    }

    private mutating func addWeight(_ w: (name: String, shape: [Int], source: String), transposed: Bool, node: Node) throws {
        _ = try checkedProduct(w.shape, what: "weight '\(w.name)'")
        try charge(w.shape.reduce(1, *) / 4, what: "weight '\(w.name)'")
        weights.append(ONNXGraph.Weight(name: w.name, shape: w.shape, isTransposed: transposed, node: node.label))
        sources.append(w.source)
    }

    private mutating func dense(_ node: Node, input id: Int, rank: Int, inputSlot: Int, computedCount: Int) throws {
        guard computedCount == 1, inputSlot == 0 else { throw bad(node, "multiplies two computed values; only a weight operand is supported") }
        let shape = valueShapes[id]
        guard rank == 1 || shape[1] * shape[2] == 1 else {
            throw bad(node, "multiplies a [batch, C, H, W] value; flatten it to [batch, features] first")
        }
        let features = shape[0]
        let w = try weight(node, slot: 1)
        guard w.shape.count == 2, w.shape.allSatisfy({ $0 >= 1 }) else { throw bad(node, "weight '\(w.name)' has shape \(w.shape), not 2-D") }
        var transposed = true
        if node.opType == "Gemm" {
            guard try node.int("transA", default: 0) == 0 else { throw bad(node, "transA = 1 is not supported") }
            transposed = try node.int("transB", default: 0) == 0
        }
        let (inFeatures, outFeatures) = transposed ? (w.shape[0], w.shape[1]) : (w.shape[1], w.shape[0])
        guard inFeatures == features else {
            throw bad(node, "weight '\(w.name)' \(w.shape) expects \(inFeatures) input features, the value has \(features)")
        }
        try charge(inFeatures * 16 + 16, what: node.label)
        try addWeight(w, transposed: transposed, node: node)
        try step(.dense(inFeatures: inFeatures, outFeatures: outFeatures, weight: weights.count - 1), inputs: [id],
                 output: try output(node), shape: [outFeatures, 1, 1], rank: 1)
    }

    private mutating func pooling(_ node: Node, input id: Int, rank: Int) throws {
        guard rank == 3 else { throw bad(node, "needs a [batch, C, H, W] input") }
        let shape = valueShapes[id]
        guard let kernel = try node.ints("kernel_shape"), kernel.count == 2 else { throw bad(node, "needs a 2-D kernel_shape") }
        try positive(node, "kernel_shape", kernel)
        let strides = try node.pair("strides", default: [1, 1]), dilations = try node.pair("dilations", default: [1, 1])
        try positive(node, "strides", strides)
        guard dilations == [1, 1] else { throw bad(node, "dilations \(dilations) are not supported for pooling") }
        let ceilMode = try node.int("ceil_mode", default: 0) != 0
        let (begin, _, out) = try node.window(input: shape, kernel: kernel, strides: strides, dilations: dilations, ceilMode: ceilMode)
        // The pooling geometry's own (floor) extent equals `out` with the end padding it implies;
        // padding carries no path, so extending it is exact.
        var endPadding = [0, 0]
        for axis in 0..<2 {
            let covered = (out[axis] - 1) * strides[axis] + kernel[axis]
            endPadding[axis] = covered - shape[axis + 1] - begin[axis]
        }
        let geometry = PoolingGeometry(kind: node.opType == "MaxPool" ? .max : .average, batch: 1, channels: shape[0],
                                       inHeight: shape[1], inWidth: shape[2], kernelHeight: kernel[0], kernelWidth: kernel[1],
                                       strideHeight: strides[0], strideWidth: strides[1], padTop: begin[0], padLeft: begin[1],
                                       padBottom: max(endPadding[0], 0), padRight: max(endPadding[1], 0))
        guard geometry.outHeight == out[0], geometry.outWidth == out[1] else {
            throw bad(node, "its output extent \(out) cannot be expressed (internal)")
        }
        try charge(2 * shape[0] * ((shape[1] * shape[2] + 63) / 64 + 1) * 8, what: node.label)
        try step(.pooling(geometry, global: false), inputs: [id], output: try output(node), shape: [shape[0], out[0], out[1]], rank: 3)
    }
}

extension ONNXGraph {
    /// Direct and effective counts of `masks` (one per weight, in `weights` order, shaped as declared).
    public func report(_ masks: [BinaryMask]) throws -> SparsityReport {
        try checked(masks)
        let inputs = masks.enumerated().map { reachLayout($0.element, weights[$0.offset]) }
        let effective = dag.run(.bytes(inputs.map { UnsafePointer($0.bytes) }, effective: nil))
        return report(kept: masks.map(\.keptCount), effective: effective)
    }

    /// The effective masks of `masks`, shaped as declared, and their counts.
    public func compute(_ masks: [BinaryMask]) throws -> (masks: [BinaryMask], report: SparsityReport) {
        try checked(masks)
        let inputs = masks.enumerated().map { reachLayout($0.element, weights[$0.offset]) }
        let destinations = weights.map { BinaryMask(shape: $0.reachShape) }
        let effective = dag.run(.bytes(inputs.map { UnsafePointer($0.bytes) }, effective: destinations.map(\.bytes)))
        let results = destinations.enumerated().map { index, mask in
            weights[index].isTransposed ? mask.transposed() : mask
        }
        return (results, report(kept: masks.map(\.keptCount), effective: effective))
    }

    private func reachLayout(_ mask: BinaryMask, _ weight: Weight) -> BinaryMask {
        weight.isTransposed ? mask.transposed() : mask
    }

    private func checked(_ masks: [BinaryMask]) throws {
        guard masks.count == weights.count else { throw PruningError.maskCount(expected: weights.count, got: masks.count) }
        for (weight, mask) in zip(weights, masks) where mask.shape != weight.shape {
            throw PruningError.maskShape(layer: weight.name, expected: weight.shape, got: mask.shape)
        }
    }

    private func report(kept: [Int], effective: [Int]) -> SparsityReport {
        SparsityReport(layers: weights.indices.map { index in
            LayerFigures(name: weights[index].name, shape: weights[index].shape, size: weights[index].count,
                         kept: kept[index], effective: effective[index])
        })
    }
}
