// Replays the editing traces (github.com/josephg/editing-traces by Joseph Gentle, CC BY 4.0;
// copies in Tests/StrataTextTests/Traces/) through Strata's TextDocument and prints, per trace:
// replay time, peak RSS growth, encoded size (raw and after zlib level 9), load time.
// Usage: text-bench [--traces DIR] [--json] [trace ...]

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
    print("usage: text-bench [--traces DIR] [--json] [trace ...]   (traces: names of DIR/NAME.json.gz)")
    exit(problem == nil ? 0 : 2)
}
if args.contains("--help") || args.contains("-h") { usage() }
if let i = args.firstIndex(of: "--traces") {
    guard i + 1 < args.count else { usage("--traces takes a directory, e.g. --traces Tests/StrataTextTests/Traces") }
    dir = args[i + 1]
    args.removeSubrange(i...i + 1)
}
if let i = args.firstIndex(of: "--json") { json = true; args.remove(at: i) }
if let bad = args.first(where: { $0.hasPrefix("-") }) { usage("unknown option \(bad)") }
let names = args.isEmpty ? ["automerge-paper", "rustcode", "sveltecomponent", "friendsforever_flat"] : args
for name in names where !FileManager.default.fileExists(atPath: "\(dir)/\(name).json.gz") {
    usage("no trace \(dir)/\(name).json.gz")
}
let me = ReplicaID(high: 0x1234, low: 0x5678)

for name in names {
    let raw = try run("/bin/gzip", ["-dc", "\(dir)/\(name).json.gz"])
    let obj = try JSONSerialization.jsonObject(with: raw) as! [String: Any]
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
    for _ in 0..<10 {
        let clock = ContinuousClock()
        let t0 = clock.now
        let d = try TextDocumentCodec.decode(bytes)
        let t = clock.now - t0
        precondition(d.count == doc.count)
        load = min(load, t)
    }
    func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
    if json {
        print("{\"impl\":\"strata\",\"trace\":\"\(name)\",\"edits\":\(patches.count),\"replay_ms\":\(ms(best)),\"mem_growth_kb\":\(growthKB),\"encoded\":\(bytes.count),\"zlib\":\(z),\"load_ms\":\(ms(load))}")
    } else {
        print(String(format: "%-20@ %7d edits  replay %8.2f ms  peak RSS +%6d KB  encoded %8d B  zlib %7d B  load %6.2f ms",
                     name as NSString, patches.count, ms(best), growthKB, bytes.count, z, ms(load)))
    }
}
