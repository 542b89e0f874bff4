import Testing
import Tensors
@testable import NeuralNet

/// A fixed batch of synthetic training data: normal images and labels drawn from a seeded stream.
struct SyntheticBatch {
    let images: Tensor
    let labels: [Int32]

    init(batch: Int, sampleShape: [Int], classes: Int, seed: UInt64) {
        images = randomTensor([batch] + sampleShape, seed: seed)
        var rng = RandomGenerator(seed: seed, stream: "labels")
        labels = (0..<batch).map { _ in Int32(rng.nextInt(below: classes)) }
        // Make the task learnable: shift each image by its label, so the loss can actually drop.
        let perSample = sampleShape.reduce(1, *)
        for (sample, label) in labels.enumerated() {
            for i in 0..<perSample where i % (classes + 1) == Int(label) { images[sample * perSample + i] += 1.5 }
        }
    }

    @discardableResult
    func trainStep(_ network: Network, _ optimizer: SGD) throws -> (lossSum: Double, correct: Int) {
        try labels.withUnsafeBufferPointer { try network.trainStep(images: images, labels: $0.baseAddress!, optimizer: optimizer) }
    }
}

/// A 0/1 mask keeping each weight with probability `keep`, from a seeded stream.
func randomMask(_ shape: [Int], keep: Float, seed: UInt64) -> Tensor {
    var rng = RandomGenerator(seed: seed, stream: "mask")
    let mask = Tensor(shape: shape)
    for i in 0..<mask.count { mask[i] = rng.nextUniform() < keep ? 1 : 0 }
    return mask
}
