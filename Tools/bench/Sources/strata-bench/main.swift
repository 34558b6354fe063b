// strata-bench: Strata's speed and size against the physical limits, each scenario beside its
// baseline in the same run (these machines are noisy: absolute times vary, ratios hold).
//
//   swift build -c release --product strata-bench && .build/release/strata-bench [options] [scenario ...]
//   Tools/bench/run.sh            the whole suite (release), a table, JSON and the plot
//
// Scenarios: write, merge, merge-populated, first-sync, incremental-sync, cli, load, attach, server-storage,
// push-memory. Options: --size N (records,
// default 100000), --repeat R (default 3; medians are reported), --json (one JSON object per
// result on stdout), --strata PATH (the strata binary for `cli`; default: next to this one).
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

// A measurement of `push-memory`, run in a process of its own.
if CommandLine.arguments.dropFirst().first == "push-memory-child" {
    try await pushMemoryChild(Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}

let opts = Options.parse()
let size = opts.size
let repeats = opts.repeats

let work = FileManager.default.temporaryDirectory.appendingPathComponent("strata-bench-\(getpid())").path
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: work) }

// MARK: main

for s in opts.scenarios {
    switch s {
    case "write": try writeScenario()
    case "merge": try mergeScenario()
    case "merge-populated": try mergePopulatedScenario()
    case "first-sync": try await firstSyncScenario()
    case "incremental-sync": try await incrementalScenario()
    case "cli": try cliScenario()
    case "load": try await loadScenario()
    case "attach": try attachScenario()
    case "server-storage": try await serverStorageScenario()
    case "push-memory": try await pushMemoryScenario()
    default: break
    }
}
