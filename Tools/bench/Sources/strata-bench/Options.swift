// strata-bench's command line: scenarios and options (see main.swift).
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

struct Options: Sendable {
    var size = 100_000
    var repeats = 3
    var json = false
    var strataBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("strata").path
    var scenarios: [String] = []
    static let all = ["write", "merge", "merge-populated", "first-sync", "incremental-sync", "cli", "load", "attach", "server-storage", "push-memory"]
    /// Photos attached in the `attach` scenario, and their size (default: 3-5 MB each, random).
    var photos = 200
    var photoBytes: Int?
    /// Clients syncing at once in the `load` scenario, and for how long.
    var clients = 50
    var loadSeconds = 20.0
    /// Inflated size of the push in the `push-memory` scenario, in MB.
    var pushMegabytes = 10.9

    static func parse() -> Options {
        var o = Options()
        var args = CommandLine.arguments.dropFirst()[...]
        func value(_ name: String) -> String {
            guard let v = args.popFirst() else { fail("\(name) needs a value") }
            return v
        }
        while let a = args.popFirst() {
            switch a {
            case "--size":
                guard let n = Int(value(a)) else { fail("--size takes a number of records, e.g. --size 100000") }
                o.size = n
            case "--repeat":
                guard let n = Int(value(a)) else { fail("--repeat takes a count, e.g. --repeat 3") }
                o.repeats = max(1, n)
            case "--json": o.json = true
            case "--clients":
                guard let n = Int(value(a)), n >= 1 else { fail("--clients takes a count, e.g. --clients 50") }
                o.clients = n
            case "--seconds":
                guard let n = Double(value(a)), n > 0 else { fail("--seconds takes a duration, e.g. --seconds 20") }
                o.loadSeconds = n
            case "--strata": o.strataBinary = value(a)
            case "--push-mb":
                guard let n = Double(value(a)), n > 0, n <= 32 else { fail("--push-mb takes a size in MB up to 32, e.g. --push-mb 10.9") }
                o.pushMegabytes = n
            case "--photos":
                guard let n = Int(value(a)), n >= 1 else { fail("--photos takes a count, e.g. --photos 200") }
                o.photos = n
            case "--photo-bytes":
                guard let n = Int(value(a)), n >= 3 else { fail("--photo-bytes takes a size in bytes, e.g. --photo-bytes 4000000") }
                o.photoBytes = n
            case "-h", "--help":
                print("usage: strata-bench [--size N] [--repeat R] [--json] [--strata PATH] [--clients C] [--seconds S] [--photos N] [--photo-bytes B] [--push-mb MB] [\(all.joined(separator: "|")) ...]")
                exit(0)
            default:
                guard all.contains(a) else { fail("unknown scenario '\(a)'; scenarios: \(all.joined(separator: ", "))") }
                o.scenarios.append(a)
            }
        }
        if o.scenarios.isEmpty { o.scenarios = all }
        guard o.size >= 10 else { fail("--size must be at least 10") }
        return o
    }
}
