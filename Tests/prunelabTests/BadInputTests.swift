import Foundation
import Testing

@Suite("prunelab rejects bad input with one line on stderr")
struct BadInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let arguments: [String]
        /// The message must contain at least one of these (the option or the offending value).
        let mentions: [String]
        var testDescription: String { arguments.joined(separator: " ") }
    }

    static let cases: [Case] = [
        Case(arguments: ["train", "--arch", "resnet-9000", "--dataset", "synthetic"], mentions: ["resnet-9000"]),
        Case(arguments: ["train", "--dataset", "imagenet-42"], mentions: ["imagenet-42"]),
        Case(arguments: ["train", "--dataset", "fashion-mnist", "--data-dir", "/nonexistent/prunelab-test-dir"],
             mentions: ["/nonexistent/prunelab-test-dir"]),
        Case(arguments: ["train", "--dataset", "mnist"], mentions: ["mnist"]),
        Case(arguments: ["train", "--dataset", "fashion-mnist", "--data-dir", "/etc/hostname"], mentions: ["/etc/hostname"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--epochs", "-3"], mentions: ["--epochs", "-3"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--epochs=-3"], mentions: ["--epochs", "-3"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--epochs", "0"], mentions: ["--epochs"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--batch-size", "0"], mentions: ["--batch-size"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--lr", "-1"], mentions: ["--lr", "-1"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--lr=-1"], mentions: ["--lr"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--lr", "0"], mentions: ["--lr"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--epochs", "two"], mentions: ["--epochs", "two"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--momentum", "1"], mentions: ["--momentum"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--lr-drops", "0"], mentions: ["--lr-drops"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--batch-size", "5000"], mentions: ["--batch-size"]),
        Case(arguments: ["train", "--no-such-flag"], mentions: ["--no-such-flag"]),
        Case(arguments: ["frobnicate"], mentions: ["frobnicate"]),
        Case(arguments: ["bench", "resnet"], mentions: ["resnet"]),
        Case(arguments: ["bench", "gemm", "--seconds", "0"], mentions: ["--seconds"]),
        Case(arguments: ["bench", "lenet5", "--layout", "diagonal"], mentions: ["--layout", "diagonal"]),
    ]

    @Test(.timeLimit(.minutes(1)), arguments: cases)
    func failsWithOneLine(_ c: Case) throws {
        let run = try PrunelabBinary.run(c.arguments, timeout: 45)
        #expect(!run.timedOut, "\(run)")
        #expect(run.status != 0, "\(run)")
        #expect(run.stdout.isEmpty, "nothing belongs on stdout: \(run)")
        let lines = run.stderrLines
        #expect(lines.count == 1, "stderr should be exactly one line: \(run)")
        #expect(run.stderr.hasSuffix("\n") && !run.stderr.dropLast().contains("\n"), "one terminated line: \(run)")
        let line = lines.first ?? ""
        #expect(!line.trimmingCharacters(in: .whitespaces).isEmpty)
        #expect(c.mentions.contains { line.contains($0) }, "the message should name one of \(c.mentions): \(line)")
        for marker in ["Fatal error", "Backtrac", "Stack", "💣", "Illegal instruction", "Segmentation"] {
            #expect(!run.stderr.contains(marker), "looks like a crash: \(run)")
        }
    }

    /// `--help` is not an error: usage on stdout, exit 0.
    @Test(.timeLimit(.minutes(1)))
    func helpSucceeds() throws {
        let run = try PrunelabBinary.run(["train", "--help"], timeout: 45)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("--epochs") && run.stdout.contains("--arch"), "\(run)")
    }
}
