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
    let bits = value.bitPattern
    return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
}

/// Narrows `keep` (in place) to its `count` entries with the largest keys, ties to the lower
/// index, in O(n): a quickselect finds the threshold, then one pass in index order keeps everything
/// above it and as many entries equal to it as are still needed. `scratch` is caller-owned so
/// that iterative pruners (100 rounds over millions of weights) allocate nothing per round.
func narrow(_ keep: inout [Bool], to count: Int, keys: [Double], scratch: inout [Double]) {
    scratch.removeAll(keepingCapacity: true)
    keys.withUnsafeBufferPointer { k in
        keep.withUnsafeBufferPointer { e in
            for i in 0..<k.count where e[i] { scratch.append(k[i].isNaN ? -.infinity : k[i]) }
        }
    }
    if count >= scratch.count { return }
    if count <= 0 {
        keep.withUnsafeMutableBufferPointer { e in for i in 0..<e.count { e[i] = false } }
        return
    }
    // The count-th largest = the (n − count)-th smallest (0-based).
    let threshold = select(&scratch, rank: scratch.count - count)
    var above = 0
    for key in scratch where key > threshold { above += 1 }
    var tiesNeeded = count - above
    keys.withUnsafeBufferPointer { k in
        keep.withUnsafeMutableBufferPointer { e in
            for i in 0..<k.count where e[i] {
                let key = k[i].isNaN ? -.infinity : k[i]
                if key > threshold { continue }
                if key == threshold, tiesNeeded > 0 { tiesNeeded -= 1; continue }
                e[i] = false
            }
        }
    }
}

/// The element that would sit at `rank` if `values` were sorted ascending (values are permuted).
func select(_ values: inout [Double], rank: Int) -> Double {
    var low = 0, high = values.count - 1
    values.withUnsafeMutableBufferPointer { v in
        while high > low {
            // Median of three as pivot; three-way partition copes with many equal keys.
            let mid = low + (high - low) / 2
            let a = v[low], b = v[mid], c = v[high]
            let pivot = max(min(a, b), min(max(a, b), c))
            var lt = low, i = low, gt = high
            while i <= gt {
                if v[i] < pivot { v.swapAt(lt, i); lt += 1; i += 1 }
                else if v[i] > pivot { v.swapAt(i, gt); gt -= 1 }
                else { i += 1 }
            }
            if rank < lt { high = lt - 1 } else if rank > gt { low = gt + 1 } else { low = rank; high = rank }
        }
    }
    return values[rank]
}
