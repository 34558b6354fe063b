// swift-tools-version:6.2
// Benchmark of Strata's text CRDT on the editing traces (release build): see run.sh.
import PackageDescription

let package = Package(
    name: "text-bench",
    dependencies: [.package(name: "Strata", path: "../..")],
    targets: [
        .executableTarget(
            name: "text-bench",
            dependencies: [.product(name: "StrataCore", package: "Strata"), .product(name: "StrataCodec", package: "Strata")],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]
        )
    ],
    swiftLanguageModes: [.v6]
)
