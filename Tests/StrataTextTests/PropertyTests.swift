import PropertyBased
import StrataCodec
import StrataTestSupport
import Testing

@testable import StrataCore

/// Random text with non-ASCII: Arabic, accents, emoji (with modifiers), CJK.
func randomText(_ rng: inout SeededRandom, maxLength: Int = 6) -> String {
    let pieces = ["a", "b", "c", " ", "\n", "é", "ش", "م", "س", "👍", "🏽", "中", "z", "x", "\u{301}", "tadmor", "تدمر"]
    var s = ""
    for _ in 0..<Int.random(in: 1...maxLength, using: &rng) { s += pieces.randomElement(using: &rng)! }
    return s
}

func replicaIDs(_ seed: UInt64, _ n: Int) -> [ReplicaID] {
    var rng = SeededRandom(seed: seed ^ 0x5EED)
    return (0..<n).map { _ in ReplicaID.random(using: &rng) }
}

/// One writer: the document, the naive oracle and a plain scalar array agree after every step.
func checkSingleWriter(seed: UInt64, steps: Int = 150) throws {
    var rng = SeededRandom(seed: seed)
    let me = replicaIDs(seed, 1)[0]
    var doc = TextDocument()
    var naive = NaiveText()
    var oracle: [Unicode.Scalar] = []
    for step in 0..<steps {
        if oracle.isEmpty || rng.chance(0.6) {
            let pos = rng.chance(0.5) ? oracle.count : Int.random(in: 0...oracle.count, using: &rng)
            let text = randomText(&rng)
            let op = doc.insert(text, at: pos, replica: me)
            let nop = naive.insert(text, at: pos, replica: me)
            #expect(op == nop, "seed \(seed) step \(step): insert ops differ")
            oracle.insert(contentsOf: text.unicodeScalars, at: pos)
        } else {
            let a = Int.random(in: 0..<oracle.count, using: &rng)
            let b = min(oracle.count, a + Int.random(in: 1...5, using: &rng))
            let op = doc.delete(range: a..<b, replica: me)
            let nop = naive.delete(range: a..<b, replica: me)
            #expect(op == nop, "seed \(seed) step \(step): delete ops differ")
            oracle.removeSubrange(a..<b)
        }
        var s = String.UnicodeScalarView()
        s.append(contentsOf: oracle)
        guard doc.string == String(s) else {
            Issue.record("seed \(seed) step \(step): text differs from oracle")
            return
        }
        #expect(doc.count == oracle.count)
    }
    #expect(doc.expandedItems() == naive.items, "seed \(seed): structure differs from naive")
    #expect(doc.checkInvariants() == nil, "seed \(seed): \(doc.checkInvariants() ?? "")")
    let loaded = try TextDocumentCodec.decode(TextDocumentCodec.encode(doc))
    #expect(loaded == doc, "seed \(seed): round trip")
}

/// Several replicas edit concurrently and exchange random subsets of what they know, in random
/// order with duplicates; at the end, after a full exchange, they are identical — and agree with
/// the naive oracle, a shuffled replay, an encode/decode round trip and `operations(since:)`.
func checkConvergence(seed: UInt64, replicas n: Int = 3, steps: Int = 80) throws {
    var rng = SeededRandom(seed: seed)
    let ids = replicaIDs(seed, n)
    var docs = [TextDocument](repeating: TextDocument(), count: n)
    var known = [[TextOperation]](repeating: [], count: n)  // everything each replica has seen
    var knownSet = [Set<TextOperation>](repeating: [], count: n)
    var all: [TextOperation] = []
    for _ in 0..<steps {
        let r = Int.random(in: 0..<n, using: &rng)
        if rng.chance(0.25) {
            // Partial exchange from another replica.
            let from = Int.random(in: 0..<n, using: &rng)
            guard from != r, !known[from].isEmpty else { continue }
            var batch = (0..<Int.random(in: 1...known[from].count, using: &rng)).map { _ in known[from].randomElement(using: &rng)! }
            batch.shuffle(using: &rng)
            try docs[r].apply(batch)
            for op in batch where knownSet[r].insert(op).inserted { known[r].append(op) }
            continue
        }
        var ops: [TextOperation] = []
        let c = docs[r].count
        if c == 0 || rng.chance(0.65) {
            let pos = Int.random(in: 0...c, using: &rng)
            // Sometimes type several characters one by one (runs).
            var p = pos
            for _ in 0..<(rng.chance(0.3) ? 4 : 1) {
                let t = randomText(&rng, maxLength: 3)
                ops.append(docs[r].insert(t, at: p, replica: ids[r])!)
                p += t.unicodeScalars.count
            }
        } else {
            let a = Int.random(in: 0..<c, using: &rng)
            let b = min(c, a + Int.random(in: 1...4, using: &rng))
            ops.append(docs[r].delete(range: a..<b, replica: ids[r])!)
        }
        for op in ops { knownSet[r].insert(op) }
        known[r] += ops
        all += ops
    }
    for r in 0..<n { try docs[r].apply(all) }
    let ref = docs[0]
    #expect(ref.pendingOperations.isEmpty, "seed \(seed): pending left")
    for r in 1..<n {
        #expect(docs[r].string == ref.string, "seed \(seed): texts differ")
        #expect(docs[r] == ref, "seed \(seed): structures differ")
    }
    for d in docs { #expect(d.checkInvariants() == nil, "seed \(seed): \(d.checkInvariants() ?? "")") }
    // The naive oracle, fed everything in random order.
    var naive = NaiveText()
    var shuffled = all
    shuffled.shuffle(using: &rng)
    for op in shuffled { try naive.apply(op) }
    #expect(naive.string == ref.string, "seed \(seed): naive text differs")
    #expect(naive.items == ref.expandedItems(), "seed \(seed): naive structure differs")
    // Shuffled with duplicates, in random batches, on a fresh replica.
    var fresh = TextDocument()
    var feed = all + all.prefix(10)
    feed.shuffle(using: &rng)
    try fresh.apply(feed)
    #expect(fresh == ref, "seed \(seed): shuffled delivery differs")
    // operations(since:) from a partial state brings a replica up to date.
    var partial = TextDocument()
    try partial.apply(all.prefix(all.count / 2))
    try partial.apply(ref.operations(since: partial.version))
    #expect(partial == ref, "seed \(seed): operations(since:) differs")
    var whole = TextDocument()
    try whole.apply(ref.operations())
    #expect(whole == ref, "seed \(seed): operations() differs")
    let loaded = try TextDocumentCodec.decode(TextDocumentCodec.encode(ref))
    #expect(loaded == ref, "seed \(seed): round trip")
    #expect(loaded.string == ref.string)
}

@Suite struct TextPropertyTests {
    static let runs = ProcessEnvironment.int("STRATA_PROPERTY_RUNS", default: 60)

    @Test func singleWriterMatchesStringOracle() async {
        await propertyCheck(count: Self.runs, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
            try checkSingleWriter(seed: seed)
        }
    }

    @Test func concurrentReplicasConverge() async {
        await propertyCheck(count: Self.runs, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
            try checkConvergence(seed: seed, replicas: 3)
        }
    }

    @Test(arguments: [0, 1, 2, 3, 42, 0xDEAD_BEEF] as [UInt64])
    func regressionSeeds(seed: UInt64) throws {
        try checkSingleWriter(seed: seed, steps: 400)
        try checkConvergence(seed: seed, replicas: 4, steps: 200)
    }

    /// Many runs per chunk: long single-writer histories cross chunk boundaries.
    @Test func longHistoryAcrossChunks() throws {
        try checkSingleWriter(seed: 99, steps: 1500)
        try checkConvergence(seed: 99, replicas: 3, steps: 600)
    }

    @Test func editToProducesTheNewText() async {
        await propertyCheck(count: Self.runs, input: Gen<UInt64>.value(in: 0...UInt64.max)) { seed in
            var rng = SeededRandom(seed: seed)
            let me = replicaIDs(seed, 1)[0]
            var doc = TextDocument()
            for _ in 0..<4 {
                var lines = doc.string.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
                for _ in 0..<Int.random(in: 0...3, using: &rng) {
                    switch Int.random(in: 0..<3, using: &rng) {
                    case 0: lines.insert(randomText(&rng), at: Int.random(in: 0...lines.count, using: &rng))
                    case 1 where !lines.isEmpty: lines.remove(at: Int.random(in: 0..<lines.count, using: &rng))
                    default:
                        if !lines.isEmpty {
                            let k = Int.random(in: 0..<lines.count, using: &rng)
                            lines[k] += randomText(&rng, maxLength: 2)
                        }
                    }
                }
                let target = lines.joined(separator: "\n")
                let before = doc
                let ops = doc.edit(to: target, replica: me)
                #expect(doc.string == target, "seed \(seed)")
                var other = before
                try other.apply(ops)
                #expect(other == doc, "seed \(seed): ops do not reproduce the edit")
            }
        }
    }
}

@Suite struct TextBehaviourTests {
    let a = ReplicaID(high: 1, low: 0)
    let b = ReplicaID(high: 2, low: 0)

    @Test func nonAsciiPositionsAreScalars() throws {
        var d = TextDocument()
        d.insert("تدمر 👍🏽", at: 0, replica: a)
        #expect(d.count == 7)
        d.insert("é", at: 4, replica: a)
        #expect(d.string == "تدمرé 👍🏽")
        d.delete(range: 7..<8, replica: a)
        #expect(d.string == "تدمرé 👍")
    }

    /// Fugue: runs typed concurrently at the same place never interleave, typed forwards or
    /// backwards.
    @Test func concurrentTypingDoesNotInterleave() throws {
        var base = TextDocument()
        base.insert("12", at: 0, replica: a)
        var x = base
        var y = base
        var ops: [TextOperation] = []
        for (k, ch) in "abc".enumerated() { ops.append(x.insert(String(ch), at: 1 + k, replica: a)!) }
        var opsY: [TextOperation] = []
        for (k, ch) in "xyz".enumerated() { opsY.append(y.insert(String(ch), at: 1 + k, replica: b)!) }
        try x.apply(opsY)
        try y.apply(ops)
        #expect(x == y)
        #expect(["1abcxyz2", "1xyzabc2"].contains(x.string), "\(x.string)")
        // Backwards typing (each character typed before the previous one).
        var p = base
        var q = base
        var bp: [TextOperation] = []
        var bq: [TextOperation] = []
        for ch in "cba" { bp.append(p.insert(String(ch), at: 1, replica: a)!) }
        for ch in "zyx" { bq.append(q.insert(String(ch), at: 1, replica: b)!) }
        try p.apply(bq)
        try q.apply(bp)
        #expect(p == q)
        #expect(["1abcxyz2", "1xyzabc2"].contains(p.string), "\(p.string)")
    }

    @Test func differentParagraphsBothKept() throws {
        let text = "Temple of Bel: destroyed 2015.\n\nArch of Victory: destroyed.\n\nTheatre: at risk.\n"
        var base = TextDocument()
        base.edit(to: text, replica: a)
        var x = base
        var y = base
        let ox = x.edit(to: text.replacingOccurrences(of: "destroyed 2015", with: "blown up in August 2015"), replica: a)
        let oy = y.edit(to: text.replacingOccurrences(of: "at risk", with: "used for executions; at risk"), replica: b)
        try x.apply(oy)
        try y.apply(ox)
        let expected = "Temple of Bel: blown up in August 2015.\n\nArch of Victory: destroyed.\n\nTheatre: used for executions; at risk.\n"
        #expect(x.string == expected)
        #expect(x == y)
    }

    @Test func sameSentenceMergesWithoutLossOrDuplication() throws {
        var base = TextDocument()
        base.insert("The arch was damaged.", at: 0, replica: a)
        var x = base
        var y = base
        let ox = x.edit(to: "The Roman arch was damaged.", replica: a)
        let oy = y.edit(to: "The arch was badly damaged.", replica: b)
        try x.apply(oy)
        try y.apply(ox)
        #expect(x.string == "The Roman arch was badly damaged.")
        #expect(x == y)
    }

    @Test func duplicatesAndOverlapsAreIdempotent() throws {
        var d = TextDocument()
        let op1 = d.insert("hello", at: 0, replica: a)!
        let op2 = d.insert(" world", at: 5, replica: a)!
        let op3 = d.delete(range: 0..<1, replica: a)!
        var e = TextDocument()
        try e.apply([op3, op2, op1, op1, op3])
        #expect(e == d)
        // A merged re-send overlapping what is already there.
        try e.apply(d.operations())
        #expect(e == d)
        #expect(e.string == "ello world")
    }

    @Test func invalidOperationsAreRejected() throws {
        var d = TextDocument()
        #expect(throws: TextError.self) {
            try d.apply(.insert(id: TextID(replica: a, counter: 0), originLeft: nil, originRight: nil, text: ""))
        }
        #expect(throws: TextError.self) { try d.apply(.delete(id: TextID(replica: a, counter: 0), ranges: [])) }
        let del = d.insert("ab", at: 0, replica: a)
        _ = del
        d.delete(range: 0..<1, replica: a)  // counter 2 is a delete
        #expect(throws: TextError.self) {
            try d.apply(.insert(id: TextID(replica: b, counter: 0), originLeft: TextID(replica: a, counter: 2), originRight: nil, text: "x"))
        }
        #expect(d.string == "b")
    }
}

@Suite struct TextEncodingTests {
    func sample() -> TextDocument {
        var d = TextDocument()
        let a = ReplicaID(high: 1, low: 0)
        let b = ReplicaID(high: 2, low: 0)
        d.insert("Palmyra تدمر 👍🏽", at: 0, replica: a)
        d.delete(range: 2..<4, replica: a)
        var e = TextDocument()
        try! e.apply(d.operations())
        e.insert("!", at: e.count, replica: b)
        e.insert("x", at: 3, replica: b)
        try! d.apply(e.operations(since: d.version))
        // A buffered op (its dependency never arrives).
        try! d.apply(.insert(id: TextID(replica: b, counter: 40), originLeft: nil, originRight: nil, text: "late"))
        return d
    }

    @Test func roundTrip() throws {
        let d = sample()
        let bytes = TextDocumentCodec.encode(d)
        let loaded = try TextDocumentCodec.decode(bytes)
        #expect(loaded == d)
        #expect(loaded.string == d.string)
        #expect(loaded.pendingOperations == d.pendingOperations)
        #expect(TextDocumentCodec.encode(loaded) == bytes)
        var empty = TextDocument()
        let e = try TextDocumentCodec.decode(TextDocumentCodec.encode(empty))
        #expect(e == empty)
        empty.insert("x", at: 0, replica: ReplicaID(high: 3, low: 3))
        #expect(e != empty)
    }

    @Test func everyTruncationIsRejected() throws {
        let bytes = TextDocumentCodec.encode(sample())
        for n in 0..<bytes.count {
            do {
                _ = try TextDocumentCodec.decode(Array(bytes[..<n]))
                Issue.record("prefix of \(n) bytes accepted")
            } catch {
                switch error.code {
                case "truncated", "malformed", "bad-magic": break
                default: Issue.record("prefix \(n): \(error)")
                }
            }
        }
    }

    @Test func corruptionNeverCrashes() throws {
        let bytes = TextDocumentCodec.encode(sample())
        var rng = SeededRandom(seed: 11)
        for _ in 0..<3000 {
            var b = bytes
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                b[Int.random(in: 5..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if let d = try? TextDocumentCodec.decode(b) { _ = d.string }
        }
        #expect { try TextDocumentCodec.decode([1, 2, 3, 4, 5]) } throws: { ($0 as? CodecError)?.code == "bad-magic" }
        var v = bytes
        v[4] = 9
        #expect { try TextDocumentCodec.decode(v) } throws: {
            ($0 as? CodecError)?.code == "unsupported-version" && "\($0)".contains("version 9")
        }
    }

    @Test func operationListRoundTrip() throws {
        let ops = sample().operations()
        let bytes = TextOperationCodec.encode(ops)
        let back = try TextOperationCodec.decode(bytes)
        #expect(back == ops)
        for n in 0..<bytes.count {
            #expect(throws: CodecError.self) { try TextOperationCodec.decode(Array(bytes[..<n])) }
        }
    }
}
