import Experiments
import Testing

@Suite struct SeedStatisticsTests {
    @Test func meanAndSampleStandardDeviation() throws {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, squared deviations sum to 32, sample variance 32 / 7.
        let statistics = try #require(SeedStatistics([2, 4, 4, 4, 5, 5, 7, 9]))
        #expect(statistics.mean == 5 && statistics.seeds == 8)
        #expect(abs(statistics.spread - (32.0 / 7).squareRoot()) < 1e-12)
    }

    @Test func oneSeedHasNoSpreadAndNoneHasNoStatistics() throws {
        #expect(try #require(SeedStatistics([0.9])).spread == 0)
        #expect(SeedStatistics([]) == nil)
    }

    @Test func anInfiniteValueMakesMeanAndSpreadInfinite() throws {
        let statistics = try #require(SeedStatistics([10, .infinity]))
        #expect(statistics.mean == .infinity && statistics.spread == .infinity)
    }

    @Test func geometricMean() throws {
        #expect(abs(try #require(SeedStatistics.geometricMean([12, 27])) - 18) < 1e-12)
        #expect(SeedStatistics.geometricMean([]) == nil)
    }
}
