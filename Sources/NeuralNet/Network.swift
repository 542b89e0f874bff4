import Tensors

/// A whole model: a layer graph with a per-sample input shape, a class count and a softmax
/// cross-entropy head used for training and evaluation.
public final class Network {
    public let name: String
    /// Per-sample input shape, e.g. [1, 28, 28] or [3, 32, 32].
    public let inputShape: [Int]
    public let classes: Int
    public let body: Sequential
    /// The backend every layer of this network computes on.
    public let backend: any Backend
    private var lossGradients = ShapeCache<Tensor>()
    /// Every trainable parameter in canonical order (the graph is fixed once built).
    public let parameters: [Parameter]

    /// How the architecture pads its convolutions and pools (effective sparsity depends on it).
    public let padding: String

    /// The prunable layers' weight names in the model file the network was built from (an ONNX
    /// graph's `layer1.0.conv1.weight`); nil for the zoo's networks, whose layers are numbered.
    public internal(set) var importedLayerNames: [String]?

    public init(name: String, inputShape: [Int], classes: Int, body: Sequential, padding: String = "as declared per layer",
                backend: any Backend = CPUBackend.shared) throws {
        self.name = name
        self.padding = padding
        self.inputShape = inputShape
        self.classes = classes
        self.body = body
        self.backend = backend
        self.parameters = body.parameters
        let out = try body.outputShape(for: [1] + inputShape)
        guard out == [1, classes] else {
            throw LayerError.invalidConfiguration(layer: name, reason: "output \(out) does not match \(classes) classes")
        }
    }

    /// Dense and convolution weights in canonical order (order of creation): what masks apply to.
    public var prunableParameters: [Parameter] { parameters.filter(\.isPrunable) }
    public var prunableParameterCount: Int { prunableParameters.reduce(0) { $0 + $1.count } }
    /// Non-trainable state (BatchNorm running statistics) in canonical order.
    public var buffers: [(name: String, tensor: Tensor)] { body.buffers }

    /// The layers that own a prunable weight, in canonical order, with that weight.
    public var prunableLayers: [(layer: any Layer, weight: Parameter)] {
        leafLayers.compactMap { layer in layer.parameters.first(where: \.isPrunable).map { (layer, $0) } }
    }

    /// Names of the prunable layers in canonical order: `conv1`, `conv2`, … for convolutions and
    /// `fc1`, `fc2`, … for dense layers, numbered per kind from the input. Mask and weight files
    /// (npz) key their arrays by these names. An imported network's are its weights' names in
    /// the file (`importedLayerNames`), so that its masks load into the framework it came from.
    public var prunableLayerNames: [String] {
        if let importedLayerNames { return importedLayerNames }
        var convolutions = 0, dense = 0
        return prunableLayers.map { item in
            if item.layer is Conv2d { convolutions += 1; return "conv\(convolutions)" }
            dense += 1
            return "fc\(dense)"
        }
    }

    /// Every leaf layer in order of creation.
    public var leafLayers: [any Layer] {
        func walk(_ layer: any Layer) -> [any Layer] { layer.children.isEmpty ? [layer] : layer.children.flatMap(walk) }
        return walk(body)
    }

    /// Multiply-adds of dense and convolution layers for one sample's forward pass.
    public func multiplyAddsPerSample() throws -> Int {
        var total = 0
        func visit(_ layer: any Layer, _ shape: [Int]) throws -> [Int] {
            if let sequential = layer as? Sequential {
                return try sequential.layers.reduce(shape) { try visit($1, $0) }
            }
            if let residual = layer as? Residual {
                let out = try visit(residual.body, shape)
                if let shortcut = residual.shortcut { _ = try visit(shortcut, shape) }
                return out
            }
            if let linear = layer as? Linear { total += linear.inFeatures * linear.outFeatures }
            if let conv = layer as? Conv2d { total += try conv.geometry(for: shape).multiplyAdds }
            return try layer.outputShape(for: shape)
        }
        _ = try visit(body, [1] + inputShape)
        return total
    }

    /// Initialises every parameter from `seed`: Kaiming-normal fan_avg weights, zero biases and
    /// shifts, unit scales; resets BatchNorm running statistics; reapplies masks.
    public func initialize(seed: UInt64) {
        var rng = RandomGenerator(seed: seed, stream: "init")
        for parameter in parameters {
            switch parameter.role {
            case .weight:
                Initializer.kaimingNormalFanAverage(parameter.value, fanIn: parameter.fans.fanIn, fanOut: parameter.fans.fanOut, rng: &rng)
                if let mask = parameter.mask { backend.applyMask(mask, to: parameter.value) }
            case .bias, .shift: parameter.value.fill(0)
            case .scale: parameter.value.fill(1)
            }
        }
        for (name, tensor) in buffers { tensor.fill(name == "running_variance" ? 1 : 0) }
    }

    public func forward(_ input: Tensor, training: Bool) throws -> Tensor {
        guard Array(input.shape.dropFirst()) == inputShape else {
            throw LayerError.shapeMismatch(layer: name, expected: "[N] + \(inputShape)", got: input.shape)
        }
        return try body.forward(input, training: training)
    }

    /// Forward, loss and backward on one batch; fills every parameter's gradient. Returns the
    /// summed loss and the number of correct predictions of the batch.
    public func computeGradients(images: Tensor, labels: UnsafePointer<Int32>) throws -> (lossSum: Double, correct: Int) {
        let logits = try forward(images, training: true)
        let gradient = lossGradients.value(for: logits.shape) { Tensor(shape: logits.shape) }
        let result = backend.softmaxCrossEntropy(logits: logits, labels: labels, rows: images.rows, logitsGradient: gradient)
        _ = try body.backward(gradient, needsInputGradient: false)
        try backend.synchronize()
        return result
    }

    /// One SGD step on one batch.
    public func trainStep(images: Tensor, labels: UnsafePointer<Int32>, optimizer: SGD) throws -> (lossSum: Double, correct: Int) {
        let result = try computeGradients(images: images, labels: labels)
        optimizer.step(parameters)
        return result
    }

    /// Loss and correct count on a batch in evaluation mode (running BatchNorm statistics).
    public func evaluate(images: Tensor, labels: UnsafePointer<Int32>, count: Int) throws -> (lossSum: Double, correct: Int) {
        let logits = try forward(images, training: false)
        let result = backend.softmaxCrossEntropy(logits: logits, labels: labels, rows: count, logitsGradient: nil)
        try backend.synchronize()
        return result
    }
}
