// swift-tools-version:6.0
import PackageDescription

// Dependencies point one way only (see ../shared/DESIGN.md):
// CKernels, GGUF ← Tokenization, Templates, Runtime ← Engine;
// HTTPServer (knows no models); Engine, HTTPServer, Templates ← OpenAIAPI ← martlet.
let package = Package(
    name: "Martlet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "martlet", targets: ["martlet"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
        .target(name: "GGUF"),
        .target(name: "Tokenization", dependencies: ["GGUF"]),
        .target(name: "JSON"),
        .target(name: "Templates", dependencies: ["JSON"]),
        .target(name: "Runtime", dependencies: ["CKernels", "GGUF"]),
        .target(name: "Engine", dependencies: ["CKernels", "Runtime", "Tokenization"]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CEpoll"),  // <sys/epoll.h>, which Glibc's module leaves out
        .target(name: "HTTPServer", dependencies: ["CZlib", "COpenSSL", "CEpoll"]),
        .target(name: "OpenAIAPI", dependencies: ["HTTPServer", "Engine", "JSON", "Templates", "Tokenization"]),
        .executableTarget(
            name: "martlet",
            dependencies: [
                "CKernels", "GGUF", "JSON", "Tokenization", "Templates", "Runtime", "Engine", "HTTPServer", "OpenAIAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),

        // Test support: a GGUF writer that builds valid and deliberately broken files, and the
        // paths of the shared fixtures and the fetched models.
        .target(name: "TestSupport", dependencies: ["GGUF", "Runtime"]),

        .testTarget(name: "CKernelsTests", dependencies: ["CKernels"]),
        .testTarget(name: "GGUFTests", dependencies: ["GGUF", "TestSupport"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "TemplatesTests", dependencies: ["Templates", "JSON", "TestSupport", "Tokenization", "GGUF"], exclude: ["Data"]),
        .testTarget(name: "TokenizationTests", dependencies: ["Tokenization", "GGUF", "TestSupport"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "GGUF", "TestSupport", "CKernels"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Runtime", "Tokenization", "GGUF", "TestSupport"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "TestSupport"]),
        .testTarget(name: "OpenAIAPITests", dependencies: ["OpenAIAPI", "HTTPServer", "Engine", "Runtime", "Templates", "Tokenization", "GGUF", "JSON", "TestSupport"]),
        .testTarget(name: "MartletCLITests", dependencies: ["martlet", "GGUF", "JSON", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
