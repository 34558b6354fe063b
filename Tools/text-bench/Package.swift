// swift-tools-version:6.2
// Benchmark of Strata's text CRDT on the editing traces: see run.sh. Built as the shipped
// binary is (`swift build -c release`: -O, bounds and overflow checks kept), not -Ounchecked.
import PackageDescription

let package = Package(
    name: "text-bench",
    dependencies: [.package(name: "Strata", path: "../..")],
    targets: [
        .executableTarget(
            name: "text-bench",
            dependencies: [.product(name: "StrataCore", package: "Strata"), .product(name: "StrataCodec", package: "Strata")]
        )
    ],
    swiftLanguageModes: [.v6]
)
