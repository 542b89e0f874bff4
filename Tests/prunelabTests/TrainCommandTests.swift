import Foundation
import Testing

@Suite("prunelab train end to end", .serialized)
struct TrainCommandTests {
    static let arguments = ["train", "--dataset", "synthetic", "--epochs", "2", "--seed", "3", "--json"]

    /// The synthetic two-epoch run, made once and shared by the tests that read it (a debug-build
    /// run takes a few seconds).
    static let syntheticRun: Result<PrunelabBinary.Run, PrunelabBinary.NotFound> = PrunelabBinary.location.flatMap { _ in
        Result { try PrunelabBinary.run(arguments, timeout: 300) }.mapError { PrunelabBinary.NotFound(searched: ["\($0)"]) }
    }

    @Test(.timeLimit(.minutes(10)))
    func syntheticRunReportsJSON() throws {
        let run = try Self.syntheticRun.get()
        #expect(!run.timedOut && run.status == 0, "\(run)")
        let report = try PrunelabBinary.json(run)

        let test = try #require(report["test"] as? [String: Any], "no test object: \(run)")
        let accuracy = try #require(number(test["accuracy"]), "test.accuracy is not a number")
        let loss = try #require(number(test["loss"]), "test.loss is not a number")
        // Ten well-separated class patterns: two epochs of LeNet-300-100 get far above chance (0.1).
        #expect(accuracy > 0.5 && accuracy <= 1, "test accuracy \(accuracy)")
        #expect(loss.isFinite && loss > 0, "test loss \(loss)")
        let imagesPerSecond = try #require(number(report["images_per_second"]))
        #expect(imagesPerSecond > 0)

        let epochs = try #require(report["epochs"] as? [[String: Any]], "no epochs array")
        #expect(epochs.count == 2)
        for (index, epoch) in epochs.enumerated() {
            #expect(number(epoch["epoch"]) == Double(index + 1))
            #expect((number(epoch["learning_rate"]) ?? 0) > 0)
            let epochAccuracy = number(epoch["test_accuracy"])
            #expect(epochAccuracy != nil && epochAccuracy! >= 0 && epochAccuracy! <= 1)
        }
        // The summary is the last epoch's evaluation.
        #expect(number(epochs.last?["test_accuracy"]) == accuracy)
        // Without --lr-drops the rate stays at the default 0.1.
        #expect(epochs.compactMap { number($0["learning_rate"]) }.allSatisfy { abs($0 - 0.1) < 1e-6 })

        // stderr: progress only, one line per epoch (plus the opening line naming the run).
        let epochLines = run.stderrLines.filter { $0.hasPrefix("epoch ") }
        #expect(epochLines.count == 2, "\(run.stderr)")
        #expect(epochLines.first?.hasPrefix("epoch 1/2") == true && epochLines.last?.hasPrefix("epoch 2/2") == true)
        #expect(run.stderrLines.count <= 3, "unexpected stderr lines: \(run.stderr)")
    }

    @Test(.timeLimit(.minutes(10)))
    func sameCommandTwiceGivesTheSameResult() throws {
        let first = try Self.syntheticRun.get()
        let second = try PrunelabBinary.run(Self.arguments, timeout: 300)
        #expect(first.status == 0 && second.status == 0, "\(first)\n\(second)")
        let a = try PrunelabBinary.json(first), b = try PrunelabBinary.json(second)
        let testA = try #require(a["test"] as? [String: Any]), testB = try #require(b["test"] as? [String: Any])
        #expect(number(testA["accuracy"]) == number(testB["accuracy"]))
        #expect(number(testA["loss"]) == number(testB["loss"]))
        let trainA = try #require(a["train"] as? [String: Any]), trainB = try #require(b["train"] as? [String: Any])
        #expect(number(trainA["loss"]) == number(trainB["loss"]))
    }

    @Test(.timeLimit(.minutes(10)))
    func learningRateDropAtEpochTwo() throws {
        let run = try PrunelabBinary.run(["train", "--dataset", "synthetic", "--epochs", "2", "--lr", "0.05",
                                          "--lr-drops", "2", "--json"], timeout: 300)
        #expect(run.status == 0, "\(run)")
        let epochs = try #require(try PrunelabBinary.json(run)["epochs"] as? [[String: Any]])
        let rates = epochs.compactMap { number($0["learning_rate"]) }
        #expect(rates.count == 2)
        if rates.count == 2 {
            #expect(abs(rates[0] - 0.05) < 1e-7, "\(rates)")
            #expect(abs(rates[1] - 0.1 * rates[0]) < 1e-6 * rates[0], "\(rates)")
        }
    }

    /// The one real-data check: LeNet-300-100 on Fashion-MNIST reaches 80 % after one epoch.
    @Test(.timeLimit(.minutes(10)), .enabled(if: InstalledFashionMNIST.isInstalled, InstalledFashionMNIST.absent))
    func fashionMNISTOneEpoch() throws {
        let run = try PrunelabBinary.run(["train", "--arch", "lenet300-100", "--dataset", "fashion-mnist", "--epochs", "1", "--json"],
                                         timeout: 540)
        #expect(!run.timedOut && run.status == 0, "\(run)")
        let test = try #require(try PrunelabBinary.json(run)["test"] as? [String: Any])
        let accuracy = try #require(number(test["accuracy"]))
        #expect(accuracy >= 0.80, "Fashion-MNIST test accuracy after one epoch: \(accuracy)")
    }
}

@Suite("prunelab bench", .serialized)
struct BenchCommandTests {
    @Test(.timeLimit(.minutes(10)))
    func gemmReportsPositiveGFLOPS() throws {
        let run = try PrunelabBinary.run(["bench", "gemm", "--json"], timeout: 150)
        #expect(!run.timedOut && run.status == 0, "\(run)")
        let report = try PrunelabBinary.json(run)
        let gflops = try #require(number(report["sgemm_gflops"]), "no sgemm_gflops: \(run)")
        #expect(gflops > 0 && gflops.isFinite)
        #expect(report["bench"] as? String == "gemm")
    }

    @Test(.timeLimit(.minutes(10)))
    func effectiveMasksBenchReportsTimes() throws {
        let run = try PrunelabBinary.run(["bench", "effective", "--arch", "lenet5", "--windows", "2", "--json"], timeout: 150)
        #expect(!run.timedOut && run.status == 0, "\(run)")
        let report = try PrunelabBinary.json(run)
        let rows = try #require(report["effective"] as? [[String: Any]], "no effective rows: \(run)")
        #expect(rows.count == 1 && rows[0]["architecture"] as? String == "lenet5")
        let seconds = try #require(number(rows[0]["seconds"]))
        #expect(seconds > 0 && seconds < 5)
        #expect(abs((number(rows[0]["direct_compression"]) ?? 0) - 100) < 0.1)
        #expect((number(rows[0]["effective_compression"]) ?? 0) >= 100)
        #expect(report["effective_pruning"] == nil, "the VGG-16 pruning row only runs for all architectures or --arch vgg16")
    }

    /// The service benchmark end to end (debug build: its figures mean nothing here, its plumbing
    /// does): every phase ran, nothing failed, the 7 000-run sweep was stored.
    @Test(.timeLimit(.minutes(10)))
    func serviceBenchRunsEveryPhase() throws {
        let run = try PrunelabBinary.run(["bench", "service", "--seconds", "1", "--json"], timeout: 170)
        #expect(!run.timedOut && run.status == 0, "\(run)")
        let report = try PrunelabBinary.json(run)
        let service = try #require(report["service"] as? [String: Any], "\(run)")
        #expect(service["sweep_runs"] as? Int == 7000)
        #expect((service["ready_seconds"] as? [Any])?.count == 3)
        for figure in ["lease_finish_per_second", "metrics_per_second", "get_requests_per_second", "healthz_requests_per_second",
                       "get_latency_p99_milliseconds", "writes_per_second_during_gets"] {
            #expect((number(service[figure]) ?? 0) > 0, "\(figure): \(run)")
        }
        for errors in ["lease_finish_errors", "ingest_errors", "get_errors", "write_errors"] {
            #expect(service[errors] as? Int == 0, "\(errors): \(run)")
        }
    }
}
