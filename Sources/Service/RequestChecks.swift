import Experiments
import Figures
import Foundation
import Store

/// What a worker sends, checked before it reaches arithmetic, an allocation or the store. Every
/// refusal is `StoreError.invalid` naming the field (a 400); the bounds are the ones the OpenAPI
/// document states, so a client generated from it sends nothing these refuse. Lengths are counted
/// in Unicode code points, as JSON Schema's `maxLength` counts them (not in Swift's grapheme
/// clusters, which combine many code points into one character).
enum RequestChecks {
    /// Worker ids: 1 to 200 characters.
    static let workerIDLength = 1...200
    /// Steps, phases and totals: counts that fit the database's and the engine's 32-bit fields.
    static let counts = 0...Int(Int32.max)
    /// Metric names (`test_accuracy`, …): 1 to 64 characters.
    static let metricNameLength = 1...64
    /// Metrics in one batch (a batch is what a worker gathered since its last report).
    static let metricsPerBatch = 10_000

    static func worker(_ id: String) throws(StoreError) {
        guard workerIDLength.contains(id.unicodeScalars.count) else {
            throw .invalid(field: "worker", reason: "a worker id of \(workerIDLength.lowerBound) to \(workerIDLength.upperBound) "
                           + "characters is required, got \(id.unicodeScalars.count)")
        }
    }

    static func count(_ value: Int?, field: String) throws(StoreError) {
        guard let value else { return }
        guard counts.contains(value) else {
            throw .invalid(field: field, reason: "\(field) must be from 0 to \(counts.upperBound), got \(value)")
        }
    }

    static func heartbeat(worker: String, step: Int?, totalSteps: Int?) throws(StoreError) {
        try Self.worker(worker)
        try count(step, field: "step")
        try count(totalSteps, field: "total_steps")
    }

    static func metrics(worker: String, _ samples: [MetricRecord]) throws(StoreError) {
        try Self.worker(worker)
        guard samples.count <= metricsPerBatch else {
            throw .invalid(field: "metrics", reason: "\(samples.count) metrics in one batch, at most \(metricsPerBatch)")
        }
        for (index, sample) in samples.enumerated() {
            try count(sample.phase, field: "metrics[\(index)].phase")
            try count(sample.step, field: "metrics[\(index)].step")
            // No control characters: SQLite hands text back up to its first NUL, so a name holding
            // one came back empty (schemathesis found it), and no metric is named with them anyway.
            guard metricNameLength.contains(sample.name.unicodeScalars.count),
                  !sample.name.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
                throw .invalid(field: "metrics[\(index)].name", reason: "a metric name has \(metricNameLength.lowerBound) to "
                               + "\(metricNameLength.upperBound) characters and no control characters, got \(sample.name.unicodeScalars.count)")
            }
        }
    }

    /// A finish's figures against the run's layout: the per-layer table is the architecture's
    /// (names, shapes, sizes), counts are consistent per layer (effective ≤ kept ≤ size), and the
    /// scalars are in range. Totals and compressions are not sent: the store derives them from
    /// the table, so what it holds never depends on a client's arithmetic.
    static func finish(_ finish: Components.Schemas.Finish, layout: RunLayout) throws(StoreError) -> RunFigures {
        try worker(finish.worker)
        let figures = finish.figures
        guard figures.layers.count == layout.layers.count else {
            throw .invalid(field: "figures.layers", reason: "\(figures.layers.count) layers, \(layout.architecture) has \(layout.layers.count)")
        }
        for (index, (layer, expected)) in zip(figures.layers, layout.layers).enumerated() {
            guard layer.name == expected.name, layer.shape == expected.shape, layer.size == expected.size else {
                throw .invalid(field: "figures.layers", reason: "layer \(index) is \(expected.name) \(expected.shape) in \(layout.architecture)")
            }
            guard (0...layer.size).contains(layer.kept), (0...layer.kept).contains(layer.effective) else {
                throw .invalid(field: "figures.layers", reason: "layer \(index) (\(layer.name)): inconsistent size, kept and effective counts")
            }
            if let quota = layer.quota, !(quota.isFinite && quota >= 0) {
                throw .invalid(field: "figures.layers", reason: "layer \(index) (\(layer.name)): quota must be a non-negative number")
            }
        }
        for (field, value) in [("test_accuracy", figures.testAccuracy), ("train_accuracy", figures.trainAccuracy)]
        where !(0...1).contains(value) {
            throw .invalid(field: "figures.\(field)", reason: "an accuracy is in [0, 1], got \(value)")
        }
        // Losses are NaN when absent (a diverged run); present, they are non-negative.
        for (field, value) in [("test_loss", figures.testLoss), ("train_loss", figures.trainLoss),
                               ("training_seconds", figures.trainingSeconds), ("wall_seconds", figures.wallSeconds),
                               ("images_per_second", figures.imagesPerSecond)]
        where !(value.isNaN && field.hasSuffix("_loss")) && !(value.isFinite && value >= 0) {
            throw .invalid(field: "figures.\(field)", reason: "\(field) must be a non-negative number, got \(value)")
        }
        for (field, value) in [("steps", figures.steps), ("total_steps", figures.totalSteps), ("resumed_from_step", figures.resumedFromStep ?? 0)] {
            try count(value, field: "figures.\(field)")
        }
        return figures
    }

    /// Splits an uploaded masks body (`packedMaskBytes` long: the caller bounds it while reading)
    /// into the layers' packed bits, refusing a wrong length or padding bits set past a layer's
    /// weights.
    static func masks(_ bytes: [UInt8], layout: RunLayout, kind: String) throws(StoreError) -> [Data] {
        let expected = layout.packedMaskBytes
        guard bytes.count == expected else {
            throw .invalid(field: "body", reason: "the \(kind) masks of \(layout.architecture) take exactly \(expected) bytes, "
                           + "this body has \(bytes.count)")
        }
        var layers: [Data] = [], offset = 0
        for (index, layer) in layout.layers.enumerated() {
            let packed = bytes[offset..<(offset + layer.packedBytes)]
            offset += layer.packedBytes
            if layer.size % 8 != 0, let last = packed.last, last >> UInt8(layer.size % 8) != 0 {
                throw .invalid(field: "body", reason: "mask \(index) (\(layer.name)) sets padding bits past its \(layer.size) weights")
            }
            layers.append(Data(packed))
        }
        return layers
    }
}
