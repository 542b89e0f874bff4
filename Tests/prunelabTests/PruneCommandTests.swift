import Foundation
@testable import prunelab
import Testing

/// `prunelab prune`, `effective` and `curve` as a user runs them.
@Suite("prune, effective and curve commands", .serialized)
struct PruneCommandTests {
    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-prune-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    func succeed(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        let run = try PrunelabBinary.run(arguments, timeout: 90)
        #expect(run.status == 0 && !run.timedOut, "\(run)", sourceLocation: sourceLocation)
        return try PrunelabBinary.json(run)
    }

    @Test(.timeLimit(.minutes(10)))
    func pruneSaveAndRecomputeEffectiveSparsity() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let masks = directory.appendingPathComponent("masks.npz").path
        let pruned = try succeed(["prune", "--arch", "lenet300-100", "--pruner", "random/uniform", "--compression", "100",
                                  "--seed", "1", "--save", masks, "--json"])
        let figures = try #require(pruned["masks"] as? [String: Any])
        #expect(number(figures["total"]) == 266_200)
        #expect(number(figures["kept"]) == 2662)
        let effective = try #require(number(figures["effective"]))
        #expect(effective < 2662 / 4, "random/uniform at 100× on LeNet-300-100 is far sparser effectively")
        let layers = try #require(figures["layers"] as? [[String: Any]])
        #expect(layers.map { $0["name"] as? String } == ["fc1", "fc2", "fc3"])
        #expect(layers.map { ($0["shape"] as? [Any])?.compactMap(number) } == [[300, 784], [100, 300], [10, 100]])
        #expect(layers.allSatisfy { abs((number($0["quota"]) ?? 0) - 0.01) < 1e-3 })
        #expect(FileManager.default.fileExists(atPath: masks))

        let saved = directory.appendingPathComponent("effective.npz").path
        let recomputed = try succeed(["effective", "--arch", "lenet300-100", "--masks", masks, "--save-effective", saved, "--json"])
        let again = try #require(recomputed["masks"] as? [String: Any])
        #expect(number(again["kept"]) == 2662 && number(again["effective"]) == effective)
        // Effective masks are their own effective masks.
        let fixed = try #require(try succeed(["effective", "--arch", "lenet300-100", "--masks", saved, "--json"])["masks"] as? [String: Any])
        #expect(number(fixed["kept"]) == effective && number(fixed["effective"]) == effective)
    }

    @Test(.timeLimit(.minutes(10)))
    func effectiveModeReachesTheTargetEffectiveCompression() throws {
        let result = try succeed(["prune", "--arch", "lenet5", "--pruner", "random/erk", "--compression", "200", "--mode", "effective",
                                  "--json"])
        let figures = try #require(result["masks"] as? [String: Any])
        let effectiveCompression = try #require(number(figures["effective_compression"]))
        // Removing one more weight can disconnect several: the result is the largest effective
        // compression not above the target, close to it but not always on it.
        #expect(effectiveCompression <= 200 && effectiveCompression > 190)
        #expect(try #require(number(figures["direct_compression"])) < effectiveCompression)
        #expect(result["mode"] as? String == "effective" && (number(result["probes"]) ?? 0) > 1)
    }

    /// An iterative pruner's effective search says what it ran and what it trimmed: `probes` runs,
    /// `trim_probes` trimmed masks, the run `trimmed_from`, and `search` lists each mask evaluated.
    @Test(.timeLimit(.minutes(10)))
    func effectiveSynflowReportsRunsAndTrims() throws {
        let result = try succeed(["prune", "--arch", "lenet5", "--pruner", "synflow", "--rounds", "5", "--compression", "50",
                                  "--mode", "effective", "--json"])
        let figures = try #require(result["masks"] as? [String: Any])
        let kept = try #require(number(figures["kept"])), total = try #require(number(figures["total"]))
        let probes = try #require(number(result["probes"])), trims = try #require(number(result["trim_probes"]))
        let search = try #require(result["search"] as? [[String: Any]])
        #expect(search.count == Int(probes + trims))
        #expect(search.filter { $0["trimmed"] as? Bool == true }.count == Int(trims))
        #expect(try #require(number(result["trimmed_from"])) > kept)
        #expect(try #require(number(figures["effective"])) >= (total / 50).rounded(.up))
        // The search evaluated the answer and the same run trimmed by one weight more, which falls short.
        let fewer = try #require(search.first { $0["trimmed"] as? Bool == true && number($0["kept"]) == kept - 1 })
        #expect(try #require(number(fewer["effective"])) < (total / 50).rounded(.up))
    }

    /// `prunelab curves`: mean and spread over seeds, files for a paper, points in the service's
    /// database that a second invocation reuses and the server serves.
    @Test(.timeLimit(.minutes(10)))
    func curvesReportMeanAndSpreadOverSeedsAndAreStoredOnce() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = directory.appendingPathComponent("prunelab.sqlite").path
        let arguments = ["curves", "--arch", "lenet300-100", "--pruners", "random/uniform", "--compressions", "10,100", "--seeds", "3",
                         "--db", database, "--out", directory.path, "--json"]
        let result = try succeed(arguments)
        let curves = try #require(result["curves"] as? [[String: Any]])
        #expect((result["points"] as? [Any])?.count == 6)
        let points = try #require(curves.first?["points"] as? [[String: Any]])
        #expect(points.count == 2)
        for (point, target) in zip(points, [10.0, 100.0]) {
            #expect(abs((number(point["direct_compression"]) ?? 0) - target) < 0.01 * target)
            #expect(number(point["seeds"]) == 3)
            #expect((number(point["effective_mean"]) ?? 0) > (number(point["direct_compression"]) ?? .infinity))
            #expect((number(point["effective_std"]) ?? -1) > 0)
        }
        for file in ["curves.csv", "curves-summary.csv", "curves.json", "curve-lenet300-100.svg"] {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path), "\(file)")
        }
        // Again: every point comes from the database, with the same numbers.
        let again = try PrunelabBinary.run(arguments, timeout: 90)
        #expect(again.status == 0 && again.stderr.contains("0 points computed") && again.stderr.contains("6 reused"), "\(again)")
        #expect(NSDictionary(dictionary: try PrunelabBinary.json(again)["curves"].map { ["c": $0] } ?? [:])
                == NSDictionary(dictionary: ["c": result["curves"] as Any]))
        #expect(try ServeCommandTests.query(database, "SELECT count(*) FROM connectivity_points") == "6")

        // The server reads them: the points, the curves and the figure.
        let server = try ServerProcess(database: database)
        defer { server.stop() }
        let served = try server.request("GET", "/api/v1/curves")
        #expect(served.status == 200 && (served.json?["points"] as? [Any])?.count == 6, "\(served.text)")
        let servedCurve = try #require((served.json?["curves"] as? [[String: Any]])?.first)
        #expect(number(servedCurve["first_loss"]) == 10, "\(servedCurve)")
        let csv = try server.request("GET", "/api/v1/curves?format=csv&architecture=lenet300-100")
        #expect(csv.status == 200 && csv.text.split(separator: "\r\n").count == 7, "\(csv.text)")
        let svg = try server.request("GET", "/api/v1/curves/plot.svg?architecture=lenet300-100")
        #expect(svg.status == 200 && svg.text.contains("<path class=\"series\""), "\(svg.text.prefix(300))")
        let unknown = try server.request("GET", "/api/v1/curves/plot.svg?architecture=alexnet")
        #expect(unknown.status == 404 && unknown.json?["field"] as? String == "architecture", "\(unknown.text)")
    }

    @Test(.timeLimit(.minutes(10)))
    func dataDependentPrunerScoresOnTheDataset() throws {
        let result = try succeed(["prune", "--arch", "lenet5", "--pruner", "snip", "--dataset", "synthetic", "--compression", "20",
                                  "--score-samples", "64", "--json"])
        let figures = try #require(result["masks"] as? [String: Any])
        #expect(number(figures["kept"]) == (61770.0 / 20).rounded())
    }

    /// Bad mask files and arguments: one line on stderr, exit ≠ 0, and no output file.
    @Test(.timeLimit(.minutes(10)))
    func badInputIsRejectedAndWritesNothing() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let lenet5 = directory.appendingPathComponent("lenet5.npz").path
        _ = try succeed(["prune", "--arch", "lenet5", "--pruner", "random/uniform", "--compression", "10", "--save", lenet5, "--json"])
        let corrupt = directory.appendingPathComponent("corrupt.npz")
        try Data("PK\u{3}\u{4} this is not a zip archive".utf8).write(to: corrupt)
        let output = directory.appendingPathComponent("out.npz").path
        let cases: [(arguments: [String], mentions: [String])] = [
            (["effective", "--arch", "lenet300-100", "--masks", lenet5, "--save-effective", output], ["3", "5"]),
            (["effective", "--arch", "lenet5", "--input-shape", "3,28,28", "--masks", lenet5, "--save-effective", output], ["fc1"]),
            (["effective", "--arch", "lenet5", "--masks", corrupt.path, "--save-effective", output], [corrupt.path]),
            (["effective", "--arch", "lenet5", "--masks", directory.appendingPathComponent("missing.npz").path], ["missing.npz"]),
            (["prune", "--arch", "lenet5", "--pruner", "magnitude/huge", "--compression", "10", "--save", output], ["magnitude/huge"]),
            (["prune", "--arch", "lenet5", "--pruner", "random/fancy", "--compression", "10"], ["random/fancy"]),
            (["prune", "--arch", "lenet5", "--pruner", "random/uniform", "--compression", "1", "--save", output], ["1"]),
            (["prune", "--arch", "lenet5", "--pruner", "random/uniform", "--compression", "0.5"], ["0.5"]),
            (["prune", "--arch", "lenet5", "--pruner", "random/uniform", "--compression=-4"], ["-4"]),
            (["prune", "--arch", "lenet5", "--pruner", "random/uniform", "--compression", "10", "--mode", "sideways"], ["--mode"]),
            (["prune", "--arch", "lenet5", "--pruner", "random/uniform", "--compression", "10", "--save", "/nonexistent/dir/m.npz"],
             ["/nonexistent/dir"]),
            (["prune", "--arch", "lenet300-100", "--pruner", "random/uniform+", "--compression", "10", "--save", output], ["uniform+"]),
            (["prune", "--arch", "lenet5", "--pruner", "random/uniform", "--compression", "10", "--input-shape", "3000000000,3000000000,3"],
             ["--input-shape"]),
            (["prune", "--arch", "lenet5", "--pruner", "random/uniform", "--compression", "10", "--input-shape", "3,4096,4096"],
             ["--input-shape"]),
            (["effective", "--arch", "lenet300-100", "--masks", lenet5, "--classes", "3000000000"], ["--classes"]),
            (["curves", "--arch", "lenet5", "--pruners", "random/uniform", "--compressions", "10,abc"], ["abc"]),
            (["curves", "--arch", "lenet5", "--pruners", "random/uniform", "--compressions", "10", "--seeds", "0"], ["--seeds"]),
            (["curves", "--arch", "lenet5,alexnet", "--pruners", "random/uniform", "--compressions", "10"], ["alexnet"]),
            (["curves", "--arch", "lenet5", "--pruners", "snip", "--compressions", "10"], ["snip"]),
            (["curves", "--arch", "lenet5", "--pruners", "random/uniform", "--compressions", "1"], ["--compressions"]),
            (["curve", "--arch", "lenet5", "--pruners", "random/fancy", "--compressions", "10"], ["random/fancy"]),
        ]
        try Self.expectOneLineRefusals(cases, output: output)
    }

    /// Each case fails with exit ≠ 0, nothing on stdout, one line on stderr naming one of
    /// `mentions`, no crash, and `output` not written.
    static func expectOneLineRefusals(_ cases: [(arguments: [String], mentions: [String])], output: String,
                                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        for c in cases {
            let run = try PrunelabBinary.run(c.arguments, timeout: 60)
            #expect(run.status != 0 && !run.timedOut, "\(run)", sourceLocation: sourceLocation)
            #expect(run.stdout.isEmpty, "\(run)", sourceLocation: sourceLocation)
            #expect(run.stderrLines.count == 1, "\(run)", sourceLocation: sourceLocation)
            let line = run.stderrLines.first ?? ""
            #expect(c.mentions.contains { line.contains($0) }, "should name one of \(c.mentions): \(line)", sourceLocation: sourceLocation)
            #expect(!run.stderr.contains("Fatal error"), "\(run)", sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: output), "\(c.arguments) wrote \(output)", sourceLocation: sourceLocation)
        }
    }

    static let onnxFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("PruningTests/Fixtures/onnx")

    /// torchvision's ResNet-18 as PyTorch exports it: pruned to an effective target, its masks
    /// recomputed by `effective` from the saved file and from masks NumPy writes as a PyTorch user
    /// would (`np.savez(path, **{name: mask})`), MobileNetV2 pruned by SynFlow.
    @Test(.timeLimit(.minutes(10)))
    func onnxModelsFromPyTorchRunEndToEnd() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let resnet = Self.onnxFixtures.appendingPathComponent("resnet18-torchvision.onnx").path
        let masks = directory.appendingPathComponent("masks.npz").path
        let pruned = try succeed(["prune", "--onnx", resnet, "--pruner", "random/erk", "--compression", "100", "--mode", "effective",
                                  "--save", masks, "--json"])
        let figures = try #require(pruned["masks"] as? [String: Any])
        let effectiveCompression = try #require(number(figures["effective_compression"]))
        #expect(effectiveCompression <= 100 && effectiveCompression > 99)
        let layers = try #require(figures["layers"] as? [[String: Any]])
        #expect(layers.count == 21 && layers.first?["name"] as? String == "conv1.weight" && layers.last?["name"] as? String == "fc.weight")
        #expect(figures["architecture"] as? String == "resnet18-torchvision.onnx")
        let again = try #require(try succeed(["effective", "--onnx", resnet, "--masks", masks, "--json"])["masks"] as? [String: Any])
        #expect(number(again["effective"]) == number(figures["effective"]) && number(again["kept"]) == number(figures["kept"]))

        // A PyTorch user's masks: {name: mask} saved with np.savez; the last block's second conv pruned away.
        let user = directory.appendingPathComponent("user.npz").path
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-c", """
            import numpy as np
            masks = dict(np.load('\(masks)'))
            masks = {name: np.ones(m.shape, np.float32) for name, m in masks.items()}
            masks['layer4.1.conv2.weight'][:] = 0
            np.savez('\(user)', **masks)
            """]
        try python.run()
        python.waitUntilExit()
        try #require(python.terminationStatus == 0, "/usr/bin/python3 with numpy is required (Debian python3-numpy)")
        let userFigures = try #require(try succeed(["effective", "--onnx", resnet, "--masks", user, "--json"])["masks"] as? [String: Any])
        let userLayers = try #require(userFigures["layers"] as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: userLayers.map { ($0["name"] as? String ?? "", number($0["effective"]) ?? -1) })
        // Only the shortcut carries paths past the pruned conv: its block's first conv is cut off, the head is not.
        #expect(byName["layer4.1.conv1.weight"] == 0 && byName["layer4.1.conv2.weight"] == 0)
        #expect(byName["fc.weight"] == 5120 && byName["layer4.0.conv2.weight"] == 2_359_296)

        let mobilenet = Self.onnxFixtures.appendingPathComponent("mobilenet_v2-torchvision.onnx").path
        let synflow = try succeed(["prune", "--onnx", mobilenet, "--pruner", "synflow", "--rounds", "3", "--compression", "20", "--json"])
        let synflowFigures = try #require(synflow["masks"] as? [String: Any])
        let total = try #require(number(synflowFigures["total"]))
        #expect(total == 2_202_560 && number(synflowFigures["kept"]) == (total / 20).rounded())

        // A model pruned with torch.nn.utils.prune carries its masks: no --masks needed.
        let carried = try succeed(["effective", "--onnx", Self.onnxFixtures.appendingPathComponent("pruned-torch.onnx").path, "--json"])
        #expect(carried["source"] as? String == "the masks in the model", "\(carried)")
        let carriedFigures = try #require(carried["masks"] as? [String: Any])
        #expect((number(carriedFigures["kept"]) ?? 0) < (number(carriedFigures["total"]) ?? 0))

        // `models --onnx`: the names masks are keyed by, and whether the engine can train the graph.
        let listed = try succeed(["models", "--onnx", resnet, "--json"])
        #expect((listed["weights"] as? [[String: Any]])?.count == 21 && listed["trainable"] as? Bool == true, "\(listed)")
        let densenet = try succeed(["models", "--onnx", Self.onnxFixtures.appendingPathComponent("densenet-tiny.onnx").path, "--json"])
        #expect(densenet["trainable"] as? Bool == false && (densenet["not_trainable_because"] as? String)?.contains("Concat") == true,
                "\(densenet)")
    }

    /// `curves --onnx`: an imported ResNet-20 gives the zoo's ResNet-20 points (the same random
    /// masks per seed), under a name that carries the file's hash.
    @Test(.timeLimit(.minutes(10)))
    func curvesOfAnONNXModelAreTheZoosForTheSameNetwork() throws {
        let resnet = Self.onnxFixtures.appendingPathComponent("resnet20.onnx").path
        let common = ["--pruners", "random/erk", "--compressions", "10,300", "--seeds", "2", "--json"]
        let graph = try #require(try succeed(["curves", "--onnx", resnet] + common)["points"] as? [[String: Any]])
        let zoo = try #require(try succeed(["curves", "--arch", "resnet20"] + common)["points"] as? [[String: Any]])
        #expect(graph.count == 4 && zoo.count == 4)
        #expect(graph.allSatisfy { ($0["architecture"] as? String)?.hasPrefix("resnet20.onnx#") == true })
        #expect(graph.map { number($0["effective"]) } == zoo.map { number($0["effective"]) })
        #expect(graph.map { number($0["kept"]) } == zoo.map { number($0["kept"]) })
    }

    /// A multipart/form-data body as curl -F writes it.
    static func multipart(_ parts: [(name: String, data: Data)], boundary: String = "prunelab-test-boundary") -> Data {
        var body = Data()
        for part in parts {
            body.append(Data("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\"; filename=\"\(part.name).bin\"\r\n".utf8))
            body.append(Data("Content-Type: application/octet-stream\r\n\r\n".utf8))
            body.append(part.data)
            body.append(Data("\r\n".utf8))
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        return body
    }

    /// POST /api/v1/effective answers what `prunelab effective --onnx` answers: the report as
    /// JSON, the effective masks as an npz; bad parts are a 400 naming the part, a body over
    /// --max-model-bytes a 413.
    @Test(.timeLimit(.minutes(10)))
    func effectiveRouteAnswersWhatTheCommandAnswers() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let resnet = Self.onnxFixtures.appendingPathComponent("resnet18-torchvision.onnx")
        let masks = directory.appendingPathComponent("masks.npz")
        _ = try succeed(["prune", "--onnx", resnet.path, "--pruner", "random/igq", "--compression", "300", "--save", masks.path, "--json"])
        let command = try #require(try succeed(["effective", "--onnx", resnet.path, "--masks", masks.path, "--json"])["masks"] as? [String: Any])

        let server = try ServerProcess(database: directory.appendingPathComponent("prunelab.sqlite").path, extraArguments: ["--max-model-bytes", "150000"])
        defer { server.stop() }
        let type = "multipart/form-data; boundary=prunelab-test-boundary"
        let body = Self.multipart([("model", try Data(contentsOf: resnet)), ("masks", try Data(contentsOf: masks))])
        // A computation that stores nothing: a read, so loopback needs no token.
        let reply = try server.request("POST", "/api/v1/effective", body: body, token: .some(nil), contentType: type)
        #expect(reply.status == 200, "\(reply.text.prefix(500))")
        let json = try #require(reply.json)
        for key in ["total", "kept", "effective"] { #expect(number(json[key]) == number(command[key]), "\(key)") }
        #expect((json["layers"] as? [[String: Any]])?.map { $0["name"] as? String } == (command["layers"] as? [[String: Any]])?.map { $0["name"] as? String })
        #expect((json["input_shape"] as? [Any])?.compactMap(number) == [3, 64, 64])
        #expect((json["producer"] as? String)?.hasPrefix("pytorch") == true, "\(json["producer"] ?? "")")

        let zip = try server.request("POST", "/api/v1/effective", body: body, token: .some(nil), contentType: type, accept: "application/zip")
        #expect(zip.status == 200 && zip.body.starts(with: [0x50, 0x4B]), "\(zip.text.prefix(300))")
        let effective = directory.appendingPathComponent("effective.npz")
        try zip.body.write(to: effective)
        // Effective masks are their own effective masks, and as many as the report counted.
        let again = try #require(try succeed(["effective", "--onnx", resnet.path, "--masks", effective.path, "--json"])["masks"] as? [String: Any])
        #expect(number(again["kept"]) == number(command["effective"]) && number(again["effective"]) == number(command["effective"]))

        let fixture = { (name: String) in try Data(contentsOf: Self.onnxFixtures.appendingPathComponent(name)) }
        let cases: [(parts: [(name: String, data: Data)], field: String, mentions: String)] = [
            ([("model", try fixture("bad-operator.onnx")), ("masks", try Data(contentsOf: masks))], "model", "Resize"),
            ([("model", try fixture("bad-truncated.onnx")), ("masks", try Data(contentsOf: masks))], "model", "truncated"),
            ([("model", try fixture("corners.onnx")), ("masks", try Data(contentsOf: masks))], "masks", "unknown array names"),
            ([("model", try fixture("corners.onnx")), ("masks", Data("not a zip".utf8))], "masks", "zip"),
            ([("model", try fixture("corners.onnx"))], "masks", "masks"),
            ([("masks", try fixture("corners-masks-0.npz"))], "model", "model"),
        ]
        for c in cases {
            let bad = try server.request("POST", "/api/v1/effective", body: Self.multipart(c.parts), token: .some(nil), contentType: type)
            #expect(bad.status == 400 && bad.json?["field"] as? String == c.field, "\(c.field): \(bad.text)")
            #expect((bad.json?["error"] as? String)?.contains(c.mentions) == true, "\(bad.text)")
        }
        let large = Self.multipart([("model", Data(count: 160_000)), ("masks", try Data(contentsOf: masks))])
        let tooLarge = try server.request("POST", "/api/v1/effective", body: large, token: .some(nil), contentType: type)
        #expect(tooLarge.status == 413 && tooLarge.json?["field"] as? String == "body", "\(tooLarge.text)")
    }

    /// `--weights` reaches every pruner that reads weights (SynFlow, SNIP, GraSP too, not only
    /// magnitude and LAMP): other weights, other masks, same kept count; pruners that never read
    /// weights refuse it.
    @Test(.timeLimit(.minutes(10)))
    func weightsReachEveryPrunerThatReadsThem() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let weights = directory.appendingPathComponent("weights.npz").path
        try Self.python("""
            import numpy as np
            rng = np.random.default_rng(5)
            shapes = {'conv1': (6, 3, 5, 5), 'conv2': (16, 6, 5, 5), 'fc1': (120, 400), 'fc2': (84, 120), 'fc3': (10, 84)}
            np.savez('\(weights)', **{k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()})
            """)
        for pruner in ["synflow", "snip", "grasp"] {
            let data = pruner == "synflow" ? [] : ["--dataset", "synthetic", "--score-samples", "32"]
            let initial = directory.appendingPathComponent("\(pruner)-initial.npz").path
            let given = directory.appendingPathComponent("\(pruner)-given.npz").path
            let common = ["prune", "--arch", "lenet5", "--pruner", pruner, "--rounds", "5", "--compression", "20", "--json"] + data
            let a = try #require(try succeed(common + ["--save", initial])["masks"] as? [String: Any])
            let b = try #require(try succeed(common + ["--save", given, "--weights", weights])["masks"] as? [String: Any])
            #expect(number(a["kept"]) == number(b["kept"]))
            let differ = try Self.python("""
                import numpy as np
                a, b = np.load('\(initial)'), np.load('\(given)')
                print(sum(int((a[k] != b[k]).sum()) for k in a.keys()))
                """)
            #expect((Int(differ.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 100, "\(pruner): \(differ)")
        }
        let refused = try PrunelabBinary.run(["prune", "--arch", "lenet5", "--pruner", "random/erk", "--compression", "20",
                                              "--weights", weights], timeout: 60)
        #expect(refused.status != 0 && refused.stderrLines.count == 1 && refused.stderr.contains("--weights"), "\(refused)")
    }

    /// Runs a Python program (Debian's python3 with numpy) and returns its standard output.
    @discardableResult
    static func python(_ program: String) throws -> String {
        let process = Process(), output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", program]
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "/usr/bin/python3 with numpy is required (Debian python3-numpy)")
        return String(decoding: data, as: UTF8.self)
    }

    /// Bad ONNX models and masks that do not fit: one line, exit ≠ 0, nothing written.
    @Test(.timeLimit(.minutes(10)))
    func badONNXInputIsOneLineAndWritesNothing() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.npz").path
        let fixture = { (name: String) in Self.onnxFixtures.appendingPathComponent(name).path }
        let masks = fixture("corners-masks-0.npz")
        // The right names, one shape transposed (a MatMul weight saved (out, in)).
        let transposed = directory.appendingPathComponent("transposed.npz").path
        try Self.python("""
            import numpy as np
            m = dict(np.load('\(masks)'))
            m['head.weight'] = m['head.weight'].T
            np.savez('\(transposed)', **m)
            """)
        let cases: [(arguments: [String], mentions: [String])] = [
            (["effective", "--onnx", fixture("bad-truncated.onnx"), "--masks", masks, "--save-effective", output], ["truncated"]),
            (["effective", "--onnx", fixture("bad-cycle.onnx"), "--masks", masks, "--save-effective", output], ["cycle"]),
            (["effective", "--onnx", fixture("bad-operator.onnx"), "--masks", masks, "--save-effective", output], ["Resize"]),
            (["effective", "--onnx", fixture("bad-huge.onnx"), "--masks", masks, "--save-effective", output], ["2^28"]),
            (["effective", "--onnx", fixture("two-outputs.onnx"), "--masks", masks, "--save-effective", output], ["head_b.weight"]),
            (["effective", "--onnx", fixture("corners.onnx"), "--masks", fixture("densenet-tiny-masks-0.npz")], ["unknown array names"]),
            (["effective", "--onnx", fixture("corners.onnx"), "--masks", transposed, "--save-effective", output], ["head.weight"]),
            (["effective", "--onnx", directory.appendingPathComponent("none.onnx").path, "--masks", masks], ["none.onnx"]),
            (["effective", "--onnx", masks, "--masks", masks], ["ONNX"]),
            (["effective", "--onnx", fixture("corners.onnx"), "--arch", "lenet5", "--masks", masks], ["--onnx"]),
            (["effective", "--onnx", fixture("corners.onnx"), "--save-effective", output], ["--masks"]),
            (["effective", "--arch", "lenet5", "--save-effective", output], ["--masks"]),
            (["prune", "--onnx", fixture("resnet20.onnx"), "--pruner", "snip", "--compression", "10", "--save", output], ["training data"]),
            (["prune", "--onnx", fixture("resnet20.onnx"), "--pruner", "lamp", "--compression", "10", "--save", output], ["--weights"]),
            (["prune", "--onnx", fixture("corners.onnx"), "--pruner", "synflow", "--compression", "10", "--save", output], ["dilated"]),
            (["prune", "--onnx", fixture("corners.onnx"), "--pruner", "random/uniform", "--compression", "10", "--input-shape", "3,8,8"],
             ["--input-shape"]),
        ]
        try Self.expectOneLineRefusals(cases, output: output)
    }

    /// Masks with a value other than 0/1, written by NumPy (Debian's python3-numpy).
    @Test(.timeLimit(.minutes(10)))
    func nonBinaryMaskFromNumPyIsRejected() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("half.npz").path
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-c", """
            import numpy as np
            m = [np.ones((300, 784), np.float32), np.ones((100, 300), np.float32), np.ones((10, 100), np.float32)]
            m[1][3, 4] = 0.5
            np.savez_compressed('\(path)', fc1=m[0], fc2=m[1], fc3=m[2])
            """]
        try python.run()
        python.waitUntilExit()
        try #require(python.terminationStatus == 0, "/usr/bin/python3 with numpy is required (Debian python3-numpy)")
        let output = directory.appendingPathComponent("out.npz").path
        let run = try PrunelabBinary.run(["effective", "--arch", "lenet300-100", "--masks", path, "--save-effective", output], timeout: 60)
        #expect(run.status != 0 && run.stderrLines.count == 1, "\(run)")
        #expect(run.stderr.contains("fc2") && run.stderr.contains("0.5"), "\(run)")
        #expect(!FileManager.default.fileExists(atPath: output))
    }
}
