import Tensors

/// Where each prunable layer's weights sit in one flat array over all layers (canonical order).
struct FlatLayout {
    let shapes: [[Int]]
    let sizes: [Int]
    let offsets: [Int]
    let total: Int

    init(shapes: [[Int]]) {
        self.shapes = shapes
        sizes = shapes.map { $0.reduce(1, *) }
        var offsets: [Int] = [], running = 0
        for size in sizes { offsets.append(running); running += size }
        self.offsets = offsets
        total = running
    }

    var layers: Range<Int> { shapes.indices }

    /// 0/1 mask tensors from a flat keep/drop array.
    func masks(from flat: [Bool]) -> [Tensor] {
        flat.withUnsafeBufferPointer { keep in
            layers.map { layer in
                let tensor = Tensor(shape: shapes[layer])
                let p = tensor.data, source = keep.baseAddress! + offsets[layer]
                for i in 0..<sizes[layer] { p[i] = source[i] ? 1 : 0 }
                return tensor
            }
        }
    }

    /// Refills mask tensors (made by `masks(from:)`) from a flat keep/drop array.
    func fill(_ masks: [Tensor], from flat: [Bool]) {
        flat.withUnsafeBufferPointer { keep in
            for layer in layers {
                let p = masks[layer].data, source = keep.baseAddress! + offsets[layer]
                for i in 0..<sizes[layer] { p[i] = source[i] ? 1 : 0 }
            }
        }
    }

    /// Flat 0/1 view of mask tensors (nil = all kept).
    func flatten(_ masks: [Tensor?]) -> [Bool] {
        var flat = [Bool](repeating: true, count: total)
        for layer in layers {
            guard let mask = masks[layer] else { continue }
            let p = mask.data, offset = offsets[layer]
            for i in 0..<sizes[layer] { flat[offset + i] = p[i] != 0 }
        }
        return flat
    }
}

/// Ranks (0 = most important) of `keys` in descending order, ties to the lower index, with the
/// ineligible entries after every eligible one. One sort of packed 64-bit words (order-preserving
/// bits of the Float key, index), so a mask of the top K is then `rank < K`.
func descendingRanks(_ keys: [Double], eligible: [Bool]? = nil, range: Range<Int>? = nil) -> [Int32] {
    let range = range ?? keys.indices
    var packed = [UInt64](repeating: 0, count: range.count)
    for (position, index) in range.enumerated() {
        let isEligible = eligible?[index] ?? true
        let key = Float(keys[index])
        let word: UInt32 = isEligible && !key.isNaN ? ~orderedBits(key) : UInt32.max
        packed[position] = UInt64(word) << 32 | UInt64(position)
    }
    packed.sort()
    var ranks = [Int32](repeating: 0, count: range.count)
    for (rank, word) in packed.enumerated() { ranks[Int(word & 0xFFFF_FFFF)] = Int32(rank) }
    return ranks
}

/// Bits of a Float whose unsigned order is the Float's order (−inf lowest).
@inline(__always)
func orderedBits(_ value: Float) -> UInt32 {
    let raw = value.bitPattern
    let bits = raw == 1 << 31 ? 0 : raw // −0 ties with +0, as in the Double version below
    return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
}

/// Buffers `narrow` reuses, so that iterative pruners (100 rounds over millions of weights)
/// allocate nothing per round.
struct SelectionScratch {
    /// The ordered bits of the kept entries' keys, in index order.
    var bits: [UInt64] = []
    /// One count per 16-bit digit.
    var histogram = [Int](repeating: 0, count: 1 << 16)
    /// The ordered bits that share the threshold's leading digits.
    var candidates: [UInt64] = []
}

/// Bits of a Double whose unsigned order is the Double's order, −0 and +0 alike (−∞ lowest; NaN
/// is mapped by the caller).
@inline(__always)
func orderedBits(_ value: Double) -> UInt64 {
    // −0 gets +0's bits, so equal keys get equal bits. Done on the bits, not as `value + 0`:
    // a thread that treats denormals as zero (the compute thread, `Parallel.flushDenormals`)
    // would turn ±5e-324 + 0 into 0 and break the order.
    let raw = value.bitPattern
    let bits = raw == 1 << 63 ? 0 : raw
    return bits & (1 << 63) != 0 ? ~bits : bits | (1 << 63)
}

/// The Double whose ordered bits are `ordered` (the inverse of `orderedBits`).
@inline(__always)
func doubleFromOrderedBits(_ ordered: UInt64) -> Double {
    Double(bitPattern: ordered & (1 << 63) != 0 ? ordered & ~(1 << 63) : ~ordered)
}

/// Narrows `keep` (in place) to its `count` entries with the largest keys (NaN ranks lowest),
/// ties to the lower index.
func narrow(_ keep: inout [Bool], to count: Int, keys: [Double], scratch: inout SelectionScratch) {
    var active = keep.indices.filter { keep[$0] }
    narrow(&keep, active: &active, to: count, keys: keys, scratch: &scratch)
}

/// `narrow` given `active`, the indices `keep` keeps in ascending order, which it narrows too, so
/// that its passes touch only the entries still kept: an iterative pruner keeps the list from
/// round to round, and its rounds cost what is left (a fifth of the weights on average over
/// SynFlow's 100 rounds to 100×), not the whole network.
///
/// O(n), by radix selection on the keys' ordered bits, 16 bits at a time: one pass gathers the
/// kept keys' bits and counts their leading digits, one gathers those sharing the count-th
/// largest's leading digit, further passes run over ever fewer of them; a last pass in index
/// order keeps everything above that key and as many entries equal to it as are still needed.
/// Streaming passes, not a quickselect's unpredictable swaps (SynFlow on VGG-19 spent half its
/// time in the quickselect this replaces; the same entries are kept).
func narrow(_ keep: inout [Bool], active: inout [Int], to count: Int, keys: [Double], scratch: inout SelectionScratch) {
    @inline(__always) func bits(_ key: Double) -> UInt64 { orderedBits(key.isNaN ? -.infinity : key) }
    let n = active.count
    if count >= n { return }
    if count <= 0 {
        for i in active { keep[i] = false }
        active.removeAll(keepingCapacity: true)
        return
    }
    /// The digit, from the highest down, within which the `needed`-th largest falls; adds the
    /// counts of the higher digits to `above` and takes them off `needed`.
    func digit(_ histogram: UnsafeMutableBufferPointer<Int>, needed: inout Int, above: inout Int) -> UInt64 {
        var d = histogram.count - 1
        while histogram[d] < needed { needed -= histogram[d]; above += histogram[d]; d -= 1 }
        return UInt64(d)
    }
    var needed = count, above = 0
    // The kept keys' bits, and how many have each leading digit.
    if scratch.bits.count < n { scratch.bits = [UInt64](repeating: 0, count: n) }
    var prefix: UInt64 = 0
    scratch.histogram.withUnsafeMutableBufferPointer { h in
        for d in 0..<h.count { h[d] = 0 }
        keys.withUnsafeBufferPointer { k in
            scratch.bits.withUnsafeMutableBufferPointer { b in
                for (position, i) in active.enumerated() {
                    let value = bits(k[i])
                    b[position] = value
                    h[Int(value >> 48)] += 1
                }
            }
        }
        prefix = digit(h, needed: &needed, above: &above)
    }
    // The bits sharing the threshold's leading digit; then 16 bits more at a time over those only,
    // until they are few (sorted) or all equal.
    scratch.candidates.removeAll(keepingCapacity: true)
    for value in scratch.bits[0..<n] where value >> 48 == prefix { scratch.candidates.append(value) }
    var shift: UInt64 = 48
    var threshold: UInt64 = 0
    while true {
        if scratch.candidates.count <= 2048 || shift == 0 {
            scratch.candidates.sort(by: >)
            threshold = scratch.candidates[needed - 1]
            above += scratch.candidates.firstIndex(of: threshold)!
            break
        }
        shift -= 16
        scratch.histogram.withUnsafeMutableBufferPointer { h in
            for d in 0..<h.count { h[d] = 0 }
            for value in scratch.candidates { h[Int((value >> shift) & 0xFFFF)] += 1 }
            prefix = digit(h, needed: &needed, above: &above)
        }
        scratch.candidates.removeAll { ($0 >> shift) & 0xFFFF != prefix }
    }
    // Last pass, in index order: above the threshold stays; equal stays while ties are needed.
    var tiesNeeded = count - above
    var kept = 0
    scratch.bits.withUnsafeBufferPointer { b in
        keep.withUnsafeMutableBufferPointer { e in
            active.withUnsafeMutableBufferPointer { a in
                for position in 0..<n {
                    let value = b[position]
                    if value > threshold || (value == threshold && tiesNeeded > 0) {
                        if value == threshold { tiesNeeded -= 1 }
                        a[kept] = a[position]
                        kept += 1
                    } else {
                        e[a[position]] = false
                    }
                }
            }
        }
    }
    active.removeLast(n - kept)
}
