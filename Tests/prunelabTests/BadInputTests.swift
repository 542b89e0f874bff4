import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("prunelab rejects bad input with one line on stderr", .serialized)
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
        Case(arguments: ["train", "--dataset", "synthetic", "--device", "tpu"], mentions: ["--device", "tpu"]),
        Case(arguments: ["train", "--dataset", "synthetic", "--device", "gpu:-1"], mentions: ["--device", "gpu:-1"]),
        Case(arguments: ["bench", "lenet300", "--device", "gpu:x"], mentions: ["--device", "gpu:x"]),
        Case(arguments: ["bench", "lenet300", "--device", "gpu", "--layout", "nhwc"], mentions: ["--layout"]),
        Case(arguments: ["device-check", "--device", "cpu"], mentions: ["--device"]),
        Case(arguments: ["device-check", "--device", "gpu:0", "--filter", "no-such-check"], mentions: ["--filter", "no-such-check"]),
        Case(arguments: ["worker", "--server", "http://127.0.0.1:9", "--token", "t", "--device", "gpu0"], mentions: ["--device", "gpu0"]),
        Case(arguments: ["bench", "resnet"], mentions: ["resnet"]),
        Case(arguments: ["bench", "gemm", "--seconds", "0"], mentions: ["--seconds"]),
        Case(arguments: ["bench", "lenet5", "--layout", "diagonal"], mentions: ["--layout", "diagonal"]),
        Case(arguments: ["models", "--arch", "nope"], mentions: ["nope"]),
        Case(arguments: ["models", "--arch", "nope", "--json"], mentions: ["nope"]),
        Case(arguments: ["train", "--arch", "nope", "--dataset", "synthetic"], mentions: ["nope"]),
        // ImageNet has no reader: the default dataset cannot be loaded, so the user must pass one.
        Case(arguments: ["train", "--arch", "resnet50"], mentions: ["--dataset"]),
        Case(arguments: ["train", "--arch", "mobilenetv2"], mentions: ["--dataset"]),
        Case(arguments: ["serve", "--db", "/tmp/prunelab-never.sqlite", "--log-format", "xml"], mentions: ["--log-format", "xml"]),
        Case(arguments: ["serve", "--db", "/tmp/prunelab-never.sqlite", "--log-level", "loud"], mentions: ["--log-level", "loud"]),
        Case(arguments: ["serve", "--db", "/tmp/prunelab-never.sqlite", "--public", "/nonexistent/prunelab-page"],
             mentions: ["/nonexistent/prunelab-page"]),
        Case(arguments: ["worker", "--server", "http://127.0.0.1:9", "--token", "t", "--log-format", "xml"], mentions: ["--log-format"]),
        // Beyond loopback only with an explicit token (PRUNELAB_TOKEN is not set for the tests).
        Case(arguments: ["serve", "--db", "/tmp/prunelab-never.sqlite", "--host", "0.0.0.0", "--port", "0"], mentions: ["--host", "0.0.0.0"]),
        Case(arguments: ["serve", "--db", "/tmp/prunelab-never.sqlite", "--host", "::", "--port", "0"], mentions: ["--host"]),
        Case(arguments: ["serve", "--db", "/tmp/prunelab-never.sqlite", "--host", "10.231.0.1", "--port", "0", "--token", ""],
             mentions: ["--host", "10.231.0.1"]),
        Case(arguments: ["slurm", "submit", "--server", "http://head:8080", "--workers", "0", "--dry-run"], mentions: ["--workers"]),
        Case(arguments: ["slurm", "submit", "--server", "ftp://head", "--workers", "2", "--dry-run"], mentions: ["--server", "ftp://head"]),
        Case(arguments: ["slurm", "submit", "--server", "http://head:8080", "--workers", "2", "--script", "/nonexistent/x.sbatch"],
             mentions: ["--script", "/nonexistent/x.sbatch"]),
    ]

    @Test(.timeLimit(.minutes(10)), arguments: cases)
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

    /// Fashion-MNIST's 1×28×28 samples are too small for VGG's five 2×2 pools (28 → 14 → 7 → 3 → 1 → none):
    /// one line naming the architecture and the sample shape. Run on a four-file IDX fixture so that
    /// it does not depend on the Debian dataset being installed.
    @Test(.timeLimit(.minutes(10)), arguments: ["vgg16", "vgg19"])
    func datasetTooSmallForTheArchitecture(arch: String) throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-idx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func bigEndian(_ value: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
        let count = 16
        let images = bigEndian(0x803) + bigEndian(count) + bigEndian(28) + bigEndian(28)
            + (0..<(count * 28 * 28)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
        let labels = bigEndian(0x801) + bigEndian(count) + (0..<count).map { UInt8($0 % 10) }
        for split in ["train", "t10k"] {
            try Data(images).write(to: directory.appendingPathComponent("\(split)-images-idx3-ubyte"))
            try Data(labels).write(to: directory.appendingPathComponent("\(split)-labels-idx1-ubyte"))
        }
        let run = try PrunelabBinary.run(["train", "--arch", arch, "--dataset", "fashion-mnist", "--data-dir", directory.path,
                                          "--batch-size", "8"], timeout: 45)
        try expectOneLine(run, naming: [arch, "[1, 28, 28]"])
    }

    /// The command as a user types it, on the installed Fashion-MNIST (skipped when it is absent).
    @Test(.timeLimit(.minutes(10)), .enabled(if: InstalledFashionMNIST.isInstalled, InstalledFashionMNIST.absent))
    func vgg16OnInstalledFashionMNIST() throws {
        let run = try PrunelabBinary.run(["train", "--arch", "vgg16", "--dataset", "fashion-mnist"], timeout: 45)
        try expectOneLine(run, naming: ["vgg16", "[1, 28, 28]"])
    }

    /// Where no CUDA driver is installed (this CI), asking for a GPU is one line naming the
    /// library looked for, before any work starts; where one is, this says so and checks nothing.
    @Test(.timeLimit(.minutes(10)), arguments: [
        ["device-check", "--device", "gpu:0"],
        ["train", "--dataset", "synthetic", "--epochs", "1", "--device", "gpu"],
        ["run", "--config", "/nonexistent/never-read.json", "--device", "gpu:1"],
        ["bench", "lenet300", "--device", "gpu:0"],
        ["worker", "--server", "http://127.0.0.1:9", "--token", "t", "--device", "gpu:0"],
    ])
    func gpuWithoutCUDAIsOneLineNamingTheDriver(_ arguments: [String]) throws {
        if let driver = dlopen("libcuda.so.1", RTLD_LAZY) {
            dlclose(driver)
            print("NOT CHECKED: a CUDA driver is installed here, so \(arguments.joined(separator: " ")) may really run")
            return
        }
        let run = try PrunelabBinary.run(arguments, timeout: 45)
        try expectOneLine(run, naming: ["libcuda", "PRUNELAB_CUDA_LIBS"])
    }

    func expectOneLine(_ run: PrunelabBinary.Run, naming words: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(!run.timedOut && run.status != 0, "\(run)", sourceLocation: sourceLocation)
        #expect(run.stdout.isEmpty, "nothing belongs on stdout: \(run)", sourceLocation: sourceLocation)
        #expect(run.stderrLines.count == 1, "stderr should be exactly one line: \(run)", sourceLocation: sourceLocation)
        let line = run.stderrLines.first ?? ""
        for word in words { #expect(line.contains(word), "the message should name \(word): \(line)", sourceLocation: sourceLocation) }
        #expect(!run.stderr.contains("Fatal error"), "looks like a crash: \(run)", sourceLocation: sourceLocation)
    }

    /// `--help` is not an error: usage on stdout, exit 0.
    @Test(.timeLimit(.minutes(10)))
    func helpSucceeds() throws {
        let run = try PrunelabBinary.run(["train", "--help"], timeout: 45)
        #expect(run.status == 0, "\(run)")
        #expect(run.stdout.contains("--epochs") && run.stdout.contains("--arch"), "\(run)")
    }
}
