// Real editing traces from the editing-traces collection by Joseph Gentle
// (github.com/josephg/editing-traces, commit 762fa6c), CC BY 4.0; copied with their README
// (the attribution) into Tests/StrataTextTests/Traces/.

import Foundation
import StrataCodec
import StrataCore
import StrataTestSupport
import Testing

struct TraceError: Error, CustomStringConvertible { let description: String }

enum Traces {
    static let directory: String = {
        if let d = ProcessInfo.processInfo.environment["STRATA_TRACES"] { return d }
        // Tests/StrataTextTests/TraceTests.swift → Tests/StrataTextTests/Traces
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Traces").path
    }()

    static func load(_ name: String) throws -> [String: Any] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-dc", "\(directory)/\(name).json.gz"]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, !data.isEmpty else {
            throw TraceError(description: "cannot read trace \(directory)/\(name).json.gz (gzip exit \(p.terminationStatus))")
        }
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    struct Patch {
        var pos: Int
        var del: Int
        var text: String
    }

    static func patches(_ txn: [String: Any]) -> [Patch] {
        (txn["patches"] as! [[Any]]).map {
            Patch(pos: ($0[0] as! NSNumber).intValue, del: ($0[1] as! NSNumber).intValue, text: $0[2] as! String)
        }
    }

    static func apply(_ p: Patch, to doc: inout TextDocument, replica: ReplicaID) -> [TextOperation] {
        var ops: [TextOperation] = []
        if p.del > 0, let op = doc.delete(range: p.pos..<p.pos + p.del, replica: replica) { ops.append(op) }
        if !p.text.isEmpty, let op = doc.insert(p.text, at: p.pos, replica: replica) { ops.append(op) }
        return ops
    }

    static let large = ProcessEnvironment.int("STRATA_LARGE_TRACES", default: 0) != 0
}

@Suite struct TraceTests {
    static let sequential = ["sveltecomponent", "rustcode", "friendsforever_flat"]

    func replaySequential(_ name: String) throws {
        let json = try Traces.load(name)
        let end = json["endContent"] as! String
        let me = ReplicaID(high: 1, low: 1)
        var doc = TextDocument()
        for txn in json["txns"] as! [[String: Any]] {
            for p in Traces.patches(txn) { _ = Traces.apply(p, to: &doc, replica: me) }
        }
        #expect(doc.string == end, "\(name): replay differs")
        #expect(doc.count == end.unicodeScalars.count)
        #expect(doc.checkInvariants() == nil)
        let bytes = TextDocumentCodec.encode(doc)
        let loaded = try TextDocumentCodec.decode(bytes)
        #expect(loaded == doc, "\(name): encode/decode round trip")
        #expect(loaded.string == end)
        // A fresh replica fed the history as operations converges too.
        var fresh = TextDocument()
        try fresh.apply(doc.operations())
        #expect(fresh.string == end, "\(name): operations(since:) replay differs")
    }

    @Test(arguments: sequential)
    func sequentialTraceReplays(name: String) throws { try replaySequential(name) }

    @Test(.enabled(if: Traces.large))
    func automergePaperReplays() throws { try replaySequential("automerge-paper") }

    /// friendsforever: two agents typing at once. Each transaction is made on the state after its
    /// parents: fork there, apply locally, merge everything at the end.
    @Test func concurrentTraceReplays() throws {
        let json = try Traces.load("friendsforever")
        let end = json["endContent"] as! String
        let txns = json["txns"] as! [[String: Any]]
        let agents = (json["numAgents"] as! NSNumber).intValue
        let ids = (0..<agents).map { ReplicaID(high: 0xA, low: UInt64($0) + 1) }
        var docs = [TextDocument](repeating: TextDocument(), count: agents)
        var applied = [[Bool]](repeating: [Bool](repeating: false, count: txns.count), count: agents)
        var txnOps = [[TextOperation]](repeating: [], count: txns.count)
        var parentsOf: [[Int]] = []
        for (i, txn) in txns.enumerated() {
            let parents = (txn["parents"] as! [NSNumber]).map(\.intValue)
            parentsOf.append(parents)
            let a = (txn["agent"] as! NSNumber).intValue
            // Bring agent a's document to exactly the parents' state.
            var missing: [Int] = []
            var stack = parents
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
            for p in Traces.patches(txn) { txnOps[i] += Traces.apply(p, to: &docs[a], replica: ids[a]) }
            applied[a][i] = true
        }
        for a in 0..<agents {
            for t in txns.indices where !applied[a][t] { try docs[a].apply(txnOps[t]) }
        }
        for a in 0..<agents {
            #expect(docs[a].string == end, "agent \(a): merged text differs")
            #expect(docs[a] == docs[0], "agent \(a): structure differs")
            #expect(docs[a].pendingOperations.isEmpty)
            #expect(docs[a].checkInvariants() == nil)
        }
        // Order independence: the whole history on a fresh replica delivered in order, replica
        // by replica (as a sync sends it) and shuffled with duplicates. Buffering is a heap per
        // replica, so the shuffled delivery costs about what the ordered one does.
        var rng = SeededRandom(seed: 7)
        let all = txnOps.flatMap { $0 }
        var inOrder = TextDocument()
        try inOrder.apply(all)
        #expect(inOrder.string == end)
        let agentOf = txns.map { ($0["agent"] as! NSNumber).intValue }
        var byReplica = TextDocument()
        for a in 0..<agents { try byReplica.apply(txns.indices.filter { agentOf[$0] == a }.flatMap { txnOps[$0] }) }
        #expect(byReplica == inOrder, "replica-by-replica delivery differs")
        #expect(byReplica.pendingOperations.isEmpty)
        var shuffled = all + all.prefix(300)
        shuffled.shuffle(using: &rng)
        var fresh = TextDocument()
        try fresh.apply(shuffled)
        #expect(fresh == inOrder, "shuffled delivery differs")
        #expect(fresh.pendingOperations.isEmpty)
        let loaded = try TextDocumentCodec.decode(TextDocumentCodec.encode(docs[0]))
        #expect(loaded == docs[0])
    }
}
