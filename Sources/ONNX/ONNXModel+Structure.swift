/// What every reader of a graph asks the same way: which input is data, and how a node's window
/// (convolution or pooling) pads and where it ends.
extension ONNXModel {
    /// The operand slots that hold parameters, per operator.
    static let parameterSlots: [String: ClosedRange<Int>] = [
        "Conv": 1...2, "Gemm": 1...2, "MatMul": 1...1, "BatchNormalization": 1...4, "Clip": 1...2, "Reshape": 1...1,
        "Dropout": 1...2,
    ]

    /// The one graph input that is data: inputs without an initializer that no operator reads as a
    /// parameter (a model exported without its parameters lists its weights as inputs). PyTorch
    /// writes equal initial tensors once and passes copies through Identity nodes, and
    /// torch.nn.utils.prune multiplies weights by masks: a value that is a parameter makes the
    /// inputs of the Identity, Cast or Mul computing it parameters too.
    public func dataInput() throws -> ValueInfo {
        var parameters = Set<String>()
        for node in nodes.reversed() {
            if let slots = Self.parameterSlots[node.opType] {
                for slot in slots where slot < node.inputs.count { parameters.insert(node.inputs[slot]) }
            }
            // Copies and products of parameters (Identity, Cast; torch.nn.utils.prune's weight_orig · weight_mask).
            if ["Identity", "Cast", "Mul"].contains(node.opType), node.outputs.contains(where: parameters.contains) {
                parameters.formUnion(node.inputs)
            }
        }
        let candidates = inputs.filter { !parameters.contains($0.name) }
        guard candidates.count == 1 else {
            if candidates.isEmpty { throw ONNXError.invalid("the graph has no data input (every input is a parameter)") }
            let names = candidates.map(\.name).joined(separator: ", ")
            throw ONNXError.invalid("the graph has several data inputs (\(names)); prunelab reads graphs with one")
        }
        return candidates[0]
    }

    /// The value a parameter's data comes from: itself, or the source of PyTorch's Identity copies
    /// (and Casts).
    public func parameterSource(of name: String) -> String {
        var source = name
        while let copy = nodes.first(where: { ($0.opType == "Identity" || $0.opType == "Cast") && $0.outputs.first == source }),
              copy.inputs.count == 1 {
            source = copy.inputs[0]
        }
        return source
    }

    /// A weight `torch.nn.utils.prune` masked: `value` = Mul(weight_mask, weight_orig) of two
    /// parameters named `<name>_mask` and `<name>_orig` (the mask through a Cast). Returns the
    /// weight's PyTorch name (`<name>`), the parameter holding its values and the one holding its mask.
    public func prunedWeight(_ value: String) -> (name: String, values: String, mask: String)? {
        guard let product = nodes.first(where: { $0.opType == "Mul" && $0.outputs.first == value }), product.inputs.count == 2 else {
            return nil
        }
        let sources = product.inputs.map(parameterSource(of:))
        guard let original = sources.first(where: { $0.hasSuffix("_orig") }), let mask = sources.first(where: { $0.hasSuffix("_mask") }),
              original.dropLast(5) == mask.dropLast(5) else { return nil }
        let isParameter = { (name: String) in self.initializers[name] != nil || self.inputs.contains { $0.name == name } }
        guard isParameter(original), isParameter(mask) else { return nil }
        return (String(original.dropLast(5)), original, mask)
    }
}

extension Node {
    /// A two-entry attribute (strides, dilations, kernel_shape) or four (pads), `value` when absent.
    public func pair(_ name: String, default value: [Int]) throws -> [Int] {
        guard let values = try ints(name) else { return value }
        guard values.count == value.count else {
            throw ONNXError.unsupportedAttribute(node: label, reason: "\(name) has \(values.count) entries, expected \(value.count)")
        }
        return values
    }

    /// A 2-D window's padding at the beginning and end of each spatial axis, from `pads` or
    /// `auto_pad`, and the output extents, for an input of `input` = [C, H, W]. SAME_UPPER puts the
    /// odd pixel at the end (TensorFlow's "same"), SAME_LOWER at the beginning. With `ceilMode` a
    /// last window that would start in the end padding is dropped (PyTorch's and ONNX Runtime's rule).
    public func window(input: [Int], kernel: [Int], strides: [Int], dilations: [Int],
                       ceilMode: Bool) throws -> (begin: [Int], end: [Int], out: [Int]) {
        let autoPad = try string("auto_pad", default: "NOTSET")
        var begin = [0, 0], end = [0, 0], out = [0, 0]
        let explicit = try pair("pads", default: [0, 0, 0, 0])
        for axis in 0..<2 {
            let extent = (kernel[axis] - 1) * dilations[axis] + 1
            switch autoPad {
            case "NOTSET", "":
                begin[axis] = explicit[axis]
                end[axis] = explicit[axis + 2]
            case "VALID": break
            case "SAME_UPPER", "SAME_LOWER":
                let target = (input[axis + 1] + strides[axis] - 1) / strides[axis]
                let total = max((target - 1) * strides[axis] + extent - input[axis + 1], 0)
                begin[axis] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                end[axis] = total - begin[axis]
            default:
                throw ONNXError.unsupportedAttribute(node: label, reason: "auto_pad '\(autoPad)' is not NOTSET, VALID, SAME_UPPER or SAME_LOWER")
            }
            guard begin[axis] >= 0, end[axis] >= 0, begin[axis] <= 1 << 16, end[axis] <= 1 << 16 else {
                throw ONNXError.unsupportedAttribute(node: label, reason: "pads \(explicit) must lie in 0…65536")
            }
            let span = input[axis + 1] + begin[axis] + end[axis] - extent
            guard span >= 0 else {
                throw ONNXError.unsupportedAttribute(
                    node: label, reason: "its window (\(kernel), dilations \(dilations)) is larger than the padded input \(Array(input.dropFirst()))")
            }
            out[axis] = (ceilMode ? (span + strides[axis] - 1) / strides[axis] : span / strides[axis]) + 1
            if ceilMode, (out[axis] - 1) * strides[axis] >= input[axis + 1] + begin[axis] { out[axis] -= 1 }
        }
        return (begin, end, out)
    }
}
