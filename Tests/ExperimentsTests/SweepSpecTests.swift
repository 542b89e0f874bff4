import Experiments
import Foundation
import Testing

@Suite struct SweepSpecTests {
    func expand(_ json: String) throws(SweepError) -> [SweepRun] {
        try SweepSpec(parsing: Data(json.utf8)).runs()
    }

    /// 2 pruners × 2 compressions × 2 seeds = 8 cells; magnitude/global adds one dense parent per
    /// seed (2), listed before its children.
    @Test func gridIsACartesianProductWithParentsFirst() throws {
        let runs = try expand("""
            {"name": "demo", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "training": {"iterations": 10}},
             "grid": {"pruner": ["random/erk", "magnitude/global"], "compression": [10, 100], "seed": [0, 1]}}
            """)
        #expect(runs.count == 10)
        #expect(Set(runs.map(\.config.key)).count == 10)
        let dense = runs.filter { $0.config.pruner.isDense }
        #expect(dense.count == 2 && Set(dense.map(\.config.seed)) == [0, 1])
        for child in runs where child.config.pruner.name == "magnitude/global" {
            let parent = try #require(child.parents.first)
            let parentIndex = try #require(runs.firstIndex { $0.config.key == parent })
            #expect(parentIndex < runs.firstIndex { $0.config.key == child.config.key }!, "parents come first")
            #expect(runs[parentIndex].config.seed == child.config.seed)
        }
        #expect(Set(runs.filter { $0.config.pruner.name == "random/erk" }.compactMap(\.config.compression)) == [10, 100])
    }

    @Test func dottedFieldsReachNestedKeysAndKeysMatchRunConfig() throws {
        let runs = try expand("""
            {"name": "batches", "base": {"architecture": "lenet300-100", "dataset": "synthetic", "pruner": "random/igq",
             "compression": 10}, "grid": {"training.batch_size": [50, 100]}}
            """)
        #expect(runs.count == 2)
        let direct = try RunConfig.parse(Data("""
            {"architecture": "lenet300-100", "dataset": "synthetic", "pruner": "random/igq", "compression": 10,
             "training": {"batch_size": 50}}
            """.utf8))
        #expect(runs[0].config == direct)
    }

    @Test(arguments: [
        ("not json", "body"),
        ("[1]", "body"),
        ("{\"grid\": {\"seed\": [0]}}", "name"),
        ("{\"name\": \"x\", \"grid\": {}}", "grid"),
        ("{\"name\": \"x\", \"grid\": {\"seed\": []}}", "grid.seed"),
        ("{\"name\": \"x\", \"grid\": {\"seed\": 3}}", "grid.seed"),
        ("{\"name\": \"x\", \"colour\": 1, \"grid\": {\"seed\": [0]}}", "colour"),
        ("{\"name\": \"x\", \"max_attempts\": 0, \"grid\": {\"seed\": [0]}}", "max_attempts"),
        ("{\"name\": \"x\", \"max_attempts\": 2.5, \"grid\": {\"seed\": [0]}}", "max_attempts"),
        ("{\"name\": \"x\", \"max_attempts\": true, \"grid\": {\"seed\": [0]}}", "max_attempts"),
        ("{\"name\": \"x\", \"max_attempts\": \"3\", \"grid\": {\"seed\": [0]}}", "max_attempts"),
        ("{\"name\": \"x\", \"base\": {\"architecture\": \"lenet300-100\", \"compression\": 10}, \"grid\": {\"pruner\": [\"random/erk\", \"random/nope\"]}}", "pruner"),
        ("{\"name\": \"x\", \"base\": {\"architecture\": \"resnet-9000\", \"pruner\": \"dense\"}, \"grid\": {\"seed\": [0]}}", "architecture"),
        ("{\"name\": \"x\", \"base\": {\"architecture\": \"lenet300-100\", \"pruner\": \"random/erk\"}, \"grid\": {\"compression\": [10, 1]}}", "compression"),
        ("{\"name\": \"x\", \"base\": {\"architecture\": \"lenet300-100\", \"pruner\": \"random/erk\", \"compression\": 10}, \"grid\": {\"training.lr\": [0.1]}}", "training.lr"),
    ])
    func badSweepsNameTheField(json: String, field: String) {
        do {
            _ = try expand(json)
            Issue.record("accepted: \(json)")
        } catch {
            #expect(error.field == field, "\(error)")
        }
    }

    /// `max_attempts` is read as an integer in any spelling; 3 by default.
    /// The example sweeps are valid and expand to the runs EXPERIMENTS.md counts: the paper's grid
    /// (10 pruners × 2 modes × 4 targets × 3 seeds, plus the dense parent of magnitude, LAMP and
    /// LTH per seed) and the shuffle grid (5 pruners × 2 modes × 4 targets × 3 seeds × shuffled or
    /// not), whose unshuffled half is part of the paper's grid.
    @Test func theExampleSweepsExpandToThePapersGrids() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples")
        func runs(_ name: String) throws -> [SweepRun] {
            try SweepSpec(parsing: try Data(contentsOf: examples.appendingPathComponent(name))).runs()
        }
        let paper = try runs("paper-lenet300.json"), shuffle = try runs("paper-lenet300-shuffle.json")
        #expect(paper.count == 10 * 2 * 4 * 3 + 3)
        #expect(paper.filter { $0.config.pruner.name == "dense" }.count == 3)
        #expect(Set(paper.map(\.config.training.iterations)) == [3000])
        #expect(shuffle.count == 5 * 2 * 4 * 3 * 2)
        let paperKeys = Set(paper.map(\.config.key))
        let unshuffled = shuffle.filter { !$0.config.shuffle }
        #expect(unshuffled.count == 120 && unshuffled.allSatisfy { paperKeys.contains($0.config.key) })
        #expect(shuffle.filter(\.config.shuffle).allSatisfy { !paperKeys.contains($0.config.key) })
        _ = try runs("lenet300-fashion-mnist.json")
    }

    @Test func maxAttemptsIsReadOnce() throws {
        let base = "\"base\": {\"architecture\": \"lenet300-100\", \"compression\": 10}, \"grid\": {\"pruner\": [\"magnitude/global\", \"snip\"]}"
        #expect(try SweepSpec(parsing: Data("{\"name\": \"x\", \"max_attempts\": 5, \(base)}".utf8)).maxAttempts == 5)
        #expect(try SweepSpec(parsing: Data("{\"name\": \"x\", \"max_attempts\": 5.0, \(base)}".utf8)).maxAttempts == 5)
        #expect(try SweepSpec(parsing: Data("{\"name\": \"x\", \(base)}".utf8)).maxAttempts == 3)
        #expect(try expand("{\"name\": \"x\", \(base)}").count == 3)
    }

    /// null is a value of the wrong type for the sweep's own keys (the document does not make them
    /// nullable), unlike inside a run config, where it counts as absent.
    @Test(arguments: ["name", "base", "grid", "max_attempts"])
    func nullSweepKeysAreRefused(key: String) {
        var fields = ["\"name\": \"x\"", "\"base\": {\"architecture\": \"lenet300-100\", \"compression\": 10}",
                      "\"grid\": {\"pruner\": [\"snip\"]}", "\"max_attempts\": 2"]
        fields = fields.map { $0.hasPrefix("\"\(key)\"") ? "\"\(key)\": null" : $0 }
        do {
            _ = try SweepSpec(parsing: Data("{\(fields.joined(separator: ", "))}".utf8))
            Issue.record("accepted \(key): null")
        } catch {
            #expect(error.field == key, "\(error)")
        }
    }

    /// An axis inside another axis's value would overwrite part of it in some cells only.
    @Test func anAxisInsideAnotherIsRefused() {
        let json = #"{"name": "x", "grid": {"training": [{"iterations": 5}], "training.batch_size": [10, 20]}}"#
        do {
            _ = try SweepSpec(parsing: Data(json.utf8))
            Issue.record("accepted nested axes")
        } catch {
            #expect(error.field == "grid.training.batch_size", "\(error)")
        }
    }

    @Test func tooManyCellsIsRejectedBeforeExpanding() {
        let values = (0..<1000).map(String.init).joined(separator: ",")
        do {
            _ = try SweepSpec(parsing: Data("{\"name\": \"x\", \"grid\": {\"seed\": [\(values)], \"compression\": [\(values)]}}".utf8))
            Issue.record("accepted a million cells")
        } catch {
            #expect(error.field == "grid")
        }
    }

    /// A field the grid sets would replace base's in every cell, unvalidated and unused: the
    /// sweep is refused naming the grid axis (a fuzzer found base.seed = -1 accepted that way).
    @Test(arguments: [
        (#"{"seed": -1}"#, "seed"), (#"{"training": {"iterations": 0}}"#, "training.iterations"), (#"{"training": 5}"#, "training.iterations"),
        (#"{"training": {"batch_size": 10}}"#, "training"),
    ])
    func aFieldInBothBaseAndGridIsRefused(base: String, axis: String) throws {
        let json = #"{"name": "x", "base": \#(base), "grid": {"\#(axis)": [1, 2]}}"#
        #expect(throws: SweepError.self) { try SweepSpec(parsing: Data(json.utf8)) }
        do { _ = try SweepSpec(parsing: Data(json.utf8)) } catch { #expect(error.field == "grid.\(axis)") }
        // The same field given only once is fine; null in base counts as absent.
        #expect(try SweepSpec(parsing: Data(#"{"name": "x", "base": {"seed": null}, "grid": {"seed": [1, 2]}}"#.utf8)).axisCount == 1)
    }
}
