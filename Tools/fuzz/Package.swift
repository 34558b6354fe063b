// swift-tools-version:6.2
// libFuzzer targets for every Strata decoder. Build and run with Tools/fuzz/run.sh, which passes
// --sanitize=fuzzer (and address) so the decoders themselves are instrumented, not just the
// harness. Each executable defines LLVMFuzzerTestOneInput; libFuzzer supplies main.
import PackageDescription

let targets = [
    "fuzz-changeset", "fuzz-bundle", "fuzz-change", "fuzz-recordstate", "fuzz-pullrequest", "fuzz-pullresponse",
    "fuzz-textdocument", "fuzz-exif",
]

let package = Package(
    name: "StrataFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "Strata", path: "../..")],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [
                .product(name: "StrataCore", package: "Strata"), .product(name: "StrataCodec", package: "Strata"),
            ]
        )
    ]
        + targets.map {
            .executableTarget(name: $0, dependencies: ["FuzzSupport"], swiftSettings: [.unsafeFlags(["-parse-as-library"])])
        },
    swiftLanguageModes: [.v6]
)
