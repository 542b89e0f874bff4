// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "prunelab",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "prunelab", targets: ["prunelab"]),
        .library(name: "NeuralNet", targets: ["NeuralNet"]),
        .library(name: "Datasets", targets: ["Datasets"]),
        .library(name: "ONNX", targets: ["ONNX"]),
        .library(name: "Pruning", targets: ["Pruning"]),
        .library(name: "Experiments", targets: ["Experiments"]),
        .library(name: "Store", targets: ["Store"]),
        .library(name: "Service", targets: ["Service"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-openapi-generator", from: "1.14.3"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/hummingbird-project/swift-openapi-hummingbird", from: "2.1.0"),
        .package(url: "https://github.com/apple/swift-openapi-urlsession", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // Workers stream checkpoints both ways (URLSession's transport buffers whole bodies on Linux).
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-openapi-async-http-client", from: "1.5.0"),
        // Property tests (generated input, shrunk to the smallest failing case) of the validators.
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // ONNX model files (protobuf); the messages read are generated once from Sources/ONNX/onnx-subset.proto.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        // Tests read the OpenAPI document (the generator depends on Yams already).
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // oneDNN 2.6 (Debian libdnnl-dev): GEMM, convolution, pooling, batch norm.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // zlib (Debian zlib1g-dev): gzip-compressed IDX files.
        .systemLibrary(name: "CGzip", path: "Sources/CGzip", providers: [.apt(["zlib1g-dev"])]),
        // libjpeg (Debian libjpeg-dev, libjpeg-turbo): TinyImageNet's JPEG files.
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", providers: [.apt(["libjpeg-dev"])]),
        // Tiny C helpers Swift cannot express (the SSE control register).
        .target(name: "CSupport", path: "Sources/CSupport"),
        // Files replaced whole or not at all (temporary, fsync, rename): no dependencies, so every module can use it.
        .target(name: "FileSupport"),
        // The figures a run produces (per layer, metrics, the finished run's), shared by engine, store and API: no dependencies.
        .target(name: "Figures"),
        .target(
            name: "Tensors", dependencies: ["CDNNL", "CSupport"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        // NVIDIA's libraries are loaded with dlopen at run time: nothing CUDA is linked.
        .target(
            name: "CUDABackend", dependencies: ["Tensors", "FileSupport"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(
            name: "NeuralNet", dependencies: ["Tensors", "ONNX"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(name: "Datasets", dependencies: ["Tensors", "CGzip", "CJPEG"]),
        // ONNX graphs (any model PyTorch exports): decoded, bounded and checked; no dependency on the engine.
        .target(name: "ONNX", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")], exclude: ["onnx-subset.proto"]),
        .target(
            name: "Pruning", dependencies: ["Figures", "ONNX", "NeuralNet", "Tensors", "FileSupport", "CGzip", .product(name: "ZIPFoundation", package: "ZIPFoundation")],
            swiftSettings: [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]),
        .target(name: "DeviceChecks", dependencies: ["Pruning", "NeuralNet", "Tensors"]),
        .target(
            name: "Experiments",
            dependencies: ["Figures", "Pruning", "ONNX", "Datasets", "NeuralNet", "Tensors", "FileSupport", .product(name: "Crypto", package: "swift-crypto")]),
        // The service's SQLite schema and queries. Migrations are plain SQL files (the top-level
        // `migrations/` links here) embedded in the binary, one line per file.
        .target(
            name: "Store", dependencies: ["Figures", "FileSupport", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto")],
            resources: [.embedInCode("Migrations/0001_initial.sql"), .embedInCode("Migrations/0002_queue_index.sql"),
                        .embedInCode("Migrations/0003_artifacts.sql"), .embedInCode("Migrations/0004_strict.sql"),
                        .embedInCode("Migrations/0005_event_counts.sql"), .embedInCode("Migrations/0006_results_config.sql"),
                        .embedInCode("Migrations/0007_run_changes.sql"), .embedInCode("Migrations/0008_connectivity_points.sql"),
                        .embedInCode("Migrations/0009_models.sql")]),
        // HTTP API, spec-first: Sources/Service/openapi.yaml generates the server types.
        .target(
            name: "Service",
            dependencies: [
                "Figures", "Store", "Experiments", "Pruning", "ONNX", "NeuralNet", "Tensors", "FileSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "OpenAPIHummingbird", package: "swift-openapi-hummingbird"),
                .product(name: "OpenAPIURLSession", package: "swift-openapi-urlsession"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "OpenAPIAsyncHTTPClient", package: "swift-openapi-async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            resources: [.embedInCode("openapi.yaml"), .embedInCode("Public/index.html"), .embedInCode("Public/app.js"),
                        .embedInCode("Public/charts.js"), .embedInCode("Public/style.css")],
            plugins: [.plugin(name: "OpenAPIGenerator", package: "swift-openapi-generator")]),
        .executableTarget(
            name: "prunelab",
            dependencies: [
                "NeuralNet", "Datasets", "Tensors", "CUDABackend", "DeviceChecks", "Figures", "Pruning", "Experiments", "Store", "Service",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        .testTarget(name: "FileSupportTests", dependencies: ["FileSupport"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "CUDABackendTests", dependencies: ["CUDABackend", "DeviceChecks", "Tensors", "NeuralNet", "Pruning", "CDNNL"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "Tensors", "ONNX"]),
        .testTarget(name: "DatasetsTests", dependencies: ["Datasets", "Tensors"]),
        .testTarget(
            name: "PruningTests",
            dependencies: ["Figures", "Pruning", "ONNX", "NeuralNet", "Tensors", "Datasets", .product(name: "PropertyBased", package: "swift-property-based")],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "ExperimentsTests",
            dependencies: ["Figures", "Experiments", "Pruning", "NeuralNet", "Tensors", "Datasets", .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "PropertyBased", package: "swift-property-based")]),
        .testTarget(name: "StoreTests", dependencies: ["Figures", "Store", "FileSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "ServiceTests", dependencies: ["Figures", "Service", "Store", "Experiments",
                                                        .product(name: "PropertyBased", package: "swift-property-based"),
                                                        .product(name: "GRDB", package: "GRDB.swift"),
                                                        .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "prunelabTests", dependencies: ["prunelab"]),
    ]
)
