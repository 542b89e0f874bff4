import NeuralNet
import Testing

@Suite struct LayerNamesTests {
    @Test func namesNumberConvolutionsAndDenseLayersSeparatelyInCanonicalOrder() throws {
        #expect(try ModelZoo.make("lenet300-100").prunableLayerNames == ["fc1", "fc2", "fc3"])
        #expect(try ModelZoo.make("lenet5").prunableLayerNames == ["conv1", "conv2", "fc1", "fc2", "fc3"])
        let resnet20 = try ModelZoo.make("resnet20").prunableLayerNames
        #expect(resnet20.count == 22 && resnet20.last == "fc1" && Set(resnet20).count == resnet20.count)
    }
}
