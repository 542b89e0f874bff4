import Experiments
import Figures
import Foundation
import PropertyBased
@testable import Service
import Store
import Testing

/// Generated input against the checks of what workers send (`RequestChecks`): every refusal is a
/// `StoreError.invalid` naming a field (a 400), every acceptance is consistent with the run's
/// architecture — and nothing traps on the way.
@Suite struct RequestCheckPropertyTests {
    /// LeNet-300-100's layout: three layers of 235 200, 30 000 and 1 000 weights (784-300-100-10).
    static let layout: RunLayout = {
        let config = try! RunConfig.parse(Data(#"{"architecture": "lenet300-100", "dataset": "synthetic", "pruner": "random/erk", "compression": 10}"#.utf8))
        return try! RunLayout.of(config)
    }()
    /// LeNet-5's (odd layer sizes: 450, 2 400, 48 000, 10 080 and 840 weights — padding bits matter).
    static let lenet5: RunLayout = {
        let config = try! RunConfig.parse(Data(#"{"architecture": "lenet5", "dataset": "synthetic", "pruner": "random/erk", "compression": 10}"#.utf8))
        return try! RunLayout.of(config)
    }()

    static func invalidField(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let StoreError.invalid(field, _) { return field } catch { return "unexpected \(error)" }
    }

    @Test func countsAreAcceptedExactlyInTheirRange() async {
        let edge = Gen.element(of: [Int.min, -1, 0, 1, Int(Int32.max), Int(Int32.max) + 1, Int.max]).map { $0 ?? 0 }
        await propertyCheck(count: 2000, input: Gen.oneOf(Gen.int(in: -1000...1000), edge, Gen.int(in: Int.min...Int.max)),
                            Gen.int(in: -5...300), Gen.letterOrNumber.string(of: 0...80)) { value, workerLength, name in
            let worker = String(repeating: "w", count: max(0, workerLength))
            let field = Self.invalidField { try RequestChecks.heartbeat(worker: worker, step: value, totalSteps: 10) }
            let inRange = (0...Int(Int32.max)).contains(value), goodWorker = (1...200).contains(worker.count)
            #expect(field == (goodWorker ? (inRange ? nil : "step") : "worker"))
            let metric = Self.invalidField {
                try RequestChecks.metrics(worker: "w", [MetricRecord(phase: 0, step: value, name: name, value: 0.5)])
            }
            #expect(metric == (inRange ? ((1...64).contains(name.count) ? nil : "metrics[0].name") : "metrics[0].step"))
        }
    }

    @Test func maskBodiesSplitIntoTheirLayersOrAreRefused() async {
        for layout in [Self.layout, Self.lenet5] {
            let expected = layout.packedMaskBytes
            // Lengths around the exact one, bytes that often set the last layer's padding bits.
            await propertyCheck(count: 300, input: Gen.int(in: -3...3), Gen.uint8(in: 0...255), Gen.int(in: 0...255)) { delta, fill, last in
                var bytes = [UInt8](repeating: fill, count: max(0, expected + delta))
                if !bytes.isEmpty { bytes[bytes.count - 1] = UInt8(last) }
                do {
                    let layers = try RequestChecks.masks(bytes, layout: layout, kind: "direct")
                    #expect(bytes.count == expected)
                    #expect(layers.map(\.count) == layout.layers.map(\.packedBytes))
                    #expect(Array(layers.joined()) == bytes)
                    for (data, layer) in zip(layers, layout.layers) where layer.size % 8 != 0 {
                        #expect(data.last! >> UInt8(layer.size % 8) == 0)
                    }
                } catch let StoreError.invalid(field, _) {
                    #expect(field == "body")
                    let padded = zip(layout.layers, Self.split(bytes, layout)).contains { layer, packed in
                        layer.size % 8 != 0 && (packed.last ?? 0) >> UInt8(layer.size % 8) != 0
                    }
                    #expect(bytes.count != expected || padded)
                } catch {
                    Issue.record("unexpected \(error)")
                }
            }
        }
    }

    static func split(_ bytes: [UInt8], _ layout: RunLayout) -> [[UInt8]] {
        guard bytes.count == layout.packedMaskBytes else { return [] }
        var offset = 0
        return layout.layers.map { layer in
            defer { offset += layer.packedBytes }
            return Array(bytes[offset..<(offset + layer.packedBytes)])
        }
    }

    /// Finishes whose counts are drawn around and beyond every bound: accepted exactly when the
    /// table is the architecture's, effective ≤ kept ≤ size per layer and the scalars are in
    /// range; the totals and compressions are then the table's own (nothing else carries them).
    @Test func finishesAreAcceptedExactlyWhenConsistent() async {
        let layers = Self.layout.layers
        let count = Gen.oneOf(Gen.int(in: 0...1000), Gen.element(of: [-1, 0, Int.max, Int.min, 235_200, 235_201]).map { $0 ?? 0 })
        let loss = Gen.element(of: [0.3, 0, -0.1, .nan, .infinity]).map { $0 ?? 0 }
        await propertyCheck(count: 3000, input: count.array(of: 3), count.array(of: 3), Gen.int(in: 0...7), Gen.double(in: -0.5...1.5), loss) {
            kept, effective, tamper, accuracy, testLoss in
            let table = zip(layers, zip(kept, effective)).map { layer, counts in
                LayerFigures(name: layer.name, shape: layer.shape, size: layer.size, kept: counts.0, effective: counts.1)
            }
            let consistent = zip(layers, zip(kept, effective)).allSatisfy { (0...$0.size).contains($1.0) && (0...$1.0).contains($1.1) }
            let total = layers.reduce(0) { $0 + $1.size }
            var finish = Components.Schemas.Finish(worker: "w", figures: RunFigures(
                testAccuracy: accuracy, testLoss: testLoss, trainLoss: 0.2, trainAccuracy: 0.9, layers: table, steps: 10, totalSteps: 10,
                trainingSeconds: 1, wallSeconds: 1, imagesPerSecond: 100))
            switch tamper {
            case 1: finish.figures.steps = -1
            case 2: finish.figures.wallSeconds = .infinity
            case 3: finish.figures.trainAccuracy = 1.5
            case 4: finish.figures.layers.removeLast()
            case 5: finish.figures.layers[0].shape = [300, 785]
            default: break
            }
            let valid = consistent && (0...1).contains(accuracy) && !(1...5).contains(tamper) && (testLoss.isNaN || (testLoss.isFinite && testLoss >= 0))
            do {
                let figures = try RequestChecks.finish(finish, layout: Self.layout)
                #expect(valid)
                #expect(figures.total == total && figures.kept == kept.reduce(0, +) && figures.effective == effective.reduce(0, +))
                #expect(figures.layers.map(\.kept) == kept)
            } catch let StoreError.invalid(field, _) {
                #expect(!valid, "refused a consistent finish (field \(field))")
                #expect(["figures.layers", "figures.steps", "figures.wall_seconds", "figures.train_accuracy", "figures.test_accuracy",
                         "figures.test_loss"].contains(field), "\(field)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
    }

    /// The 405 middleware reads every path and method of the served document.
    @Test func everyOperationOfTheDocumentIsARoute() {
        let routes = DocumentRoute.routes(in: openAPIDocument, prefix: "/api/v1")
        let operations = routes.reduce(0) { $0 + $1.methods.count }
        // Operations (not links, which name operations too) are six spaces in.
        #expect(operations == openAPIDocument.split(separator: "\n").filter { $0.hasPrefix("      operationId:") }.count)
        #expect(operations == 27)
        #expect(routes.contains { $0.components == ["api", "v1", "models"] && $0.methods == ["GET", "POST"] })
        #expect(routes.contains { $0.components == ["api", "v1", "models", "{sha256}", "model.onnx"] && $0.methods == ["GET"] })
        #expect(routes.contains { $0.components == ["api", "v1", "effective"] && $0.methods == ["POST"] })
        #expect(routes.contains { $0.components == ["api", "v1", "curves", "plot.svg"] && $0.methods == ["GET"] })
        #expect(routes.contains { $0.components == ["api", "v1", "runs", "{key}", "masks.npz"] && $0.methods == ["GET"] })
        #expect(routes.contains { $0.components == ["api", "v1", "sweeps"] && $0.methods == ["GET", "POST"] })
    }
}
