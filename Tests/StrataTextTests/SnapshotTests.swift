import StrataCore
import Testing

/// `TextDocument.snapshot()` and `TextDocument(validating:)`: a document as plain values and
/// back, with a precise error for each broken invariant (Protocol/SPEC.md §4.3, TXT-REJ-20…29).
@Suite struct SnapshotTests {
    static let a = ReplicaID(high: 1, low: 1)
    static let b = ReplicaID(high: 2, low: 2)

    static func sample() throws -> TextDocument {
        var d = TextDocument()
        d.insert("field notes", at: 0, replica: a)
        var e = TextDocument()
        try e.apply(d.operations())
        e.insert("Palmyra: ", at: 0, replica: b)
        e.delete(range: 9..<15, replica: b)
        try d.apply(e.operations(since: d.version))
        try d.apply(.insert(id: TextID(replica: b, counter: 99), originLeft: nil, originRight: nil, text: "later"))
        return d
    }

    static func refusal(_ s: TextDocument.Snapshot) -> TextSnapshotError? {
        do {
            _ = try TextDocument(validating: s)
            return nil
        } catch {
            return error
        }
    }

    @Test func aSnapshotRebuildsTheSameDocument() throws {
        let d = try Self.sample()
        let s = d.snapshot()
        #expect(s.replicas == [Self.a, Self.b])
        #expect(s.text.unicodeScalars.count == s.runs.reduce(0) { $0 + Int($1.length) })
        #expect(s.pending.count == 1)
        let back = try TextDocument(validating: s)
        #expect(back == d)
        #expect(back.string == d.string)
        #expect(back.snapshot() == s)
    }

    @Test func equalityComparesStructureNotJustText() throws {
        var x = TextDocument()
        x.insert("ab", at: 0, replica: Self.a)
        var y = TextDocument()
        y.insert("a", at: 0, replica: Self.a)
        y.insert("b", at: 1, replica: Self.a)
        #expect(x == y)  // one run either way
        var z = TextDocument()
        z.insert("b", at: 0, replica: Self.a)
        z.insert("a", at: 0, replica: Self.a)
        #expect(z.string == x.string)
        #expect(z != x)  // other ids and origins
        var w = TextDocument()
        w.insert("ab", at: 0, replica: Self.b)
        #expect(w.string == x.string)
        #expect(w != x)
    }

    @Test func eachBrokenInvariantHasItsOwnError() throws {
        let good = try Self.sample().snapshot()
        var s = good
        s.replicas.reverse()
        #expect(Self.refusal(s)?.part == .replicas)
        s = good
        s.versions[0] = 0
        #expect(Self.refusal(s)?.part == .versions)
        s = good
        s.versions.removeLast()
        #expect(Self.refusal(s)?.part == .versions)
        s = good
        s.runs[1].length = 0
        #expect(Self.refusal(s)?.run == 1)
        s = good
        s.runs[0].replica = 7
        #expect(Self.refusal(s)?.run == 0)
        s = good
        s.runs[0].left = TextDocument.Snapshot.Origin(replica: 0, counter: 5000)
        #expect(Self.refusal(s)?.run == 0)
        s = good
        s.text.removeLast()
        #expect(Self.refusal(s)?.part == .text)
        s = good
        s.text += "!"
        #expect(Self.refusal(s)?.part == .text)
        s = good
        s.deletes[1] = []
        #expect(Self.refusal(s)?.part == .deletes)
        s = good
        s.runs[s.runs.firstIndex { $0.deleted }!].deleted = false
        #expect(Self.refusal(s)?.part == .deletes)
        s = good
        s.pending = [.insert(id: TextID(replica: Self.a, counter: 0), originLeft: TextID(replica: Self.b, counter: 9), originRight: nil, text: "x")]
        #expect(Self.refusal(s) == nil)  // a duplicate of a's first counters: nothing to do
        #expect(Self.refusal(good) == nil)
        #expect(throws: TextSnapshotError.self) { try TextDocument(validating: good, limits: TextLimits(maxCounters: 3, maxReplicas: 9)) }
    }
}
