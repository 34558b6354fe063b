// strata-bench: Strata's speed and size against the physical limits, each scenario beside its
// baseline in the same run (these machines are noisy: absolute times vary, ratios hold).
//
//   swift build -c release --product strata-bench && .build/release/strata-bench [options] [scenario ...]
//   Tools/bench/run.sh            the whole suite (release), a table, JSON and the plot
//
// Scenarios: write, merge, first-sync, incremental-sync, cli, load, attach. Options: --size N (records,
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
    case "first-sync": try await firstSyncScenario()
    case "incremental-sync": try await incrementalScenario()
    case "cli": try cliScenario()
    case "load": try await loadScenario()
    case "attach": try attachScenario()
    case "server-storage": try await serverStorageScenario()
    default: break
    }
}
