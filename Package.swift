// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "Strata",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "strata", targets: ["strata"]),
        .library(name: "StrataCore", targets: ["StrataCore"]),
        .library(name: "StrataCodec", targets: ["StrataCodec"]),
        .library(name: "StrataStore", targets: ["StrataStore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based", exact: "2.0.1"),
    ],
    targets: [
        // System zlib, used only by the codec.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Pure core: identifiers, clocks, version vectors, registers, sets, merge. No I/O.
        .target(name: "StrataCore"),
        // The only code that knows the change-set bytes.
        .target(name: "StrataCodec", dependencies: ["StrataCore", "CZlib"]),
        // The replica: SQLite through GRDB.
        .target(
            name: "StrataStore",
            dependencies: [
                "StrataCore", "StrataCodec",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        // The terminal client's commands (a library so tests can drive them).
        .target(
            name: "StrataCLI",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "strata", dependencies: ["StrataCLI"]),
        // Helpers shared by the test targets: seeded RNG, random edit schedules, temp stores.
        .target(name: "StrataTestSupport", dependencies: ["StrataCore", "StrataCodec", "StrataStore"]),
        .testTarget(
            name: "StrataCoreTests",
            dependencies: [
                "StrataCore", "StrataTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "StrataCodecTests", dependencies: ["StrataCore", "StrataCodec"]),
        .testTarget(
            name: "StrataStoreTests",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore", "StrataTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "StrataCLITests", dependencies: ["strata", "StrataCLI", "StrataTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
