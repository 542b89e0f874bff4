/// Byte pixels to floats in [0, 1] on raw pointers.
enum PixelScaling {
    /// `count` bytes of `bytes` from `offset`, each divided by 255.
    static func unitFloats(_ bytes: [UInt8], offset: Int, count: Int) -> [Float] {
        var result = [Float](repeating: 0, count: count)
        result.withUnsafeMutableBufferPointer { destination in
            bytes.withUnsafeBufferPointer { source in
                convert(source.baseAddress! + offset, into: destination.baseAddress!, count: count)
            }
        }
        return result
    }

    /// Writes `source[i] / 255` to `destination[i]` for `i < count` (a division, so 255 maps to exactly 1).
    @inline(__always)
    static func convert(_ source: UnsafePointer<UInt8>, into destination: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { destination[i] = Float(source[i]) / 255 }
    }
}
