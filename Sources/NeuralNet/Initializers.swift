import Tensors

/// Weight initialisation schemes.
public enum Initializer {
    /// Kaiming (He) normal with fan_avg, the paper's `VarianceScaling(scale: 2, mode: fan_avg)`:
    /// std = sqrt(2 / ((fanIn + fanOut) / 2)).
    public static func kaimingNormalFanAverage(_ tensor: Tensor, fanIn: Int, fanOut: Int, rng: inout RandomGenerator) {
        let std = (4.0 / Double(fanIn + fanOut)).squareRoot()
        for i in 0..<tensor.count { tensor[i] = Float(rng.nextNormal() * std) }
    }
}
