import Foundation
import Tensors

/// One comparison of a device backend with the CPU backend on the same random inputs.
///
/// Whole-model checks use the relative L2 error ‖device − cpu‖₂ / ‖cpu‖₂ instead (`Comparison(norm:
/// .relativeL2)`): a max-pooling window whose two largest inputs differ by less than the rounding
/// difference of the layers below picks a different winner on each implementation (on any two
/// implementations), which moves one gradient element and is invisible in the L2 error.
///
/// The error of a tensor is max |device − cpu| / max(max |cpu|, floor): normalised by the tensor's
/// scale, so one limit fits values of any magnitude. The floor is the scale of the values the
/// check's reductions add up (`Comparison.floor`): a tensor whose true value is zero by
/// cancellation (a convolution's bias gradient before BatchNorm, which BatchNorm makes exactly 0)
/// holds only rounding noise of the size of its terms, so it is judged against them, not against
/// its own (zero) scale. A check passes when its worst tensor is within `limit`.
///
/// Limits are derived, not fitted (`Tolerance`): both implementations round every addition of a
/// reduction of n float32 terms, in different orders (oneDNN's AVX2 and AVX-512 kernels block and
/// split reductions differently, and so does the device), so each result carries an error of
/// about √n·u relative to its terms (u = 2⁻²⁴; the probabilistic bound of Higham & Mary 2019,
/// which the worst-case n·u overstates by orders of magnitude), compounded over the d reductions
/// chained between input and compared tensor.
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
            return CheckResult(name: name, limit: comparison.limit ?? limit, worst: comparison.worst, worstTensor: comparison.worstTensor, error: nil,
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
    /// The smallest scale a tensor is normalised by: the magnitude of the terms its reductions
    /// add (0.01 where nothing better is known).
    var floor = 0.01
    /// A limit measured by the check itself, replacing the check's `limit` (see `ModelChecks.tieYardstick`).
    var limit: Double?
    /// Every tensor compared, in order, with its error (NaN counted as infinite).
    private(set) var errors: [(label: String, error: Double)] = []

    private var worstEntry: (label: String, error: Double)? { errors.max { $0.error < $1.error } }
    var worst: Double { worstEntry?.error ?? 0 }
    var worstTensor: String { worstEntry?.label ?? "nothing compared" }

    init(norm: Norm = .maximum, floor: Double = 0.01) {
        self.norm = norm
        self.floor = floor
    }

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
            error = difference == 0 ? 0 : difference / max(scale, floor)
        }
        errors.append((label, error.isNaN ? .infinity : error))
    }

    /// Adds two scalars (losses, counts).
    mutating func add(_ label: String, device: Double, cpu: Double) {
        add(label, device: [Float(device)], cpu: [Float(cpu)])
    }
}

/// Limits derived from float32 rounding (see `DeviceCheck`).
enum Tolerance {
    /// float32's unit roundoff, 2⁻²⁴.
    static let unitRoundoff = 0x1p-24
    /// Safety factor over the probabilistic bound √n·u: it holds with probability ≥ 1 − 2·exp(−λ²/2)
    /// per result for λ = 8 (Higham & Mary 2019, Theorem 2.4), so over the ~10⁶ results of a check
    /// and both implementations' errors, a deviation past it is not rounding.
    static let lambda = 8.0

    /// The largest normalised difference two correct implementations can show for results of
    /// `depth` chained reductions of at most `terms` float32 terms each: 2 (two implementations) ·
    /// depth · λ·√terms·u.
    static func rounding(terms: Int, depth: Int) -> Double {
        2 * Double(depth) * lambda * Double(terms).squareRoot() * unitRoundoff
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
