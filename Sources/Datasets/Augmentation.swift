import Tensors

/// Random training-time transforms: translation with zero fill and horizontal flip.
///
/// Zero fill happens after normalisation, where zero is the channel mean.
public struct Augmentation: Sendable, Equatable {
    /// Translations are drawn uniformly from `-maxShift...maxShift` pixels in x and in y.
    public var maxShift: Int
    /// Whether to mirror left-right with probability 1/2.
    public var horizontalFlip: Bool

    /// A transform policy; `maxShift` must be non-negative.
    public init(maxShift: Int = 0, horizontalFlip: Bool = false) {
        precondition(maxShift >= 0, "negative maxShift \(maxShift)")
        self.maxShift = maxShift
        self.horizontalFlip = horizontalFlip
    }

    /// No augmentation: samples are copied unchanged.
    public static let none = Augmentation()
    /// The standard CIFAR recipe: shift by up to 4 pixels and flip.
    public static let cifar = Augmentation(maxShift: 4, horizontalFlip: true)

    /// Whether this policy ever changes a sample.
    public var isIdentity: Bool { maxShift == 0 && !horizontalFlip }

    /// One sample's drawn transform.
    public struct Transform: Sendable, Equatable {
        /// Content moves right by `shiftX` pixels (left when negative).
        public var shiftX: Int
        /// Content moves down by `shiftY` pixels (up when negative).
        public var shiftY: Int
        /// Mirror left-right, applied before the shift.
        public var flip: Bool

        /// A transform with the given parameters.
        public init(shiftX: Int = 0, shiftY: Int = 0, flip: Bool = false) {
            self.shiftX = shiftX
            self.shiftY = shiftY
            self.flip = flip
        }

        /// The transform that copies unchanged.
        public static let identity = Transform()
    }

    /// Draws one sample's transform; always the same number of draws for a given policy.
    @inline(__always)
    public func draw(using generator: inout RandomGenerator) -> Transform {
        var transform = Transform.identity
        if maxShift > 0 {
            transform.shiftX = generator.nextInt(below: 2 * maxShift + 1) - maxShift
            transform.shiftY = generator.nextInt(below: 2 * maxShift + 1) - maxShift
        }
        if horizontalFlip { transform.flip = generator.next() & 1 == 1 }
        return transform
    }

    /// Writes `transform` of the CHW image at `source` to `destination` (which must not overlap it):
    /// `out[c, y, x] = in[c, y - shiftY, x' - shiftX]` with `x' = W-1-x` when flipping, zero outside.
    public static func apply(_ transform: Transform, source: UnsafePointer<Float>, destination: UnsafeMutablePointer<Float>,
                             channels: Int, height: Int, width: Int) {
        let dx = transform.shiftX, dy = transform.shiftY
        // Destination columns whose source column lies inside the image.
        let first = min(max(dx, 0), width), end = max(min(width + dx, width), first)
        for channel in 0..<channels {
            let sourcePlane = source + channel * height * width
            let destinationPlane = destination + channel * height * width
            for y in 0..<height {
                let row = destinationPlane + y * width
                let sourceY = y - dy
                guard sourceY >= 0 && sourceY < height, first < end else {
                    row.update(repeating: 0, count: width)
                    continue
                }
                row.update(repeating: 0, count: first)
                (row + end).update(repeating: 0, count: width - end)
                let sourceRow = sourcePlane + sourceY * width
                if transform.flip {
                    // Shifted column x reads flipped column x - dx, i.e. source column W-1-(x-dx).
                    let mirror = width - 1 + dx
                    for x in first..<end { row[x] = sourceRow[mirror - x] }
                } else {
                    (row + first).update(from: sourceRow + (first - dx), count: end - first)
                }
            }
        }
    }

    /// `transform` of one CHW image held in an array, for tests and tools (not for hot paths).
    public static func apply(_ transform: Transform, to image: [Float], sampleShape: [Int]) -> [Float] {
        precondition(sampleShape.count == 3 && image.count == sampleShape.reduce(1, *), "image does not match \(sampleShape)")
        var result = [Float](repeating: 0, count: image.count)
        image.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { destination in
                apply(transform, source: source.baseAddress!, destination: destination.baseAddress!,
                      channels: sampleShape[0], height: sampleShape[1], width: sampleShape[2])
            }
        }
        return result
    }
}
