// Replays the editing traces (github.com/josephg/editing-traces by Joseph Gentle, CC BY 4.0;
// copies in Tests/StrataTextTests/Traces/) through Strata's TextDocument and prints, per trace:
// replay time, peak RSS growth, encoded size (raw and after zlib level 9), load time. A
// concurrent trace (friendsforever) is merged into a fresh replica delivered causally, replica
// by replica and shuffled, and prints the time of each.
// Usage: text-bench [--traces DIR] [--json] [--load-rounds N] [trace ...]

import Foundation
import StrataCodec
import StrataCore
#if canImport(Glibc)
    import Glibc
#endif

/// Returns freed heap to the OS (glibc malloc_trim), so RSS growth measures live memory.
func trimHeap() {
    typealias Trim = @convention(c) (Int) -> Int32
    if let sym = dlsym(nil, "malloc_trim")  // RTLD_DEFAULT
    {
        _ = unsafeBitCast(sym, to: Trim.self)(0)
    }
}

func rssKB(_ field: String) -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}

/// Resets the peak-RSS counter (Linux: write 5 to /proc/self/clear_refs).
func resetPeak() { try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8) }

func run(_ exe: String, _ args: [String], stdin: Data? = nil) throws -> Data {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: exe)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    let inPipe = Pipe()
    if stdin != nil { p.standardInput = inPipe }
    try p.run()
    if let stdin {
        inPipe.fileHandleForWriting.write(stdin)
        try inPipe.fileHandleForWriting.close()
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return data
}

func zlibSize(_ bytes: [UInt8]) throws -> Int {
    let out = try run("/usr/bin/env", ["python3", "-c", "import sys,zlib; print(len(zlib.compress(sys.stdin.buffer.read(), 9)))"], stdin: Data(bytes))
    return Int(String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
}

struct Patch { let pos: Int; let del: Int; let text: String }

var args = Array(CommandLine.arguments.dropFirst())
var dir = "../../Tests/StrataTextTests/Traces"
var json = false
func usage(_ problem: String? = nil) -> Never {
    if let problem { FileHandle.standardError.write(Data("text-bench: \(problem)\n".utf8)) }
    print("usage: text-bench [--traces DIR] [--json] [--load-rounds N] [trace ...]   (traces: names of DIR/NAME.json.gz)")
    exit(problem == nil ? 0 : 2)
}
if args.contains("--help") || args.contains("-h") { usage() }
if let i = args.firstIndex(of: "--traces") {
    guard i + 1 < args.count else { usage("--traces takes a directory, e.g. --traces Tests/StrataTextTests/Traces") }
    dir = args[i + 1]
    args.removeSubrange(i...i + 1)
}
if let i = args.firstIndex(of: "--json") { json = true; args.remove(at: i) }
/// How many times to load each encoded document (the best is printed); raise it to profile loading.
var loadRounds = 10
if let i = args.firstIndex(of: "--load-rounds") {
    guard i + 1 < args.count, let n = Int(args[i + 1]), n > 0 else { usage("--load-rounds takes a positive count, e.g. --load-rounds 500") }
    loadRounds = n
    args.removeSubrange(i...i + 1)
}
if let bad = args.first(where: { $0.hasPrefix("-") }) { usage("unknown option \(bad)") }
let names = args.isEmpty ? ["automerge-paper", "rustcode", "sveltecomponent", "friendsforever_flat"] : args
for name in names where !FileManager.default.fileExists(atPath: "\(dir)/\(name).json.gz") {
    usage("no trace \(dir)/\(name).json.gz")
}
let me = ReplicaID(high: 0x1234, low: 0x5678)

func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }

/// A seeded generator (SplitMix64), so a shuffled delivery is the same in every run.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A concurrent trace (friendsforever): each agent makes its transactions on the state after
/// their parents (fork there, edit locally), which gives every transaction's operations. Then a
/// fresh replica merges all of them delivered three ways: causally (transaction order), replica
/// by replica (each agent's operations in counter order, as a sync sends them) and fully
/// shuffled (seeded), and the first half of the history shuffled (how the time grows). Prints
/// the merge time of each, best of 3.
@MainActor func concurrent(_ name: String, _ obj: [String: Any]) throws {
    let end = obj["endContent"] as! String
    let txns = obj["txns"] as! [[String: Any]]
    let agents = (obj["numAgents"] as! NSNumber).intValue
    let ids = (0..<agents).map { ReplicaID(high: 0xA, low: UInt64($0) + 1) }
    var docs = [TextDocument](repeating: TextDocument(), count: agents)
    var applied = [[Bool]](repeating: [Bool](repeating: false, count: txns.count), count: agents)
    var txnOps = [[TextOperation]](repeating: [], count: txns.count)
    var agentOf: [Int] = []
    var parentsOf: [[Int]] = []
    for (i, txn) in txns.enumerated() {
        parentsOf.append((txn["parents"] as! [NSNumber]).map(\.intValue))
        let a = (txn["agent"] as! NSNumber).intValue
        agentOf.append(a)
        var missing: [Int] = []
        var stack = parentsOf[i]
        var seen = Set<Int>()
        while let t = stack.popLast() {
            guard !applied[a][t], seen.insert(t).inserted else { continue }
            missing.append(t)
            stack.append(contentsOf: parentsOf[t])
        }
        for t in missing.sorted() {
            try docs[a].apply(txnOps[t])
            applied[a][t] = true
        }
        for p in txn["patches"] as! [[Any]] {
            let pos = (p[0] as! NSNumber).intValue
            let del = (p[1] as! NSNumber).intValue
            let text = p[2] as! String
            if del > 0, let op = docs[a].delete(range: pos..<pos + del, replica: ids[a]) { txnOps[i].append(op) }
            if !text.isEmpty, let op = docs[a].insert(text, at: pos, replica: ids[a]) { txnOps[i].append(op) }
        }
        applied[a][i] = true
    }
    let causal = txnOps.flatMap { $0 }
    let byReplica = (0..<agents).flatMap { a in txns.indices.filter { agentOf[$0] == a }.flatMap { txnOps[$0] } }
    var rng = SplitMix(state: 7)
    let shuffled = causal.shuffled(using: &rng)
    // The first half of the history, shuffled: against the whole, it shows how the time grows.
    let half = Array(causal.prefix(causal.count / 2)).shuffled(using: &rng)
    var halfDoc = TextDocument()
    try halfDoc.apply(causal.prefix(causal.count / 2))
    let halfEnd = halfDoc.string
    var times: [(String, Double)] = []
    for (order, ops) in [("causal", causal), ("by-replica", byReplica), ("shuffled", shuffled), ("shuffled-half", half)] {
        var best = Duration.seconds(1000)
        for _ in 0..<3 {
            let clock = ContinuousClock()
            let t0 = clock.now
            var d = TextDocument()
            try d.apply(ops)
            best = min(best, clock.now - t0)
            precondition(d.string == (ops.count == half.count ? halfEnd : end) && d.pendingOperations.isEmpty, "\(name) \(order): merge differs from endContent")
        }
        times.append((order, ms(best)))
    }
    if json {
        let fields = times.map { "\"merge_\($0.0.replacingOccurrences(of: "-", with: "_"))_ms\":\($0.1)" }.joined(separator: ",")
        print("{\"impl\":\"strata\",\"trace\":\"\(name)\",\"kind\":\"concurrent\",\"operations\":\(causal.count),\(fields)}")
    } else {
        let cols = times.map { String(format: "%@ %8.2f ms (%.2fx)", $0.0, $0.1, $0.1 / times[0].1) }.joined(separator: "  ")
        print(String(format: "%-20@ %7d operations merged: ", name as NSString, causal.count) + cols)
    }
}

for name in names {
    let raw = try run("/bin/gzip", ["-dc", "\(dir)/\(name).json.gz"])
    let obj = try JSONSerialization.jsonObject(with: raw) as! [String: Any]
    if obj["kind"] as? String == "concurrent" {
        try concurrent(name, obj)
        continue
    }
    let end = obj["endContent"] as! String
    var patches: [Patch] = []
    for txn in obj["txns"] as! [[String: Any]] {
        for p in txn["patches"] as! [[Any]] {
            patches.append(Patch(pos: (p[0] as! NSNumber).intValue, del: (p[1] as! NSNumber).intValue, text: p[2] as! String))
        }
    }
    var best = Duration.seconds(1000)
    var growthKB = 0
    var doc = TextDocument()
    for round in 0..<5 {
        trimHeap()
        resetPeak()
        let before = rssKB("VmRSS")
        let clock = ContinuousClock()
        let t0 = clock.now
        var d = TextDocument()
        for p in patches {
            if p.del > 0 { d.delete(range: p.pos..<p.pos + p.del, replica: me) }
            if !p.text.isEmpty { d.insert(p.text, at: p.pos, replica: me) }
        }
        let t = clock.now - t0
        if round == 0 {
            growthKB = rssKB("VmHWM") - before
        }
        best = min(best, t)
        doc = d
    }
    precondition(doc.string == end, "\(name): replay differs from endContent")
    let bytes = TextDocumentCodec.encode(doc)
    if let d = ProcessInfo.processInfo.environment["TEXT_BENCH_DUMP"] {
        try Data(bytes).write(to: URL(fileURLWithPath: "\(d)/\(name).stxt"))
    }
    let z = try zlibSize(bytes)
    var load = Duration.seconds(1000)
    for _ in 0..<loadRounds {
        let clock = ContinuousClock()
        let t0 = clock.now
        let d = try TextDocumentCodec.decode(bytes)
        let t = clock.now - t0
        precondition(d.count == doc.count)
        load = min(load, t)
    }
    if json {
        print("{\"impl\":\"strata\",\"trace\":\"\(name)\",\"edits\":\(patches.count),\"replay_ms\":\(ms(best)),\"mem_growth_kb\":\(growthKB),\"encoded\":\(bytes.count),\"zlib\":\(z),\"load_ms\":\(ms(load))}")
    } else {
        print(String(format: "%-20@ %7d edits  replay %8.2f ms  peak RSS +%6d KB  encoded %8d B  zlib %7d B  load %6.2f ms",
                     name as NSString, patches.count, ms(best), growthKB, bytes.count, z, ms(load)))
    }
}
