import NeuralNet
import Tensors

/// A value of a 0/1 mask: bytes as npz files hold them, floats as pruners make them.
protocol MaskElement {
    init(isKept: Bool)
    var isKept: Bool { get }
}

extension UInt8: MaskElement {
    @inline(__always) init(isKept: Bool) { self = isKept ? 1 : 0 }
    @inline(__always) var isKept: Bool { self != 0 }
}

extension Float: MaskElement {
    @inline(__always) init(isKept: Bool) { self = isKept ? 1 : 0 }
    @inline(__always) var isKept: Bool { self != 0 }
}

/// The network's path structure in the boolean semiring, on bits: which units an all-ones input
/// reaches through the kept weights (forward) and which reach the output (backward). A kept weight
/// is effective iff its input unit is reached at some position where its output unit reaches the
/// output — the same reach `PathGraph` computes with the training kernels in float32 (clamped to
/// {0, 1}), which the tests check it against on every zoo architecture.
///
/// Built from the layer tree and shapes only (it never reads a weight), once per network; a run
/// costs a scan of the masks and word operations per kept weight, with no float tensors the size
/// of the weights (VGG-19: 20 M weights, a 20 MB byte mask set, a few hundred kB of bit maps).
final class ReachGraph {
    /// Prunable weight shapes in canonical order.
    let shapes: [[Int]]
    private let root: ReachSequence
    private let input: ReachMap, outputGradient: ReachMap

    init(network: Network) throws {
        let inputShape = [1] + network.inputShape
        var builder = ReachBuilder(layers: PrunableLayerNumbers(network))
        root = try builder.sequence(network.body, inputShape: inputShape).node
        shapes = network.prunableParameters.map(\.shape)
        input = try ReachMap(shape: inputShape)
        input.fill()
        outputGradient = ReachMap(channels: network.classes, height: 1, width: 1)
        outputGradient.fill()
        try builder.layers.checkAllMet(in: network)
    }

    /// One forward and one backward pass through `masks` (one per prunable layer, canonical order,
    /// shaped like `shapes`); writes each layer's effective mask into the destinations the masks
    /// come with, when they do, and returns the effective count per layer.
    func run(_ masks: ReachContext.Masks) -> [Int] {
        let context = ReachContext(masks: masks, layers: shapes.count)
        _ = root.forward(input, context)
        _ = root.backward(outputGradient, context, needsInputGradient: false)
        precondition(context.visited.allSatisfy { $0 }, "every prunable layer runs backward once")
        return context.effectiveCounts
    }
}

/// The masks of one run and what it found.
final class ReachContext {
    /// Per prunable layer a 0/1 mask and, optionally, where its effective mask goes.
    enum Masks {
        case bytes([UnsafePointer<UInt8>], effective: [UnsafeMutablePointer<UInt8>]?)
        case floats([UnsafePointer<Float>], effective: [UnsafeMutablePointer<Float>]?)

        var count: Int {
            switch self {
            case let .bytes(masks, _): masks.count
            case let .floats(masks, _): masks.count
            }
        }
    }

    let masks: Masks
    var effectiveCounts: [Int]
    var visited: [Bool]

    init(masks: Masks, layers: Int) {
        precondition(masks.count == layers, "one mask per prunable layer")
        self.masks = masks
        effectiveCounts = Array(repeating: 0, count: layers)
        visited = Array(repeating: false, count: layers)
    }
}

class ReachNode {
    func forward(_ x: ReachMap, _ context: ReachContext) -> ReachMap { x }
    func backward(_ g: ReachMap, _ context: ReachContext, needsInputGradient: Bool) -> ReachMap? { g }
    /// Whether the node or a node below it holds a prunable layer.
    var carriesWeights: Bool { false }
}

final class ReachSequence: ReachNode {
    let children: [ReachNode]
    private let firstWeighted: Int

    init(_ children: [ReachNode]) {
        self.children = children
        firstWeighted = children.firstIndex(where: \.carriesWeights) ?? children.count
    }

    override var carriesWeights: Bool { firstWeighted < children.count }

    override func forward(_ x: ReachMap, _ context: ReachContext) -> ReachMap {
        children.reduce(x) { $1.forward($0, context) }
    }

    override func backward(_ g: ReachMap, _ context: ReachContext, needsInputGradient: Bool) -> ReachMap? {
        var g = g
        let first = needsInputGradient ? 0 : firstWeighted
        for index in children.indices.reversed() {
            if index < first { return nil }
            guard let next = children[index].backward(g, context, needsInputGradient: index > first || needsInputGradient) else {
                return nil
            }
            g = next
        }
        return g
    }
}

/// A convolution (out, in / groups, kh, kw), or a dense layer (out, in) as a 1×1 convolution over
/// `in` channels of one position.
///
/// Forward: tap k of input channel c seen from the output grid is `shifted[c, k]` (the channel's
/// bits at the positions tap k reads, zero where it reads padding); output channel o is the union
/// of the shifted maps of its kept weights. Backward, from the output reach g: weight (o, c, k) is
/// effective iff kept and `shifted[c, k]` meets g[o]; `gathered[c, k]` collects the g[o] of the
/// kept weights and is spread back through tap k onto input channel c.
final class ReachConvolution: ReachNode {
    let index: Int
    private let inChannels: Int, outChannels: Int, groups: Int, taps: Int
    private let inPositions: Int, outPositions: Int
    /// Input position each tap reads for each output position (taps × outPositions), −1 in padding.
    private let source: [Int32]
    /// Stride-1 convolutions whose output rows are as wide as the input's read tap k at a fixed
    /// offset from the output position: whole words shift instead of per-bit gathers.
    private let offsets: [Int]?
    /// Per tap, the output positions where it reads the input (taps × outWords).
    private let valid: ReachMap
    /// Per tap, the input positions it reads from some output position (taps × inWords).
    private let read: ReachMap
    /// Per (c, k): whether `shifted[c, k]` has any bit (1) or none (0).
    private let shifted: ReachMap, shiftedAny: UnsafeMutablePointer<UInt8>
    /// Per (c, k): 1 when some kept weight's output reaches everywhere, so `gathered[c, k]` is full
    /// (flags a byte at a time instead of unions a word at a time: the common case).
    private let gathered: ReachMap, gatheredEverywhere: UnsafeMutablePointer<UInt8>
    private let output: ReachMap, inputGradient: ReachMap

    init(index: Int, window g: ReachWindow) {
        self.index = index
        inChannels = g.inChannels
        outChannels = g.outChannels
        groups = g.groups
        taps = g.kernelHeight * g.kernelWidth
        inPositions = g.inHeight * g.inWidth
        outPositions = g.outHeight * g.outWidth
        var source = [Int32](repeating: -1, count: taps * outPositions)
        valid = ReachMap(channels: taps, height: g.outHeight, width: g.outWidth)
        read = ReachMap(channels: taps, height: g.inHeight, width: g.inWidth)
        for ky in 0..<g.kernelHeight {
            for kx in 0..<g.kernelWidth {
                let k = ky * g.kernelWidth + kx
                for oy in 0..<g.outHeight {
                    let y = oy * g.strideHeight + ky * g.dilationHeight - g.padTop
                    guard y >= 0, y < g.inHeight else { continue }
                    for ox in 0..<g.outWidth {
                        let x = ox * g.strideWidth + kx * g.dilationWidth - g.padLeft
                        guard x >= 0, x < g.inWidth else { continue }
                        let p = oy * g.outWidth + ox, q = y * g.inWidth + x
                        source[k * outPositions + p] = Int32(q)
                        Bits.set(valid.channel(k), p)
                        Bits.set(read.channel(k), q)
                    }
                }
            }
        }
        self.source = source
        if g.strideHeight == 1, g.strideWidth == 1, g.outWidth == g.inWidth {
            offsets = (0..<taps).map { k in
                (k / g.kernelWidth * g.dilationHeight - g.padTop) * g.inWidth + k % g.kernelWidth * g.dilationWidth - g.padLeft
            }
        } else {
            offsets = nil
        }
        shifted = ReachMap(channels: inChannels * taps, height: g.outHeight, width: g.outWidth)
        shiftedAny = .allocate(capacity: inChannels * taps)
        shiftedAny.initialize(repeating: 0, count: inChannels * taps)
        gathered = ReachMap(channels: inChannels * taps, height: g.outHeight, width: g.outWidth)
        gatheredEverywhere = .allocate(capacity: inChannels * taps)
        gatheredEverywhere.initialize(repeating: 0, count: inChannels * taps)
        output = ReachMap(channels: g.outChannels, height: g.outHeight, width: g.outWidth)
        inputGradient = ReachMap(channels: g.inChannels, height: g.inHeight, width: g.inWidth)
    }

    convenience init(index: Int, geometry: ConvolutionGeometry) {
        self.init(index: index, window: ReachWindow(geometry))
    }

    /// A dense layer: `inFeatures` channels of one position.
    convenience init(index: Int, inFeatures: Int, outFeatures: Int) {
        self.init(index: index, window: ReachWindow(ConvolutionGeometry(batch: 1, inChannels: inFeatures, outChannels: outFeatures,
                                                                        inHeight: 1, inWidth: 1, kernelHeight: 1, kernelWidth: 1)))
    }

    deinit {
        shiftedAny.deallocate()
        gatheredEverywhere.deallocate()
    }

    override var carriesWeights: Bool { true }

    override func forward(_ x: ReachMap, _ context: ReachContext) -> ReachMap {
        shift(x)
        switch context.masks {
        case let .bytes(masks, _): unite(masks[index])
        case let .floats(masks, _): unite(masks[index])
        }
        return output
    }

    override func backward(_ g: ReachMap, _ context: ReachContext, needsInputGradient: Bool) -> ReachMap? {
        precondition(!context.visited[index], "layer \(index) ran backward twice")
        context.visited[index] = true
        if needsInputGradient {
            gathered.clear()
            gatheredEverywhere.update(repeating: 0, count: inChannels * taps)
        }
        switch context.masks {
        case let .bytes(masks, effective):
            context.effectiveCounts[index] = collect(g, masks[index], effective?[index], gathering: needsInputGradient)
        case let .floats(masks, effective):
            context.effectiveCounts[index] = collect(g, masks[index], effective?[index], gathering: needsInputGradient)
        }
        guard needsInputGradient else { return nil }
        spread()
        return inputGradient
    }

    /// `shifted[c, k]` for every input channel and tap.
    private func shift(_ x: ReachMap) {
        let outWords = shifted.wordsPerChannel, inWords = x.wordsPerChannel
        for c in 0..<inChannels {
            let channel = x.channel(c)
            let empty = Bits.isEmpty(channel, words: inWords), full = !empty && x.isFull(c)
            for k in 0..<taps {
                let slot = c * taps + k, destination = shifted.channel(slot)
                if empty {
                    destination.update(repeating: 0, count: outWords)
                } else if full {
                    destination.update(from: valid.channel(k), count: outWords)
                } else if let offsets {
                    Bits.shift(channel, srcWords: inWords, by: offsets[k], into: destination, dstWords: outWords)
                    for i in 0..<outWords { destination[i] &= valid.channel(k)[i] }
                } else {
                    destination.update(repeating: 0, count: outWords)
                    source.withUnsafeBufferPointer { source in
                        let base = k * outPositions
                        for p in 0..<outPositions {
                            let q = Int(source[base + p])
                            if q >= 0, Bits.test(channel, q) { Bits.set(destination, p) }
                        }
                    }
                }
                shiftedAny[slot] = Bits.isEmpty(destination, words: outWords) ? 0 : 1
            }
        }
    }

    /// Output channel o: the union of `shifted[c, k]` over its kept weights (o, c, k).
    private func unite<M: MaskElement>(_ mask: UnsafePointer<M>) {
        let words = output.wordsPerChannel, last = output.lastWordMask
        let perGroupIn = inChannels / groups, perGroupOut = outChannels / groups, row = perGroupIn * taps
        for o in 0..<outChannels {
            let first = o / perGroupOut * perGroupIn * taps
            let weights = mask + o * row, destination = output.channel(o)
            if words == 1 {
                var union: UInt64 = 0
                let slots = shifted.words + first
                for i in 0..<row where weights[i].isKept {
                    union |= slots[i]
                    if union == last { break }
                }
                destination[0] = union
            } else {
                destination.update(repeating: 0, count: words)
                for i in 0..<row where weights[i].isKept && shiftedAny[first + i] != 0 {
                    Bits.formUnion(destination, shifted.channel(first + i), words: words)
                    if Bits.isFull(destination, words: words, lastWordMask: last) { break }
                }
            }
        }
    }

    /// Effective weights of output reach `g` (written to `effective` when given, counted), and,
    /// when `gathering`, `gathered[c, k]` |= g[o] for every kept (o, c, k).
    private func collect<M: MaskElement>(_ g: ReachMap, _ mask: UnsafePointer<M>, _ effective: UnsafeMutablePointer<M>?,
                                         gathering: Bool) -> Int {
        let words = g.wordsPerChannel, last = g.lastWordMask
        let perGroupIn = inChannels / groups, perGroupOut = outChannels / groups, row = perGroupIn * taps
        var count = 0
        for o in 0..<outChannels {
            let reach = g.channel(o), weights = mask + o * row
            let first = o / perGroupOut * perGroupIn * taps
            if Bits.isEmpty(reach, words: words) {
                effective?.advanced(by: o * row).update(repeating: M(isKept: false), count: row)
            } else if Bits.isFull(reach, words: words, lastWordMask: last) {
                // Effective iff kept and its tap sees any reached input; no branch per weight.
                count += Self.intersect(weights, shiftedAny + first, row: row, into: effective.map { $0 + o * row })
                if gathering { Self.mark(weights, gatheredEverywhere + first, row: row) }
            } else {
                let destination = effective.map { $0 + o * row }
                for i in 0..<row {
                    guard weights[i].isKept else {
                        destination?[i] = M(isKept: false)
                        continue
                    }
                    let slot = first + i
                    let isEffective = shiftedAny[slot] != 0 && Bits.intersects(shifted.channel(slot), reach, words: words)
                    destination?[i] = M(isKept: isEffective)
                    count += isEffective ? 1 : 0
                    if gathering { Bits.formUnion(gathered.channel(slot), reach, words: words) }
                }
            }
        }
        return count
    }

    /// destination[i] = kept[i] ∧ any[i]; returns how many.
    @inline(__always)
    private static func intersect<M: MaskElement>(_ kept: UnsafePointer<M>, _ any: UnsafePointer<UInt8>, row: Int,
                                                  into destination: UnsafeMutablePointer<M>?) -> Int {
        if M.self == UInt8.self {
            return Bytes.and(UnsafeRawPointer(kept), any, count: row, into: destination.map(UnsafeMutableRawPointer.init))
        }
        // Bytes and a bitwise and, not `&&`: the loop vectorises instead of branching per weight.
        var count = 0
        if let destination {
            for i in 0..<row {
                let isEffective = (kept[i].isKept ? 1 : 0) & any[i]
                destination[i] = M(isKept: isEffective != 0)
                count &+= Int(isEffective)
            }
        } else {
            for i in 0..<row { count &+= Int((kept[i].isKept ? 1 : 0) & any[i]) }
        }
        return count
    }

    /// flags[i] |= kept[i].
    @inline(__always)
    private static func mark<M: MaskElement>(_ kept: UnsafePointer<M>, _ flags: UnsafeMutablePointer<UInt8>, row: Int) {
        for i in 0..<row { flags[i] |= kept[i].isKept ? 1 : 0 }
    }

    /// Input channel c: the union over taps k of `gathered[c, k]` carried back to the positions tap k read.
    private func spread() {
        inputGradient.clear()
        let outWords = gathered.wordsPerChannel, inWords = inputGradient.wordsPerChannel
        var moved = [UInt64](repeating: 0, count: inWords)
        for c in 0..<inChannels {
            let destination = inputGradient.channel(c)
            for k in 0..<taps {
                let slot = gathered.channel(c * taps + k), tap = valid.channel(k)
                if gatheredEverywhere[c * taps + k] != 0 || Bits.contains(slot, tap, words: outWords) {
                    Bits.formUnion(destination, read.channel(k), words: inWords)
                } else if Bits.isEmpty(slot, words: outWords) {
                    continue
                } else if let offsets {
                    for i in 0..<outWords { slot[i] &= tap[i] }
                    moved.withUnsafeMutableBufferPointer { moved in
                        Bits.shift(slot, srcWords: outWords, by: -offsets[k], into: moved.baseAddress!, dstWords: inWords)
                        Bits.formUnion(destination, moved.baseAddress!, words: inWords)
                    }
                } else {
                    source.withUnsafeBufferPointer { source in
                        let base = k * outPositions
                        for p in 0..<outPositions where Bits.test(slot, p) {
                            let q = Int(source[base + p])
                            if q >= 0 { Bits.set(destination, q) }
                        }
                    }
                }
            }
        }
    }
}

/// A convolution's window on one sample: `ConvolutionGeometry` with dilation and the output extent
/// given (ONNX graphs dilate; the engine's layers do not).
struct ReachWindow {
    var inChannels: Int, outChannels: Int, groups: Int
    var inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int
    var kernelHeight: Int, kernelWidth: Int
    var strideHeight = 1, strideWidth = 1, dilationHeight = 1, dilationWidth = 1
    var padTop = 0, padLeft = 0

    init(_ g: ConvolutionGeometry) {
        inChannels = g.inChannels; outChannels = g.outChannels; groups = g.groups
        inHeight = g.inHeight; inWidth = g.inWidth; outHeight = g.outHeight; outWidth = g.outWidth
        kernelHeight = g.kernelHeight; kernelWidth = g.kernelWidth
        strideHeight = g.strideHeight; strideWidth = g.strideWidth
        padTop = g.padTop; padLeft = g.padLeft
    }

    init(inChannels: Int, outChannels: Int, groups: Int, inHeight: Int, inWidth: Int, outHeight: Int, outWidth: Int,
         kernelHeight: Int, kernelWidth: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels; self.groups = groups
        self.inHeight = inHeight; self.inWidth = inWidth; self.outHeight = outHeight; self.outWidth = outWidth
        self.kernelHeight = kernelHeight; self.kernelWidth = kernelWidth
    }
}

/// Byte masks (each byte 0 or 1) eight at a time.
enum Bytes {
    /// destination[i] = a[i] & b[i] over `count` 0/1 bytes; returns the number of ones.
    static func and(_ a: UnsafeRawPointer, _ b: UnsafePointer<UInt8>, count: Int, into destination: UnsafeMutableRawPointer?) -> Int {
        var ones = 0, i = 0
        while i + 8 <= count {
            let word = a.loadUnaligned(fromByteOffset: i, as: UInt64.self) & UnsafeRawPointer(b).loadUnaligned(fromByteOffset: i, as: UInt64.self)
            destination?.storeBytes(of: word, toByteOffset: i, as: UInt64.self)
            ones &+= sum(word)
            i += 8
        }
        while i < count {
            let byte = a.load(fromByteOffset: i, as: UInt8.self) & b[i]
            destination?.storeBytes(of: byte, toByteOffset: i, as: UInt8.self)
            ones &+= Int(byte)
            i += 1
        }
        return ones
    }

    /// The number of ones among `count` 0/1 bytes.
    static func ones(_ p: UnsafePointer<UInt8>, count: Int) -> Int {
        let raw = UnsafeRawPointer(p)
        var ones = 0, i = 0
        while i + 8 <= count {
            ones &+= sum(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        while i < count {
            ones &+= Int(p[i])
            i += 1
        }
        return ones
    }

    /// The sum of a word's eight bytes when it is at most 255 (0/1 bytes: at most 8): the
    /// multiplication adds every byte into the top one.
    @inline(__always)
    static func sum(_ word: UInt64) -> Int { Int((word &* 0x0101_0101_0101_0101) >> 56) }
}

/// Max, average and global pooling: a unit is reached if any in-bounds unit of its window is, and
/// reaches the output if any window containing it does (padding carries no path).
final class ReachPooling: ReachNode {
    private let geometry: PoolingGeometry
    private let output: ReachMap, inputGradient: ReachMap
    /// The output positions whose window holds an in-bounds position, and the input positions some window covers.
    private let reachable: ReachMap, covered: ReachMap

    init(geometry: PoolingGeometry) {
        var g = geometry
        g.batch = 1
        self.geometry = g
        output = ReachMap(channels: g.channels, height: g.outHeight, width: g.outWidth)
        inputGradient = ReachMap(channels: g.channels, height: g.inHeight, width: g.inWidth)
        reachable = ReachMap(channels: 1, height: g.outHeight, width: g.outWidth)
        covered = ReachMap(channels: 1, height: g.inHeight, width: g.inWidth)
        super.init()
        for oy in 0..<g.outHeight {
            for ox in 0..<g.outWidth {
                let (y0, y1, x0, x1) = window(oy, ox)
                guard y0 < y1, x0 < x1 else { continue }
                Bits.set(reachable.words, oy * g.outWidth + ox)
                for y in y0..<y1 { for x in x0..<x1 { Bits.set(covered.words, y * g.inWidth + x) } }
            }
        }
    }

    @inline(__always)
    private func window(_ oy: Int, _ ox: Int) -> (y0: Int, y1: Int, x0: Int, x1: Int) {
        let g = geometry
        let top = oy * g.strideHeight - g.padTop, left = ox * g.strideWidth - g.padLeft
        return (max(top, 0), min(top + g.kernelHeight, g.inHeight), max(left, 0), min(left + g.kernelWidth, g.inWidth))
    }

    override func forward(_ x: ReachMap, _ context: ReachContext) -> ReachMap {
        let g = geometry
        output.clear()
        for c in 0..<g.channels {
            let source = x.channel(c), destination = output.channel(c)
            if Bits.isEmpty(source, words: x.wordsPerChannel) { continue }
            if x.isFull(c) {
                destination.update(from: reachable.words, count: output.wordsPerChannel)
                continue
            }
            for oy in 0..<g.outHeight {
                for ox in 0..<g.outWidth {
                    let (y0, y1, x0, x1) = window(oy, ox)
                    search: for y in y0..<y1 {
                        for x in x0..<x1 where Bits.test(source, y * g.inWidth + x) {
                            Bits.set(destination, oy * g.outWidth + ox)
                            break search
                        }
                    }
                }
            }
        }
        return output
    }

    override func backward(_ gradient: ReachMap, _ context: ReachContext, needsInputGradient: Bool) -> ReachMap? {
        guard needsInputGradient else { return nil }
        let g = geometry
        inputGradient.clear()
        for c in 0..<g.channels {
            let source = gradient.channel(c), destination = inputGradient.channel(c)
            if Bits.isEmpty(source, words: gradient.wordsPerChannel) { continue }
            if Bits.contains(source, reachable.words, words: gradient.wordsPerChannel) {
                destination.update(from: covered.words, count: inputGradient.wordsPerChannel)
                continue
            }
            for oy in 0..<g.outHeight {
                for ox in 0..<g.outWidth where Bits.test(source, oy * g.outWidth + ox) {
                    let (y0, y1, x0, x1) = window(oy, ox)
                    for y in y0..<y1 { for x in x0..<x1 { Bits.set(destination, y * g.inWidth + x) } }
                }
            }
        }
        return inputGradient
    }
}

/// [C, H, W] → C·H·W features of one position each, in C, H, W order (as the dense layer reads them).
final class ReachFlatten: ReachNode {
    private let output: ReachMap, inputGradient: ReachMap

    init(channels: Int, height: Int, width: Int) {
        output = ReachMap(channels: channels * height * width, height: 1, width: 1)
        inputGradient = ReachMap(channels: channels, height: height, width: width)
    }

    override func forward(_ x: ReachMap, _ context: ReachContext) -> ReachMap {
        let positions = x.positions
        for c in 0..<x.channels {
            let source = x.channel(c)
            for p in 0..<positions { output.words[c * positions + p] = Bits.test(source, p) ? 1 : 0 }
        }
        return output
    }

    override func backward(_ g: ReachMap, _ context: ReachContext, needsInputGradient: Bool) -> ReachMap? {
        guard needsInputGradient else { return nil }
        inputGradient.clear()
        let positions = inputGradient.positions
        for c in 0..<inputGradient.channels {
            let destination = inputGradient.channel(c)
            for p in 0..<positions where g.words[c * positions + p] != 0 { Bits.set(destination, p) }
        }
        return inputGradient
    }
}

/// body(x) ∪ shortcut(x): paths from either side join.
final class ReachResidual: ReachNode {
    private let body: ReachSequence, shortcut: ReachSequence?
    private let output: ReachMap, inputGradient: ReachMap

    init(body: ReachSequence, shortcut: ReachSequence?, inputShape: [Int], outputShape: [Int]) throws {
        self.body = body
        self.shortcut = shortcut
        output = try ReachMap(shape: outputShape)
        inputGradient = try ReachMap(shape: inputShape)
    }

    override var carriesWeights: Bool { body.carriesWeights || (shortcut?.carriesWeights ?? false) }

    override func forward(_ x: ReachMap, _ context: ReachContext) -> ReachMap {
        let main = body.forward(x, context)
        let side = shortcut?.forward(x, context) ?? x
        let count = output.channels * output.wordsPerChannel
        for i in 0..<count { output.words[i] = main.words[i] | side.words[i] }
        return output
    }

    override func backward(_ g: ReachMap, _ context: ReachContext, needsInputGradient: Bool) -> ReachMap? {
        let main = body.backward(g, context, needsInputGradient: needsInputGradient)
        let side = shortcut.map { $0.backward(g, context, needsInputGradient: needsInputGradient) } ?? g
        guard needsInputGradient, let main, let side else { return nil }
        let count = inputGradient.channels * inputGradient.wordsPerChannel
        for i in 0..<count { inputGradient.words[i] = main.words[i] | side.words[i] }
        return inputGradient
    }
}

/// Turns a layer tree into reach nodes, tracking batch-1 shapes.
struct ReachBuilder {
    private(set) var layers: PrunableLayerNumbers

    mutating func sequence(_ sequential: Sequential, inputShape: [Int]) throws -> (node: ReachSequence, shape: [Int]) {
        var shape = inputShape
        var nodes: [ReachNode] = []
        for layer in sequential.layers {
            let (layerNodes, next) = try self.nodes(layer, inputShape: shape)
            nodes += layerNodes
            shape = next
        }
        return (ReachSequence(nodes), shape)
    }

    private mutating func nodes(_ layer: any Layer, inputShape: [Int]) throws -> ([ReachNode], [Int]) {
        let outputShape = try layer.outputShape(for: inputShape)
        switch layer {
        case let sequential as Sequential:
            let (node, shape) = try sequence(sequential, inputShape: inputShape)
            return ([node], shape)
        case let residual as Residual:
            let body = try sequence(residual.body, inputShape: inputShape).node
            let shortcut = try residual.shortcut.map { try sequence($0, inputShape: inputShape).node }
            return ([try ReachResidual(body: body, shortcut: shortcut, inputShape: inputShape, outputShape: outputShape)], outputShape)
        case let linear as Linear:
            let dense = ReachConvolution(index: try layers.number(of: linear), inFeatures: linear.inFeatures, outFeatures: linear.outFeatures)
            // A dense layer reads a [1, C, H, W] input as its C·H·W values in order.
            if inputShape.count == 4, inputShape[2] * inputShape[3] > 1 {
                return ([ReachFlatten(channels: inputShape[1], height: inputShape[2], width: inputShape[3]), dense], outputShape)
            }
            return ([dense], outputShape)
        case let conv as Conv2d:
            return ([ReachConvolution(index: try layers.number(of: conv), geometry: try conv.geometry(for: inputShape))], outputShape)
        case let pool as Pool2d:
            return ([ReachPooling(geometry: try pool.geometry(for: inputShape))], outputShape)
        case is Flatten:
            // Features of one position each are already flat.
            guard inputShape.count == 4, inputShape[2] * inputShape[3] > 1 else { return ([ReachNode()], outputShape) }
            return ([ReachFlatten(channels: inputShape[1], height: inputShape[2], width: inputShape[3])], outputShape)
        case is BatchNorm, is ReLU:
            return ([ReachNode()], outputShape)
        default:
            throw PruningError.unsupported("effective masks do not know layer \(layer.description)")
        }
    }
}
