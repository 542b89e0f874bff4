import Foundation
import Tensors

/// One comparison of a device backend with the CPU backend on the same random inputs.
///
/// Whole-model checks use the relative L2 error ‖device − cpu‖₂ / ‖cpu‖₂ instead (`Comparison(norm:
/// .relativeL2)`): a max-pooling window whose two largest inputs differ by less than the rounding
/// difference of the layers below picks a different winner on each implementation (on any two
/// implementations), which moves one gradient element and is invisible in the L2 error.
///
/// The error of a tensor is max |device − cpu| / max(max |cpu|, 0.01): normalised by the tensor's
/// scale, so one limit fits values of any magnitude, with a floor so that tensors whose true value
/// is zero (a convolution's bias gradient before BatchNorm) are judged by absolute error. A check
/// passes when its worst tensor is within `limit`.
public struct DeviceCheck: Sendable {
    public let name: String
    /// The largest normalised error accepted (0: identical).
    public let limit: Double
    let body: @Sendable (_ device: any Backend, _ cpu: any Backend) throws -> Comparison

    init(_ name: String, limit: Double, _ body: @escaping @Sendable (_ device: any Backend, _ cpu: any Backend) throws -> Comparison) {
        self.name = name
        self.limit = limit
        self.body = body
    }

    /// Runs the check on `device` against `cpu`.
    public func run(device: any Backend, cpu: any Backend = CPUBackend.shared) -> CheckResult {
        do {
            let comparison = try body(device, cpu)
            try device.synchronize()
            return CheckResult(name: name, limit: limit, worst: comparison.worst, worstTensor: comparison.worstTensor, error: nil,
                               others: comparison.errors.sorted { $0.error > $1.error }.prefix(4).map { "\($0.label) \(String(format: "%.2e", $0.error))" })
        } catch {
            return CheckResult(name: name, limit: limit, worst: .infinity, worstTensor: "", error: "\(error)", others: [])
        }
    }
}

/// The outcome of one check.
public struct CheckResult: Sendable, CustomStringConvertible {
    public let name: String
    public let limit: Double
    public let worst: Double
    public let worstTensor: String
    public let error: String?
    /// The largest errors, for diagnosis.
    public let others: [String]

    public var passed: Bool { error == nil && worst <= limit }

    public var description: String {
        if let error { return "FAIL \(name): \(error)" }
        let figures = "worst \(formatted(worst)) (\(worstTensor)), limit \(formatted(limit))"
        return "\(passed ? "ok  " : "FAIL") \(name): \(figures)" + (passed ? "" : "; largest: " + others.joined(separator: ", "))
    }

    private func formatted(_ value: Double) -> String {
        value == 0 ? "0" : value.isFinite ? String(format: "%.2e", value) : "\(value)"
    }
}

/// The worst normalised error over the tensors compared so far.
struct Comparison {
    enum Norm { case maximum, relativeL2 }
    var norm = Norm.maximum
    /// Every tensor compared, in order, with its error (NaN counted as infinite).
    private(set) var errors: [(label: String, error: Double)] = []

    private var worstEntry: (label: String, error: Double)? { errors.max { $0.error < $1.error } }
    var worst: Double { worstEntry?.error ?? 0 }
    var worstTensor: String { worstEntry?.label ?? "nothing compared" }

    init(norm: Norm = .maximum) { self.norm = norm }

    /// Adds tensor `label`: device values against CPU values (same order and count).
    mutating func add(_ label: String, device: [Float], cpu: [Float]) {
        var error: Double
        if device.count != cpu.count {
            error = .infinity
        } else {
            var difference = 0.0, scale = 0.0
            for (d, c) in zip(device, cpu) {
                let delta = abs(Double(d) - Double(c))
                switch norm {
                case .maximum:
                    scale = max(scale, abs(Double(c)))
                    difference = delta.isNaN ? .infinity : max(difference, delta)
                case .relativeL2:
                    scale += Double(c) * Double(c)
                    difference = delta.isNaN ? .infinity : difference + delta * delta
                }
                if difference == .infinity { break }
            }
            if norm == .relativeL2 { (difference, scale) = (difference.squareRoot(), scale.squareRoot()) }
            error = difference == 0 ? 0 : difference / max(scale, 0.01)
        }
        errors.append((label, error.isNaN ? .infinity : error))
    }

    /// Adds two scalars (losses, counts).
    mutating func add(_ label: String, device: Double, cpu: Double) {
        add(label, device: [Float(device)], cpu: [Float(cpu)])
    }
}

/// Values of a tensor in NCHW order through the backend that computed it.
func values(_ tensor: Tensor, _ backend: any Backend) throws -> [Float] {
    try backend.plainValues(of: tensor)
}

/// A plain tensor of normal(0, scale) values, reproducible from `seed`.
func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = RandomGenerator(seed: seed, stream: "device-check")
    let tensor = Tensor(shape: shape)
    let p = tensor.data
    for i in 0..<tensor.count { p[i] = Float(rng.nextNormal()) * scale }
    return tensor
}

/// A 0/1 tensor keeping each element with probability `density`.
func randomMask(_ shape: [Int], seed: UInt64, density: Double) -> Tensor {
    var rng = RandomGenerator(seed: seed, stream: "device-check-mask")
    let tensor = Tensor(shape: shape)
    let p = tensor.data
    for i in 0..<tensor.count { p[i] = Double(rng.nextUniform()) < density ? 1 : 0 }
    return tensor
}
