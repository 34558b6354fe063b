// swift-tools-version:6.2
import PackageDescription
let package = Package(name: "write-bench", platforms: [.macOS(.v14)],
  dependencies: [.package(name: "Strata", path: "../.."), .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0")],
  targets: [.executableTarget(name: "write-bench", dependencies: [.product(name: "StrataStore", package: "Strata"), .product(name: "StrataCore", package: "Strata"), .product(name: "GRDB", package: "GRDB.swift")])])
