import ONNX
import Tensors

/// Trainable networks from ONNX graphs: the graphs the engine's layers express — Conv (square
/// kernels and strides, no dilation, any padding, groups), BatchNormalization, Relu, Clip(0, c)
/// (ReLU6), MaxPool and AveragePool (square windows; ceil mode as extra end padding, which no
/// window reads), GlobalAveragePool, Flatten or Reshape to [batch, features], Gemm (transB = 1),
/// Dropout and Identity (nothing to train), and residual blocks: a value read by two branches that
/// an Add joins again (ResNet, MobileNetV2). A graph with anything else — Concat, other joins,
/// dilations, MatMul — is refused with the node and the reason (`ONNXError.notTrainable`); its
/// effective sparsity and data-free pruning work all the same (`ONNXGraph`).
public enum ONNXNetwork {
    /// The network and, per prunable layer in canonical order, the weight's name in the graph.
    public struct Made {
        public let network: Network
        public let weightNames: [String]
        /// Every tensor of the network (parameters and BatchNorm statistics) with the graph value it comes from.
        let sources: [(tensor: Tensor, name: String)]

        /// Copies the values the model's initializers hold into the network (a model exported with
        /// its parameters: trained weights to prune or fine-tune). Returns false, changing nothing,
        /// when any is missing (a model exported without them: the network keeps its own initialisation).
        public func loadInitializers(from model: ONNXModel) throws -> Bool {
            var values: [[Float]] = []
            for (tensor, name) in sources {
                guard let floats = model.initializers[model.parameterSource(of: name)]?.floats() else { return false }
                guard floats.count == tensor.count else {
                    throw ONNXError.invalid("initializer '\(name)' holds \(floats.count) values, the layer needs \(tensor.count)")
                }
                guard floats.allSatisfy(\.isFinite) else { throw ONNXError.invalid("initializer '\(name)' holds a value that is not finite") }
                values.append(floats)
            }
            for ((tensor, _), floats) in zip(sources, values) {
                for (i, value) in floats.enumerated() { tensor[i] = value }
            }
            return true
        }
    }

    public static func make(_ model: ONNXModel, name: String, backend: any Backend = CPUBackend.shared) throws -> Made {
        var converter = try Converter(model: model, backend: backend)
        let data = try model.dataInput()
        guard let dimensions = data.dimensions, dimensions.count == 4 || dimensions.count == 2 else {
            throw ONNXError.invalid("the data input '\(data.name)' must have shape [batch, C, H, W] or [batch, features]")
        }
        let sample = try dimensions.dropFirst().map { dimension -> Int in
            guard case let .fixed(value) = dimension, value > 0 else {
                throw ONNXError.invalid("the data input '\(data.name)' has shape \(dimensions): every dimension but the batch must be a number above 0")
            }
            return value
        }
        let (layers, end, shape) = try converter.sequence(from: data.name, shape: [1] + sample, until: nil)
        guard model.outputs.count == 1, model.outputs[0].name == end else {
            throw ONNXError.notTrainable(node: "graph output", reason: "prunelab trains graphs with one output, the end of the chain from the input ('\(end)')")
        }
        guard shape.count == 2 else {
            throw ONNXError.notTrainable(node: "graph output", reason: "the output has shape \(shape), not [batch, classes]")
        }
        let network = try Network(name: name, inputShape: sample, classes: shape[1], body: Sequential(layers),
                                  padding: "as the ONNX graph declares each node's", backend: backend)
        let names = try network.prunableLayers.map { item -> String in
            guard let name = converter.names[ObjectIdentifier(item.layer)] else {
                throw ONNXError.invalid("a prunable layer has no weight name (internal)")
            }
            return name
        }
        network.importedLayerNames = names
        return Made(network: network, weightNames: names, sources: converter.sources)
    }
}

private struct Converter {
    let model: ONNXModel
    let backend: any Backend
    /// Per computed value, the nodes that read it (by index into `model.nodes`).
    private var consumers: [String: [Int]] = [:]
    /// The graph's weight name of each Conv2d and Linear made.
    private(set) var names: [ObjectIdentifier: String] = [:]
    /// Every tensor made and the graph value its values would come from.
    private(set) var sources: [(tensor: Tensor, name: String)] = []

    init(model: ONNXModel, backend: any Backend) throws {
        self.model = model
        self.backend = backend
        var computed: Set<String> = [try model.dataInput().name]
        for (index, node) in model.nodes.enumerated() {
            let reads = Set(node.inputs.filter(computed.contains))
            guard !reads.isEmpty else { continue }
            for value in reads { consumers[value, default: []].append(index) }
            for output in node.outputs where !output.isEmpty { computed.insert(output) }
        }
    }

    private func refuse(_ node: Node, _ reason: String) -> ONNXError { .notTrainable(node: node.label, reason: reason) }

    /// The layers from value `start` (of batch-1 shape `shape`) along its single-consumer chain,
    /// residual blocks included, until the value nothing reads or the inputs of the Add `join`.
    mutating func sequence(from start: String, shape: [Int], until join: Int?) throws -> (layers: [any Layer], end: String, shape: [Int]) {
        var current = start, shape = shape, layers: [any Layer] = []
        while true {
            let next = consumers[current] ?? []
            if next.isEmpty { return (layers, current, shape) }
            if next.count == 1, next[0] == join { return (layers, current, shape) }
            if next.count == 1 {
                let node = model.nodes[next[0]]
                if node.opType == "Add" {
                    throw refuse(node, "an Add outside a residual block (its inputs must branch from one value)")
                }
                if let layer = try layer(node, shape: shape) {
                    shape = try layer.outputShape(for: shape)
                    layers.append(layer)
                }
                current = try output(node)
                continue
            }
            guard next.count == 2 else {
                let readers = next.map { model.nodes[$0].opType }.joined(separator: ", ")
                throw refuse(model.nodes[next[0]], "value '\(current)' feeds \(next.count) operators (\(readers)); prunelab trains chains and residual blocks")
            }
            // A fork: two branches that one Add joins again.
            let joins = try next.map { try joinOf(branchStart: $0, from: current) }
            guard joins[0] == joins[1] else {
                throw refuse(model.nodes[next[0]], "the branches from '\(current)' do not meet in one Add")
            }
            let add = joins[0]
            var branches: [[any Layer]] = []
            var ends: [[Int]] = []
            for first in next {
                if first == add {
                    branches.append([])
                    ends.append(shape)
                    continue
                }
                let node = model.nodes[first]
                var branch: [any Layer] = []
                var branchShape = shape
                if let layer = try layer(node, shape: shape) {
                    branchShape = try layer.outputShape(for: shape)
                    branch.append(layer)
                }
                let rest = try sequence(from: try output(node), shape: branchShape, until: add)
                branches.append(branch + rest.layers)
                ends.append(rest.shape)
            }
            guard ends[0] == ends[1] else {
                throw refuse(model.nodes[add], "adds branches of shapes \(ends[0]) and \(ends[1])")
            }
            // The body is the branch with more layers; the other is the shortcut (identity when empty).
            let bodyIndex = branches[0].count >= branches[1].count ? 0 : 1
            let body = branches[bodyIndex], shortcut = branches[1 - bodyIndex]
            guard !body.isEmpty else { throw refuse(model.nodes[add], "adds a value to itself") }
            layers.append(Residual(body: Sequential(body), shortcut: shortcut.isEmpty ? nil : Sequential(shortcut), backend: backend))
            shape = ends[0]
            current = try output(model.nodes[add])
        }
    }

    /// The Add a branch starting at node `first` (reading `value`) ends in: followed along single
    /// readers; a further fork inside the branch is refused.
    private func joinOf(branchStart first: Int, from value: String) throws -> Int {
        var index = first
        while true {
            let node = model.nodes[index]
            if node.opType == "Add" { return index }
            let next = consumers[try output(node)] ?? []
            guard next.count == 1 else {
                throw refuse(node, next.isEmpty ? "a branch from '\(value)' ends without joining" : "branches inside a residual branch")
            }
            index = next[0]
        }
    }

    private func output(_ node: Node) throws -> String {
        guard let name = node.outputs.first, !name.isEmpty else { throw refuse(node, "its first output has no name") }
        return name
    }

    /// A parameter's declared shape: its initializer's (through PyTorch's Identity copies) or its graph input's.
    private func parameterShape(_ node: Node, slot: Int) throws -> [Int] {
        guard slot < node.inputs.count, !node.inputs[slot].isEmpty else { throw refuse(node, "has no weight") }
        let source = model.parameterSource(of: node.inputs[slot])
        if let tensor = model.initializers[source] { return tensor.dimensions }
        if let input = model.inputs.first(where: { $0.name == source }), let dimensions = input.dimensions {
            return try dimensions.map { dimension in
                guard case let .fixed(value) = dimension else { throw refuse(node, "its weight has a symbolic shape") }
                return value
            }
        }
        throw refuse(node, "its weight '\(node.inputs[slot])' is neither an initializer nor a graph input")
    }

    private func constant(_ node: Node, slot: Int) -> Float? {
        guard slot < node.inputs.count, !node.inputs[slot].isEmpty,
              let values = model.initializers[model.parameterSource(of: node.inputs[slot])]?.floats(), values.count == 1 else { return nil }
        return values[0]
    }

    /// The engine's layer for one node reading a value of batch-1 shape `shape`; nil for nodes
    /// with nothing to compute in training (Dropout, Identity).
    private mutating func layer(_ node: Node, shape: [Int]) throws -> (any Layer)? {
        guard node.inputs.first.map({ consumers[$0] != nil }) == true else { throw refuse(node, "reads the data in another operand than its first") }
        switch node.opType {
        case "Dropout", "Identity": return nil
        case "Relu": return ReLU(backend: backend)
        case "Clip":
            let low = try constant(node, slot: 1) ?? node.float("min", default: -.infinity)
            let high = try constant(node, slot: 2) ?? node.float("max", default: .infinity)
            guard low == 0, high > 0 else { throw refuse(node, "Clip(\(low), \(high)); only Clip(0, c) (ReLU, ReLU6) trains") }
            return ReLU(ceiling: high, backend: backend)
        case "BatchNormalization":
            guard shape.count == 4 || shape.count == 2 else { throw refuse(node, "normalises a value of shape \(shape)") }
            let momentum = try node.float("momentum", default: 0.9)
            let epsilon = try node.float("epsilon", default: 1e-5)
            guard (0..<1).contains(momentum), epsilon > 0, epsilon.isFinite, node.inputs.count >= 5 else {
                throw refuse(node, "momentum \(momentum), epsilon \(epsilon), \(node.inputs.count) operands")
            }
            let norm = BatchNorm(shape[1], epsilon: epsilon, momentum: 1 - momentum, backend: backend)
            sources += [(norm.scale.value, node.inputs[1]), (norm.shift.value, node.inputs[2]), (norm.runningMean, node.inputs[3]),
                        (norm.runningVariance, node.inputs[4])]
            return norm
        case "Conv": return try convolution(node, shape: shape)
        case "MaxPool", "AveragePool": return try pooling(node, shape: shape)
        case "GlobalAveragePool":
            guard shape.count == 4 else { throw refuse(node, "needs a [batch, C, H, W] input") }
            return GlobalAvgPool2d(backend: backend)
        case "Flatten":
            guard try node.int("axis", default: 1) == 1 else { throw refuse(node, "flattens from an axis other than 1") }
            return Flatten(backend: backend)
        case "Reshape":
            guard let target = node.inputs.count > 1 ? model.initializers[node.inputs[1]]?.integers() : nil, target.count == 2,
                  target[1] == -1 || target[1] == shape.dropFirst().reduce(1, *) else {
                throw refuse(node, "reshapes to something other than [batch, features]")
            }
            return Flatten(backend: backend)
        case "Gemm":
            guard try node.int("transA", default: 0) == 0, try node.int("transB", default: 0) == 1,
                  try node.float("alpha", default: 1) == 1, try node.float("beta", default: 1) == 1 else {
                throw refuse(node, "only Gemm with transB = 1 (PyTorch's Linear) trains")
            }
            let weight = try parameterShape(node, slot: 1)
            guard weight.count == 2, shape.count == 2, weight[1] == shape[1] else {
                throw refuse(node, "weight \(weight) does not fit a value of shape \(shape)")
            }
            let linear = Linear(weight[1], weight[0], bias: node.inputs.count > 2 && !node.inputs[2].isEmpty, backend: backend)
            names[ObjectIdentifier(linear)] = node.inputs[1]
            sources.append((linear.weight.value, node.inputs[1]))
            if let bias = linear.bias { sources.append((bias.value, node.inputs[2])) }
            return linear
        default:
            throw refuse(node, "prunelab trains Conv, BatchNormalization, Relu, Clip(0, c), MaxPool, AveragePool, GlobalAveragePool, "
                         + "Flatten, Reshape, Gemm, Dropout, Identity and residual Adds")
        }
    }

    private mutating func convolution(_ node: Node, shape: [Int]) throws -> any Layer {
        guard shape.count == 4 else { throw refuse(node, "needs a [batch, C, H, W] input") }
        let weight = try parameterShape(node, slot: 1)
        let groups = try node.int("group", default: 1)
        guard weight.count == 4, weight[2] == weight[3], groups >= 1, weight[1] * groups == shape[1], weight[0] % groups == 0 else {
            throw refuse(node, "weight \(weight) with group \(groups) on \(shape[1]) channels (square kernels only)")
        }
        let strides = try node.pair("strides", default: [1, 1]), dilations = try node.pair("dilations", default: [1, 1])
        guard strides[0] == strides[1], strides[0] >= 1, strides[0] <= 1 << 16 else { throw refuse(node, "strides \(strides) (equal strides only)") }
        guard dilations == [1, 1] else { throw refuse(node, "dilations \(dilations)") }
        let kernel = [weight[2], weight[3]]
        let (begin, end, _) = try node.window(input: Array(shape.dropFirst()), kernel: kernel, strides: strides, dilations: dilations, ceilMode: false)
        let conv = Conv2d(shape[1], weight[0], kernelSize: weight[2], stride: strides[0],
                          padding: .explicit(top: begin[0], left: begin[1], bottom: end[0], right: end[1]), groups: groups,
                          bias: node.inputs.count > 2 && !node.inputs[2].isEmpty, backend: backend)
        names[ObjectIdentifier(conv)] = node.inputs[1]
        sources.append((conv.weight.value, node.inputs[1]))
        if let bias = conv.bias { sources.append((bias.value, node.inputs[2])) }
        return conv
    }

    private func pooling(_ node: Node, shape: [Int]) throws -> any Layer {
        guard shape.count == 4 else { throw refuse(node, "needs a [batch, C, H, W] input") }
        guard let kernel = try node.ints("kernel_shape"), kernel.count == 2, kernel[0] == kernel[1], kernel[0] >= 1, kernel[0] <= 1 << 16 else {
            throw refuse(node, "square 2-D windows only")
        }
        let strides = try node.pair("strides", default: [1, 1])
        guard strides[0] == strides[1], strides[0] >= 1, strides[0] <= 1 << 16 else { throw refuse(node, "strides \(strides) (equal strides only)") }
        guard try node.pair("dilations", default: [1, 1]) == [1, 1] else { throw refuse(node, "dilated pooling") }
        let ceilMode = try node.int("ceil_mode", default: 0) != 0
        let (begin, end, out) = try node.window(input: Array(shape.dropFirst()), kernel: kernel, strides: strides, dilations: [1, 1],
                                                ceilMode: ceilMode)
        if node.opType == "AveragePool", try node.int("count_include_pad", default: 0) != 0, begin.contains(where: { $0 > 0 }) || end.contains(where: { $0 > 0 }) {
            throw refuse(node, "count_include_pad = 1 with padding (prunelab's average pooling leaves padding out)")
        }
        // Ceil mode: the end padding that makes the floor extent `out` (windows never read it).
        let bottom = max(end[0], (out[0] - 1) * strides[0] + kernel[0] - shape[2] - begin[0])
        let right = max(end[1], (out[1] - 1) * strides[1] + kernel[1] - shape[3] - begin[1])
        let padding = Padding.explicit(top: begin[0], left: begin[1], bottom: bottom, right: right)
        let layer: Pool2d = node.opType == "MaxPool"
            ? MaxPool2d(kernel[0], stride: strides[0], padding: padding, backend: backend)
            : AvgPool2d(kernel[0], stride: strides[0], padding: padding, backend: backend)
        guard try layer.outputShape(for: shape) == [1, shape[1], out[0], out[1]] else {
            throw refuse(node, "its output extent \(out) with ceil_mode cannot be expressed by the engine's pooling")
        }
        return layer
    }
}
