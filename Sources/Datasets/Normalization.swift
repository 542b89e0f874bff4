/// Per-channel standardisation `(x - mean[c]) / std[c]`, fitted on one data set and applied to any
/// data set of the same channel count (fit on train, apply to train and test).
public struct Normalization: Sendable, Equatable {
    /// The mean of each channel.
    public let mean: [Float]
    /// The (population) standard deviation of each channel; a constant channel gets 1.
    public let std: [Float]

    /// Given statistics, e.g. the published ones of a data set.
    public init(mean: [Float], std: [Float]) {
        precondition(mean.count == std.count, "\(mean.count) means for \(std.count) deviations")
        precondition(std.allSatisfy { $0 > 0 }, "standard deviations must be positive")
        self.mean = mean
        self.std = std
    }

    /// The mean and standard deviation of every channel over all samples, accumulated in Double.
    public static func perChannel(of dataset: Dataset) -> Normalization {
        let channels = dataset.sampleShape[0]
        let plane = dataset.sampleSize / channels
        var sums = [Double](repeating: 0, count: channels)
        var squares = [Double](repeating: 0, count: channels)
        dataset.images.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            for sample in 0..<dataset.count {
                for channel in 0..<channels {
                    let values = base + (sample * channels + channel) * plane
                    var sum = 0.0, square = 0.0
                    for i in 0..<plane {
                        let value = Double(values[i])
                        sum += value
                        square += value * value
                    }
                    sums[channel] += sum
                    squares[channel] += square
                }
            }
        }
        let n = Double(dataset.count * plane)
        var mean = [Float](repeating: 0, count: channels)
        var std = [Float](repeating: 1, count: channels)
        guard n > 0 else { return Normalization(mean: mean, std: std) }
        for channel in 0..<channels {
            let average = sums[channel] / n
            // E[x²] − E[x]² in Double is exact enough for pixel data in [0, 1]; clamp the rounding below zero.
            let variance = max(squares[channel] / n - average * average, 0)
            mean[channel] = Float(average)
            let deviation = Float(variance.squareRoot())
            std[channel] = deviation > 1e-12 ? deviation : 1
        }
        return Normalization(mean: mean, std: std)
    }

    /// Standardises every sample of `dataset` in place.
    public func apply(to dataset: inout Dataset) {
        let channels = dataset.sampleShape[0]
        precondition(channels == mean.count, "normalisation for \(mean.count) channels applied to \(channels)")
        let plane = dataset.sampleSize / channels
        let count = dataset.count
        dataset.images.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            for sample in 0..<count {
                for channel in 0..<channels {
                    let values = base + (sample * channels + channel) * plane
                    let shift = mean[channel], scale = 1 / std[channel]
                    for i in 0..<plane { values[i] = (values[i] - shift) * scale }
                }
            }
        }
    }
}
