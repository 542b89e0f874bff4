import CDNNL

/// A oneDNN reorder of one tensor shape from one layout to another (used at the model's edges:
/// into the first blocked layer, out of the last one).
public final class ReorderPlan: ReorderKernel {
    public let shape: [Int]
    public let from: TensorLayout
    public let to: TensorLayout
    private let reorder: DNNLReorder

    public init(shape: [Int], from: TensorLayout, to: TensorLayout) throws {
        self.shape = shape
        self.from = from
        self.to = to
        reorder = try DNNLReorder(from: try memoryDescriptor(shape, layout: from), to: try memoryDescriptor(shape, layout: to),
                                  name: "\(shape) \(from)→\(to)")
    }

    public func reorder(_ source: Tensor, into destination: Tensor) throws {
        precondition(source.shape == shape && destination.shape == shape && source.layout == from && destination.layout == to,
                     "reorder plan \(shape) \(from)→\(to) used on \(source.shape) \(source.layout)→\(destination.shape) \(destination.layout)")
        try reorder.execute(from: UnsafeMutableRawPointer(source.data), to: UnsafeMutableRawPointer(destination.data))
    }
}
