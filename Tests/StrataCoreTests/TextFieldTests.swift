import StrataTestSupport
import Testing

@testable import StrataCore

/// Long-text fields inside records: character-level merge, register writes from older
/// Stratas read as text, and delete conflicts that see text edits.
@Suite struct TextFieldTests {
    static let a = ReplicaID(high: 0xA, low: 1)
    static let b = ReplicaID(high: 0xB, low: 2)
    static let c = ReplicaID(high: 0xC, low: 3)
    static let note = RecordID(high: 0x0192_0000_0000_7000, low: 0x8000_0000_0000_0001)
    static let t0 = HybridTimestamp(wallMillis: 1_764_000_000_000, counter: 0)

    static func change(_ r: ReplicaID, _ seq: UInt64, _ ops: [FieldOperation]) -> Change {
        Change(id: ChangeID(replica: r, seq: seq), timestamp: HybridTimestamp(wallMillis: t0.wallMillis + seq * 1000, counter: 0), author: "\(r.high)", operations: ops)
    }

    static func legacy(_ r: ReplicaID, _ seq: UInt64, _ text: String?, preds: [ChangeID] = []) -> Change {
        change(r, seq, [FieldOperation(record: note, key: FieldKey("body"), action: .assign(text.map { .text($0) } ?? .null), preds: preds)])
    }

    static let create = change(a, 1, [FieldOperation(record: note, key: FieldKey("kind"), action: .assign(.text("note")), preds: [])])

    /// The record after applying `changes` in every order.
    static func everyOrder(_ changes: [Change], _ check: (RecordState) -> Void) throws {
        func permutations(_ xs: [Change]) -> [[Change]] {
            guard xs.count > 1 else { return [xs] }
            return xs.indices.flatMap { i in
                var rest = xs
                let x = rest.remove(at: i)
                return permutations(rest).map { [x] + $0 }
            }
        }
        var first: [RecordID: RecordState]?
        for order in permutations(changes) {
            var m = ReplicaModel(id: ReplicaID(high: 9, low: 9), author: "x")
            for c in order { try m.apply([c], now: .max / 2) }
            try m.apply(order, now: .max / 2)  // again: idempotent
            if let first { #expect(m.records == first) } else { first = m.records }
            check(m.records[note]!)
        }
    }

    @Test func concurrentRegisterWritesAreBothKeptAsText() throws {
        try Self.everyOrder([Self.create, Self.legacy(Self.a, 2, "Cella destroyed."), Self.legacy(Self.b, 1, "Gateway stands.")]) { s in
            let body = s.text("body") ?? ""
            #expect(body.contains("Cella destroyed.") && body.contains("Gateway stands."))
            #expect(body.unicodeScalars.count == "Cella destroyed.Gateway stands.".unicodeScalars.count)
            #expect(s.conflictedKeys.isEmpty, "a long text is never a register conflict")
        }
    }

    @Test func aResolvedRegisterConflictKeepsOnlyTheResolution() throws {
        let x = Self.legacy(Self.a, 2, "Cella destroyed.")
        let y = Self.legacy(Self.b, 1, "Gateway stands.")
        let z = Self.legacy(Self.c, 1, "Cella destroyed; gateway stands.", preds: [x.id, y.id])
        try Self.everyOrder([Self.create, x, y, z]) { s in
            #expect(s.text("body") == "Cella destroyed; gateway stands.")
        }
        let cleared = Self.legacy(Self.c, 1, nil, preds: [x.id, y.id])
        try Self.everyOrder([Self.create, x, y, cleared]) { s in #expect(s.text("body") == nil) }
    }

    @Test func characterEditsOnTopOfARegisterWriteMergeWithAConcurrentOne() throws {
        // A (old Strata) wrote the body; B (new) edits it; C (old) concurrently replaces it.
        let x = Self.legacy(Self.a, 2, "The cella was blown up.")
        var m = ReplicaModel(id: Self.b, author: "B")
        try m.apply([Self.create, x], now: .max / 2)
        let edit = try #require(try m.commit([.set(Self.note, field: "body", .text("The cella was blown up in August 2015."))], now: Self.t0.wallMillis + 5000))
        guard case .editText(let ops) = edit.operations[0].action else { Issue.record("not a text edit"); return }
        #expect(ops.count == 1, "only the inserted words are written: \(ops)")
        let y = Self.legacy(Self.c, 1, "Temple of Bel", preds: [x.id])
        try Self.everyOrder([Self.create, x, edit, y]) { s in
            // C superseded A's text, but B's words inside it were not A's: they stay.
            let body = s.text("body") ?? ""
            #expect(body.contains("Temple of Bel"))
            #expect(body.contains(" in August 2015"))
            #expect(!body.contains("The cella"))
        }
    }

    @Test func twoWritersEditingDifferentParagraphsBothKeepTheirWords() throws {
        var a = ReplicaModel(id: Self.a, author: "Khaled")
        let id = Self.note
        let base = "Temple of Bel: cella destroyed in August 2015.\n\nThe theatre is intact."
        let c1 = try #require(try a.commit([.create(id, kind: .note), .set(id, field: "body", .text(base))], now: Self.t0.wallMillis))
        var b = ReplicaModel(id: Self.b, author: "Maria")
        try b.apply([c1], now: Self.t0.wallMillis)
        let ca = try #require(try a.commit([.set(id, field: "body", .text(base.replacingOccurrences(of: "cella destroyed", with: "cella blown up")))], now: Self.t0.wallMillis + 1))
        let cb = try #require(try b.commit([.set(id, field: "body", .text(base.replacingOccurrences(of: "is intact", with: "was damaged in 2017")))], now: Self.t0.wallMillis + 2))
        let cc = try #require(try b.commit([.appendText(id, field: "body", text: "\n\nSources: satellite images.")], now: Self.t0.wallMillis + 3))
        try a.apply([cb, cc], now: Self.t0.wallMillis + 4)
        try b.apply([ca], now: Self.t0.wallMillis + 4)
        let expected = "Temple of Bel: cella blown up in August 2015.\n\nThe theatre was damaged in 2017.\n\nSources: satellite images."
        #expect(a.records[id]?.text("body") == expected)
        #expect(b.records[id] == a.records[id])
    }

    @Test func aDeleteThatMissedATextEditIsADeleteConflict() throws {
        var a = ReplicaModel(id: Self.a, author: "Khaled")
        var b = ReplicaModel(id: Self.b, author: "Maria")
        let id = Self.note
        let c1 = try #require(try a.commit([.create(id, kind: .note), .set(id, field: "body", .text("Arch of Triumph"))], now: Self.t0.wallMillis))
        try b.apply([c1], now: Self.t0.wallMillis)
        let del = try #require(try a.commit([.delete(id)], now: Self.t0.wallMillis + 1))
        let edit = try #require(try b.commit([.appendText(id, field: "body", text: ": destroyed in October 2015")], now: Self.t0.wallMillis + 2))
        try a.apply([edit], now: Self.t0.wallMillis + 3)
        try b.apply([del], now: Self.t0.wallMillis + 3)
        for m in [a, b] {
            let conflict = try #require(m.records[id]?.deleteConflict)
            #expect(conflict.unseenEdits.map(\.key) == [FieldKey("body")])
            #expect(conflict.unseenEdits[0].value.author == "Maria")
        }
        // Deleting again with a fresh view settles it.
        let again = try #require(try a.commit([.delete(id)], now: Self.t0.wallMillis + 4))
        #expect(a.records[id]?.deleteConflict == nil)
        _ = again
    }

    @Test func longTextFieldNamesMeanTheSameInEveryKind() {
        for kind in RecordKind.allCases {
            for f in kind.fields {
                #expect((f.type == .longText) == Schema.textFields.contains(f.name), "\(kind).\(f.name)")
            }
        }
        #expect(Schema.textFields == ["body", "description", "quote"])
    }

    @Test func textEditsMustBeWellFormed() {
        let op = TextOperation.insert(id: TextID(replica: Self.b, counter: 0), originLeft: nil, originRight: nil, text: "x")
        func validate(_ key: FieldKey, _ action: Action, preds: [ChangeID] = []) -> Bool {
            (try? Self.change(Self.a, 5, [FieldOperation(record: Self.note, key: key, action: action, preds: preds)]).validate()) != nil
        }
        #expect(!validate(FieldKey("body"), .editText([op])), "another replica's counters")
        let own = TextOperation.insert(id: TextID(replica: Self.a, counter: 0), originLeft: nil, originRight: nil, text: "x")
        #expect(validate(FieldKey("body"), .editText([own])))
        #expect(!validate(FieldKey("title"), .editText([own])), "not a long-text field")
        #expect(!validate(FieldKey("body"), .editText([])), "empty")
        #expect(!validate(FieldKey("body"), .editText([own]), preds: [ChangeID(replica: Self.b, seq: 1)]), "preds")
    }
}
