import Testing
import Tensors
@testable import Datasets

@Suite struct AugmentationTests {
    /// A 2-channel 3x4 image whose value is `100 * c + 10 * y + x + 1` (never zero).
    static let shape = [2, 3, 4]
    static let image: [Float] = {
        var pixels: [Float] = []
        for c in 0..<2 { for y in 0..<3 { for x in 0..<4 { pixels.append(Float(100 * c + 10 * y + x + 1)) } } }
        return pixels
    }()

    static func value(_ pixels: [Float], c: Int, y: Int, x: Int) -> Float { pixels[(c * 3 + y) * 4 + x] }

    @Test func identityCopies() {
        #expect(Augmentation.apply(.identity, to: Self.image, sampleShape: Self.shape) == Self.image)
    }

    @Test func flipMirrorsEveryRow() {
        let flipped = Augmentation.apply(Augmentation.Transform(flip: true), to: Self.image, sampleShape: Self.shape)
        for c in 0..<2 { for y in 0..<3 { for x in 0..<4 {
            #expect(Self.value(flipped, c: c, y: y, x: x) == Float(100 * c + 10 * y + (3 - x) + 1))
        } } }
    }

    @Test(arguments: [(1, 0), (-1, 0), (0, 1), (0, -2), (2, 1), (-3, -1), (4, 0), (0, 3), (-5, 7)])
    func shiftMovesContentAndZeroFills(shiftX: Int, shiftY: Int) {
        let shifted = Augmentation.apply(Augmentation.Transform(shiftX: shiftX, shiftY: shiftY), to: Self.image, sampleShape: Self.shape)
        for c in 0..<2 { for y in 0..<3 { for x in 0..<4 {
            let sourceX = x - shiftX, sourceY = y - shiftY
            let inside = (0..<4).contains(sourceX) && (0..<3).contains(sourceY)
            let expected: Float = inside ? Float(100 * c + 10 * sourceY + sourceX + 1) : 0
            #expect(Self.value(shifted, c: c, y: y, x: x) == expected, "c \(c) y \(y) x \(x)")
        } } }
    }

    @Test func shiftRightByOneOnAHandMadeImage() {
        let row: [Float] = [1, 2, 3, 4, 5, 6, 7, 8, 9]
        let shifted = Augmentation.apply(Augmentation.Transform(shiftX: 1), to: row, sampleShape: [1, 3, 3])
        #expect(shifted == [0, 1, 2, 0, 4, 5, 0, 7, 8])
        let down = Augmentation.apply(Augmentation.Transform(shiftY: 1), to: row, sampleShape: [1, 3, 3])
        #expect(down == [0, 0, 0, 1, 2, 3, 4, 5, 6])
        let flippedLeft = Augmentation.apply(Augmentation.Transform(shiftX: -1, flip: true), to: row, sampleShape: [1, 3, 3])
        #expect(flippedLeft == [2, 1, 0, 5, 4, 0, 8, 7, 0])
    }

    @Test func flipThenShiftCombine() {
        let both = Augmentation.apply(Augmentation.Transform(shiftX: 1, shiftY: -1, flip: true), to: Self.image, sampleShape: Self.shape)
        let flipped = Augmentation.apply(Augmentation.Transform(flip: true), to: Self.image, sampleShape: Self.shape)
        let expected = Augmentation.apply(Augmentation.Transform(shiftX: 1, shiftY: -1), to: flipped, sampleShape: Self.shape)
        #expect(both == expected)
    }

    @Test func drawsStayInRangeAndCoverAllShiftsAndFlips() {
        var generator = RandomGenerator(seed: 7, stream: "test")
        var shifts = Set<Int>(), flips = Set<Bool>()
        for _ in 0..<2000 {
            let transform = Augmentation.cifar.draw(using: &generator)
            #expect((-4...4).contains(transform.shiftX) && (-4...4).contains(transform.shiftY))
            shifts.insert(transform.shiftX)
            flips.insert(transform.flip)
        }
        #expect(shifts == Set(-4...4))
        #expect(flips == [true, false])
        #expect(Augmentation.none.draw(using: &generator) == .identity)
        #expect(Augmentation.none.isIdentity && !Augmentation.cifar.isIdentity)
        #expect(Augmentation.cifar == Augmentation(maxShift: 4, horizontalFlip: true))
    }
}
