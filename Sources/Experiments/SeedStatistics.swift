import Foundation

/// Mean and sample standard deviation of one figure over the seeds of a cell: the one
/// aggregation behind the sweep plots and the mean-over-seeds table (the server's), `prunelab
/// curve` and `prunelab reproduce`.
public struct SeedStatistics: Equatable, Sendable {
    public var mean: Double
    /// Sample standard deviation (n − 1); 0 for one seed, infinite when the mean is.
    public var spread: Double
    public var seeds: Int

    /// nil for no values.
    public init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let n = Double(values.count)
        let mean = values.reduce(0, +) / n
        self.mean = mean
        seeds = values.count
        if values.count == 1 {
            spread = 0
        } else if !mean.isFinite {
            spread = .infinity
        } else {
            spread = (values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
        }
    }

    /// The geometric mean of positive values: the centre of compressions on a log axis (seeds
    /// land on slightly different effective compressions). nil for no values.
    public static func geometricMean(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        return exp(values.map { log($0) }.reduce(0, +) / Double(values.count))
    }
}
