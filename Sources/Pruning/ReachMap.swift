/// A binary feature map [channels, height, width] of one sample: per channel one bit per position
/// (row-major) in `wordsPerChannel` 64-bit words. Bits past the last position are always zero, so
/// "any" and "all" are word compares. Dense features ([1, F]) are F channels of one position.
final class ReachMap {
    let channels: Int, height: Int, width: Int
    let positions: Int
    let wordsPerChannel: Int
    let words: UnsafeMutablePointer<UInt64>
    /// The valid bits of a channel's last word.
    let lastWordMask: UInt64

    init(channels: Int, height: Int, width: Int) {
        self.channels = channels
        self.height = height
        self.width = width
        positions = height * width
        wordsPerChannel = max((positions + 63) / 64, 1)
        let tail = positions % 64
        lastWordMask = tail == 0 ? ~0 : (1 << UInt64(tail)) - 1
        let count = max(channels * wordsPerChannel, 1)
        words = .allocate(capacity: count)
        words.initialize(repeating: 0, count: count)
    }

    /// The map of a batch-1 activation shape: [1, C, H, W], or [1, F] for features.
    convenience init(shape: [Int]) throws {
        switch shape.count {
        case 2: self.init(channels: shape[1], height: 1, width: 1)
        case 4: self.init(channels: shape[1], height: shape[2], width: shape[3])
        default: throw PruningError.unsupported("effective masks: activation shape \(shape) is neither [1, F] nor [1, C, H, W]")
        }
    }

    deinit { words.deallocate() }

    @inline(__always) func channel(_ c: Int) -> UnsafeMutablePointer<UInt64> { words + c * wordsPerChannel }

    func clear() { words.update(repeating: 0, count: channels * wordsPerChannel) }

    /// Every position of every channel set.
    func fill() {
        for c in 0..<channels { Bits.fill(channel(c), words: wordsPerChannel, lastWordMask: lastWordMask) }
    }

    func isFull(_ c: Int) -> Bool { Bits.isFull(channel(c), words: wordsPerChannel, lastWordMask: lastWordMask) }
}

/// Word-level operations on bit vectors (`words` 64-bit words, bit i of the vector is bit i % 64 of word i / 64).
enum Bits {
    @inline(__always)
    static func isEmpty(_ p: UnsafePointer<UInt64>, words: Int) -> Bool {
        for i in 0..<words where p[i] != 0 { return false }
        return true
    }

    @inline(__always)
    static func isFull(_ p: UnsafePointer<UInt64>, words: Int, lastWordMask: UInt64) -> Bool {
        for i in 0..<(words - 1) where p[i] != ~0 { return false }
        return p[words - 1] == lastWordMask
    }

    @inline(__always)
    static func fill(_ p: UnsafeMutablePointer<UInt64>, words: Int, lastWordMask: UInt64) {
        p.update(repeating: ~0, count: words)
        p[words - 1] = lastWordMask
    }

    @inline(__always)
    static func intersects(_ a: UnsafePointer<UInt64>, _ b: UnsafePointer<UInt64>, words: Int) -> Bool {
        for i in 0..<words where a[i] & b[i] != 0 { return true }
        return false
    }

    /// dst |= src.
    @inline(__always)
    static func formUnion(_ dst: UnsafeMutablePointer<UInt64>, _ src: UnsafePointer<UInt64>, words: Int) {
        for i in 0..<words { dst[i] |= src[i] }
    }

    /// Whether a ⊇ b.
    @inline(__always)
    static func contains(_ a: UnsafePointer<UInt64>, _ b: UnsafePointer<UInt64>, words: Int) -> Bool {
        for i in 0..<words where a[i] & b[i] != b[i] { return false }
        return true
    }

    @inline(__always)
    static func test(_ p: UnsafePointer<UInt64>, _ bit: Int) -> Bool { p[bit >> 6] >> UInt64(bit & 63) & 1 != 0 }

    @inline(__always)
    static func set(_ p: UnsafeMutablePointer<UInt64>, _ bit: Int) { p[bit >> 6] |= 1 << UInt64(bit & 63) }

    /// dst[i] = src[i + offset] for the `dstWords` words of dst, reading zeros outside src's
    /// `srcWords` words: the bit vector moved down by `offset` bits (up when negative).
    static func shift(_ src: UnsafePointer<UInt64>, srcWords: Int, by offset: Int, into dst: UnsafeMutablePointer<UInt64>,
                      dstWords: Int) {
        let wordOffset = offset >> 6, bitOffset = UInt64(offset & 63)  // floor division: bitOffset in 0..<64
        @inline(__always) func word(_ index: Int) -> UInt64 { index >= 0 && index < srcWords ? src[index] : 0 }
        if bitOffset == 0 {
            for i in 0..<dstWords { dst[i] = word(i + wordOffset) }
        } else {
            for i in 0..<dstWords {
                let j = i + wordOffset
                dst[i] = word(j) >> bitOffset | word(j + 1) << (64 - bitOffset)
            }
        }
    }
}
