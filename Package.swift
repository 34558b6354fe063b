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
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", exact: "2.1.1"),
    ],
    targets: [
        // System zlib, used only by the codec (not "CZlib": ZIPFoundation has a module of that name).
        .systemLibrary(
            name: "CStrataZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Pure core: identifiers, clocks, version vectors, registers, sets, merge. No I/O.
        .target(name: "StrataCore"),
        // The only code that knows the change-set bytes.
        .target(name: "StrataCodec", dependencies: ["StrataCore", "CStrataZlib"]),
        // The replica: SQLite through GRDB, and its blobs (files named by SHA-256, swift-crypto).
        .target(
            name: "StrataStore",
            dependencies: [
                "StrataCore", "StrataCodec",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The sync protocol's server side: projects, tokens, the HTTP endpoints (Hummingbird).
        .target(
            name: "StrataServer",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // The team server's storage on PostgreSQL (postgres-nio): several servers on one database.
        .target(
            name: "StrataPostgres",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore", "StrataServer",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Records as people read them and as every `--json` prints them: the CLI and the web
        // view present records through this one target.
        .target(name: "StrataJSON", dependencies: ["StrataCore", "StrataStore"]),
        // The home team's read-only web view: pages through Mustache templates, sessions,
        // the map (Leaflet from the system), served by `strata serve` and `strata web`.
        .target(
            name: "StrataWeb",
            dependencies: [
                "StrataCore", "StrataStore", "StrataJSON", "StrataServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The sync protocol's client side (AsyncHTTPClient).
        .target(
            name: "StrataSync",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The terminal client's commands (a library so tests can drive them).
        .target(
            name: "StrataCLI",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore", "StrataServer", "StrataPostgres", "StrataSync", "StrataJSON",
                "StrataWeb",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),
        .executableTarget(name: "strata", dependencies: ["StrataCLI"]),
        // The benchmark suite (Tools/bench/run.sh builds it in release; CI builds it and runs
        // a tiny size so it cannot rot).
        .executableTarget(
            name: "strata-bench",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore", "StrataServer", "StrataPostgres", "StrataSync", "StrataSyncTesting", "CStrataZlib",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/bench/Sources/strata-bench"
        ),
        // Helpers shared by the test targets: seeded RNG, random edit schedules, temp stores.
        .target(name: "StrataTestSupport", dependencies: ["StrataCore", "StrataCodec", "StrataStore"]),
        // Sync test helpers: the in-process transport (the server's service behind a function
        // call), counting and cutting transports, servers on loopback, teams of tokens.
        .target(
            name: "StrataSyncTesting",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore", "StrataServer", "StrataPostgres", "StrataSync", "StrataTestSupport",
                "StrataWeb",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // Headless Chromium over its DevTools protocol (a pipe, no port): the browser tests.
        .target(name: "StrataBrowserTesting"),
        .testTarget(
            name: "StrataCoreTests",
            dependencies: [
                "StrataCore", "StrataTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "StrataCodecTests",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataTestSupport", .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "StrataStoreTests",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore", "StrataTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "StrataSyncTests",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore", "StrataServer", "StrataPostgres", "StrataSync", "StrataTestSupport",
                "StrataSyncTesting",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "StrataCLITests",
            dependencies: [
                "strata", "strata-bench", "StrataCLI", "StrataCore", "StrataCodec", "StrataStore", "StrataJSON", "StrataServer", "StrataPostgres", "StrataSync",
                "StrataTestSupport", "StrataSyncTesting", "StrataBrowserTesting",
            ]
        ),
        .testTarget(
            name: "StrataWebTests",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataStore", "StrataServer", "StrataJSON", "StrataWeb", "StrataTestSupport",
                "StrataSyncTesting",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "StrataTextTests",
            dependencies: [
                "StrataCore", "StrataCodec", "StrataTestSupport", .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            exclude: ["Traces"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
