import Figures
import NeuralNet
import ONNX
import Tensors

/// What a pruning session prunes: a zoo network (every method) or an imported ONNX graph (the
/// methods that need no training data). Shapes, masks and weights are in the layouts the path
/// engines read: dense weights (out, in).
protocol PruningSubject: AnyObject {
    var weightShapes: [[Int]] { get }
    /// Masks already applied (nil = dense): weights they prune stay pruned.
    var existingMasks: [Tensor?] { get }
    /// The weights magnitude, LAMP and SynFlow rank (plain CPU tensors, one per prunable layer).
    func weightValues() throws -> [Tensor]
    func effectiveReport(_ masks: [Tensor]) throws -> SparsityReport
    /// SynFlow's linearised network.
    func makePathScoring() throws -> any PathScoring
    /// The network, for the methods that score on data (SNIP, GraSP, iterative SNIP); nil otherwise.
    var network: Network? { get }
}

final class NetworkSubject: PruningSubject {
    let network: Network?
    private let model: Network
    private let effective: EffectiveMasks

    init(network: Network, effective: EffectiveMasks) {
        self.network = network
        model = network
        self.effective = effective
    }

    var weightShapes: [[Int]] { model.prunableParameters.map(\.shape) }
    var existingMasks: [Tensor?] { model.prunableParameters.map(\.mask) }
    func weightValues() throws -> [Tensor] { model.prunableParameters.map(\.value) }
    func effectiveReport(_ masks: [Tensor]) throws -> SparsityReport { try effective.report(masks) }
    func makePathScoring() throws -> any PathScoring { try PathGraph(network: model) }
}

/// An ONNX graph with its weights in (out, in) layout: those given, or for SynFlow without any a
/// Kaiming-normal (fan_avg, as the zoo initialises) draw from the pruning seed.
final class GraphSubject: PruningSubject {
    let graph: ONNXGraph
    let network: Network? = nil
    private let given: [Tensor]?
    private let seed: UInt64
    private var drawn: [Tensor]?

    init(graph: ONNXGraph, weights: [Tensor]?, seed: UInt64, needsWeights: Bool, pruner: String) throws {
        self.graph = graph
        self.seed = seed
        if let weights {
            guard weights.count == graph.weights.count else { throw PruningError.maskCount(expected: graph.weights.count, got: weights.count) }
            for (weight, tensor) in zip(graph.weights, weights) where tensor.shape != weight.shape {
                throw PruningError.unsupported("weights for \(weight.name) have shape \(tensor.shape), expected \(weight.shape)")
            }
            given = zip(graph.weights, weights).map { weight, tensor in weight.isTransposed ? tensor.transposed2D() : tensor }
        } else {
            guard !needsWeights else {
                throw PruningError.unsupported("\(pruner) ranks trained weights, and the model holds none: export it with export_params=True or pass --weights")
            }
            given = nil
        }
    }

    var weightShapes: [[Int]] { graph.weights.map(\.reachShape) }
    var existingMasks: [Tensor?] { graph.weights.map { _ in nil } }

    func weightValues() throws -> [Tensor] {
        if let given { return given }
        if let drawn { return drawn }
        let weights = graph.initializedReachWeights(seed: seed)
        drawn = weights
        return weights
    }

    func effectiveReport(_ masks: [Tensor]) throws -> SparsityReport { try graph.reachReport(masks) }
    func makePathScoring() throws -> any PathScoring { try PathDAG(graph.description, backend: CPUBackend.shared) }
}

extension Tensor {
    /// A plain 2-D tensor with rows and columns swapped (other tensors are returned as they are).
    func transposed2D() -> Tensor {
        guard shape.count == 2 else { return self }
        let rows = shape[0], columns = shape[1]
        let result = Tensor(shape: [columns, rows])
        let source = readableData, destination = result.data
        for r in 0..<rows {
            for c in 0..<columns { destination[c * rows + r] = source[r * columns + c] }
        }
        return result
    }
}

extension ONNXGraph {
    /// Counts of float masks in the layouts reach nodes read ((out, in) for every dense weight).
    func reachReport(_ masks: [Tensor]) throws -> SparsityReport {
        guard masks.count == weights.count else { throw PruningError.maskCount(expected: weights.count, got: masks.count) }
        for (weight, mask) in zip(weights, masks) where mask.shape != weight.reachShape {
            throw PruningError.maskShape(layer: weight.name, expected: weight.reachShape, got: mask.shape)
        }
        let effective = dag.run(.floats(masks.map(\.readableData), effective: nil))
        return SparsityReport(layers: weights.indices.map { index in
            let mask = masks[index].readableData
            var kept = 0
            for i in 0..<masks[index].count { kept &+= mask[i] != 0 ? 1 : 0 }
            return LayerFigures(name: weights[index].name, shape: weights[index].shape, size: weights[index].count,
                                kept: kept, effective: effective[index])
        })
    }

    /// A report with each layer's shape as the graph declares it.
    static func declaredShapes(_ report: SparsityReport, graph: ONNXGraph) -> SparsityReport {
        var report = report
        for index in report.layers.indices where index < graph.weights.count { report.layers[index].shape = graph.weights[index].shape }
        return report
    }

    /// Weights as the zoo initialises its networks (Kaiming normal, fan_avg) from `seed`, in
    /// declared layout: what SynFlow, magnitude and LAMP see at initialisation in a model exported
    /// without parameters.
    public func initializedWeights(seed: UInt64) -> [Tensor] {
        zip(weights, initializedReachWeights(seed: seed)).map { weight, tensor in weight.isTransposed ? tensor.transposed2D() : tensor }
    }

    /// The same draw in the layouts reach nodes read ((out, in) for every dense weight).
    func initializedReachWeights(seed: UInt64) -> [Tensor] {
        var rng = RandomGenerator(seed: seed, stream: "onnx-init")
        return weights.map { weight in
            let shape = weight.reachShape, tensor = Tensor(shape: shape)
            let receptive = shape.dropFirst(2).reduce(1, *)
            Initializer.kaimingNormalFanAverage(tensor, fanIn: shape[1] * receptive, fanOut: shape[0] * receptive, rng: &rng)
            return tensor
        }
    }

    /// The weights the model's initializers hold (through PyTorch's Identity copies), in declared
    /// layout; nil when any is missing (a model exported without parameters).
    public func initialWeights(from model: ONNXModel) -> [Tensor]? {
        var tensors: [Tensor] = []
        for (index, (weight, source)) in zip(weights, sources).enumerated() {
            guard var values = model.initializers[source]?.floats(), values.count == weight.count, values.allSatisfy(\.isFinite) else {
                return nil
            }
            // A weight torch.nn.utils.prune masked is weight_orig · weight_mask.
            if let maskSource = maskSources[index] {
                guard let mask = model.initializers[maskSource]?.floats(), mask.count == values.count else { return nil }
                for i in values.indices { values[i] *= mask[i] }
            }
            tensors.append(Tensor(shape: weight.shape, values: values))
        }
        return tensors
    }

    /// The masks torch.nn.utils.prune left in the model (weights without one are dense); nil when
    /// it left none. An error when a mask holds values other than 0 and 1, or is declared without values.
    public func embeddedMasks(from model: ONNXModel) throws -> [BinaryMask]? {
        guard !maskSources.isEmpty else { return nil }
        return try weights.enumerated().map { index, weight in
            let mask = BinaryMask(shape: weight.shape)
            guard let source = maskSources[index] else {
                mask.bytes.update(repeating: 1, count: mask.count)
                return mask
            }
            guard let values = model.initializers[source]?.floats(), values.count == mask.count else {
                throw PruningError.unsupported("the model declares the mask \(source) of \(weight.name) without its values (export it with export_params=True)")
            }
            for (i, value) in values.enumerated() {
                guard value == 0 || value == 1 else { throw PruningError.nonBinaryMask(layer: weight.name, value: value) }
                mask.bytes[i] = value == 1 ? 1 : 0
            }
            return mask
        }
    }
}
