import Tensors

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A learnable stand-in for image data: each class has a fixed smooth pattern, each sample is its
/// class's pattern plus Gaussian noise, clipped to [0, 1].
///
/// The class patterns depend only on the shape and the number of classes (never on `seed`), so a
/// training set and a test set made with different seeds share them; `seed` picks the noise and
/// the label order. Labels are balanced: class `k` gets `count / classes` samples, the first
/// `count % classes` classes one more.
public enum SyntheticDataset {
    /// The noise standard deviation: enough that a model must average over many pixels.
    public static let noise: Double = 0.35

    /// `count` samples of `sampleShape` (`[C, H, W]`) over `classes` classes, deterministic in `seed`.
    public static func make(count: Int, sampleShape: [Int], classes: Int, seed: UInt64, name: String = "synthetic") -> Dataset {
        precondition(count >= 0, "negative sample count \(count)")
        precondition(sampleShape.count == 3 && sampleShape.allSatisfy { $0 > 0 }, "sample shape must be [C, H, W], got \(sampleShape)")
        precondition(classes > 0, "classes must be positive")
        let sampleSize = sampleShape.reduce(1, *)
        let patterns = classPatterns(sampleShape: sampleShape, classes: classes)

        var order = Array(0..<count)
        var labelGenerator = RandomGenerator(seed: seed, stream: "synthetic-labels")
        labelGenerator.shuffle(&order)
        let labels = order.map { Int32($0 % classes) }

        var noiseGenerator = RandomGenerator(seed: seed, stream: "synthetic-noise")
        var images = [Float](repeating: 0, count: count * sampleSize)
        images.withUnsafeMutableBufferPointer { destination in
            patterns.withUnsafeBufferPointer { patternBuffer in
                let out = destination.baseAddress!, pattern = patternBuffer.baseAddress!
                for sample in 0..<count {
                    let mean = pattern + Int(labels[sample]) * sampleSize
                    let target = out + sample * sampleSize
                    for i in 0..<sampleSize {
                        let value = Double(mean[i]) + noise * noiseGenerator.nextNormal()
                        target[i] = Float(min(max(value, 0), 1))
                    }
                }
            }
        }
        return Dataset(name: name, sampleShape: sampleShape, classes: classes, images: images, labels: labels)
    }

    /// One mean image a class: a plane wave of class-specific frequency, orientation and phase
    /// around 0.5 with amplitude 0.3, drawn from a fixed stream.
    static func classPatterns(sampleShape: [Int], classes: Int) -> [Float] {
        let channels = sampleShape[0], height = sampleShape[1], width = sampleShape[2]
        var generator = RandomGenerator(seed: 0x5EED_DA7A, stream: "synthetic-patterns-\(classes)")
        var patterns = [Float](repeating: 0, count: classes * channels * height * width)
        var index = 0
        for _ in 0..<classes {
            for _ in 0..<channels {
                let angle = Double(generator.nextUniform()) * Double.pi
                let cycles = 1 + Double(generator.nextUniform()) * 3
                let phase = Double(generator.nextUniform()) * 2 * Double.pi
                let fx = cos(angle) * cycles / Double(width), fy = sin(angle) * cycles / Double(height)
                for y in 0..<height {
                    for x in 0..<width {
                        patterns[index] = Float(0.5 + 0.3 * sin(2 * Double.pi * (fx * Double(x) + fy * Double(y)) + phase))
                        index += 1
                    }
                }
            }
        }
        return patterns
    }
}
