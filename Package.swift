// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "prunelab",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "prunelab", targets: ["prunelab"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Datasets", targets: ["Datasets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
    ],
    targets: [
        // oneDNN 2.6 (Debian libdnnl-dev): GEMM, convolution, pooling, batch norm.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // zlib (Debian zlib1g-dev): gzip-compressed IDX files.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // libjpeg (Debian libjpeg-dev, libjpeg-turbo): TinyImageNet's JPEG files.
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", providers: [.apt(["libjpeg-dev"])]),
        // Tiny C helpers Swift cannot express (the SSE control register).
        .target(name: "CSupport", path: "Sources/CSupport"),
        .target(
            name: "Tensors", dependencies: ["CDNNL", "CSupport"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(
            name: "NeuralNet", dependencies: ["Tensors"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(name: "Datasets", dependencies: ["Tensors", "CZlib", "CJPEG"]),
        .executableTarget(
            name: "prunelab",
            dependencies: [
                "NeuralNet", "Datasets", "Tensors",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "Tensors"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Tensors"]),
        .testTarget(name: "prunelabTests", dependencies: ["prunelab"]),
    ]
)
