import Tensors

/// Stochastic gradient descent with momentum and weight decay (PyTorch's formulation), honouring
/// masks: masked gradients are dropped and masked weights stay exactly zero.
public final class SGD {
    public var learningRate: Float
    public let momentum: Float
    public let weightDecay: Float
    private let backend: any Backend
    private var velocities: [ObjectIdentifier: Tensor] = [:]

    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0, backend: any Backend = CPUBackend.shared) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.backend = backend
    }

    /// Updates every parameter from its gradient. Weight decay applies only to parameters that decay (kernels).
    public func step(_ parameters: [Parameter]) {
        for parameter in parameters {
            let velocity = velocityBuffer(of: parameter)
            backend.sgdStep(weight: parameter.value, gradient: parameter.gradient, velocity: velocity, mask: parameter.mask,
                            learningRate: learningRate, momentum: momentum,
                            weightDecay: parameter.decays ? weightDecay : 0)
        }
    }

    /// The momentum buffer of a parameter (nil before its first step), for checkpoints.
    public func velocity(of parameter: Parameter) -> Tensor? { velocities[ObjectIdentifier(parameter)] }

    /// The momentum buffer of a parameter, created (zero, which is what the first step assumes)
    /// when missing: checkpoints restore into it.
    public func velocityBuffer(of parameter: Parameter) -> Tensor {
        let key = ObjectIdentifier(parameter)
        if let velocity = velocities[key] { return velocity }
        let velocity = Tensor(shape: parameter.shape)
        velocities[key] = velocity
        return velocity
    }
}

/// Step learning-rate schedule: the rate is multiplied by `factor` at each milestone.
public struct StepSchedule: Sendable, Equatable {
    public let base: Float
    /// Milestones in the schedule's unit (epochs or iterations), counted from 1: from milestone m on
    /// (m included) the rate has been multiplied once more by `factor`.
    public let milestones: [Int]
    public let factor: Float

    public init(base: Float, milestones: [Int] = [], factor: Float = 0.1) {
        self.base = base
        self.milestones = milestones.sorted()
        self.factor = factor
    }

    /// The rate in force during `unit` (1-based epoch or iteration).
    public func rate(at unit: Int) -> Float {
        var rate = base
        for milestone in milestones where unit >= milestone { rate *= factor }
        return rate
    }
}
