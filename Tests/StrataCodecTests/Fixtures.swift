import Foundation
import StrataCore

@testable import StrataCodec

/// SplitMix64: small, seeded, reproducible.
struct SeededRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Fixtures {
    static let vectorsDir: URL = {
        var url = URL(fileURLWithPath: #filePath)
        // Tests/StrataCodecTests/Fixtures.swift -> repo root
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Protocol").appendingPathComponent("vectors")
    }()

    static func read(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: vectorsDir.appendingPathComponent(relative)))
    }

    static let alice = ReplicaID(high: 0x0123_4567_89AB_4CDE, low: 0x8123_4567_89AB_CDEF)
    static let bob = ReplicaID(high: 0xFEDC_BA98_7654_4321, low: 0x9EDC_BA98_7654_3210)
    static let carol = ReplicaID(high: 0x0000_0000_0000_4001, low: 0x8000_0000_0000_0001)
    static let note = RecordID(high: 0x0192_3456_789A_7BCD, low: 0x8EF0_1234_5678_9ABC)
    static let site = RecordID(high: 0x0192_3456_789B_7000, low: 0x9000_0000_0000_0001)
    static let ts = HybridTimestamp(wallMillis: 1_732_550_400_000, counter: 0)

    static func ts(_ offsetMillis: UInt64, _ counter: UInt16 = 0) -> HybridTimestamp {
        HybridTimestamp(wallMillis: ts.wallMillis + offsetMillis, counter: counter)
    }

    /// Two replicas editing one note body (text edits, format version 2): Alice types and
    /// deletes; Bob, having seen her change, inserts inside her text (non-ASCII included), appends
    /// and deletes some of her characters.
    static let textEdits: [Change] = {
        var doc = TextDocument()
        let a1 = doc.insert("The cella was blown up in 2015.", at: 0, replica: alice)!
        let a2 = doc.delete(range: 0..<4, replica: alice)!
        let b1 = doc.insert("August ", at: doc.count - 5, replica: bob)!
        let b2 = doc.insert(" — معبد بل 🏛️", at: doc.count, replica: bob)!
        let b3 = doc.delete(range: 6..<10, replica: bob)!
        return [
            Change(
                id: ChangeID(replica: alice, seq: 1), timestamp: ts(0), author: "Khaled al-Asaad",
                operations: [
                    FieldOperation(record: note, key: FieldKey("kind"), action: .assign(.text("note")), preds: []),
                    FieldOperation(record: note, key: FieldKey("body"), action: .editText([a1, a2]), preds: []),
                ]),
            Change(
                id: ChangeID(replica: bob, seq: 1), timestamp: ts(60_000), author: "Maria",
                operations: [FieldOperation(record: note, key: FieldKey("body"), action: .editText([b1, b2, b3]), preds: [])]),
        ]
    }()

    /// One change per value kind, with set elements, retracts and predecessors.
    static let everyValue: [Change] = [
        Change(
            id: ChangeID(replica: alice, seq: 1), timestamp: ts(0), author: "Khaled al-Asaad",
            operations: [
                FieldOperation(record: note, key: FieldKey("kind"), action: .assign(.text("note")), preds: []),
                FieldOperation(record: note, key: FieldKey("title"), action: .assign(.text("معبد بل — Temple of Bel 🏛️")), preds: []),
                FieldOperation(record: note, key: FieldKey("count"), action: .assign(.integer(-42)), preds: []),
                FieldOperation(record: note, key: FieldKey("big"), action: .assign(.integer(.min)), preds: []),
                FieldOperation(record: note, key: FieldKey("height"), action: .assign(.real(-0.0)), preds: []),
                FieldOperation(record: note, key: FieldKey("ratio"), action: .assign(.real(.infinity)), preds: []),
                FieldOperation(record: note, key: FieldKey("verified"), action: .assign(.bool(true)), preds: []),
                FieldOperation(record: note, key: FieldKey("draft"), action: .assign(.bool(false)), preds: []),
                FieldOperation(record: note, key: FieldKey("cleared"), action: .assign(.null), preds: []),
                FieldOperation(
                    record: note, key: FieldKey("location"),
                    action: .assign(.location(Location(latitude: 34.5472, longitude: 38.2692, accuracyMetres: 12.5))),
                    preds: []),
                FieldOperation(
                    record: site, key: FieldKey("location"),
                    action: .assign(.location(Location(latitude: -33.0, longitude: 151.25))), preds: []),
                FieldOperation(record: note, key: FieldKey("tags", element: "palmyra"), action: .assign(.bool(true)), preds: []),
            ]),
        Change(
            id: ChangeID(replica: bob, seq: 7), timestamp: ts(0, 3), author: "Bob",
            operations: [
                FieldOperation(
                    record: note, key: FieldKey("title"), action: .assign(.text("Temple of Bel")),
                    preds: [ChangeID(replica: alice, seq: 1)]),
                FieldOperation(
                    record: note, key: FieldKey("tags", element: "palmyra"), action: .retract,
                    preds: [ChangeID(replica: alice, seq: 1)]),
            ]),
        Change(
            id: ChangeID(replica: carol, seq: 2), timestamp: ts(0, 1), author: "Carol",
            operations: [
                FieldOperation(
                    record: note, key: FieldKey("deleted"),
                    action: .assign(.deletion(seen: VersionVector([alice: 1, carol: 1]))),
                    preds: []),
                FieldOperation(record: site, key: FieldKey("ratio"), action: .assign(.real(.nan)), preds: []),
            ]),
    ]

    /// Names that Unicode calls canonically equivalent but that differ in bytes: two authors
    /// José, two fields café and two tags café, each spelled with U+00E9 and with "e" + U+0301.
    /// Names are bytes (Protocol/SPEC.md, "Notation"): each pair is two names.
    static let equivalentNames: [Change] = [
        Change(
            id: ChangeID(replica: alice, seq: 1), timestamp: ts(0), author: "Jos\u{E9}",
            operations: [
                FieldOperation(record: note, key: FieldKey("caf\u{E9}"), action: .assign(.text("caf\u{E9}")), preds: []),
                FieldOperation(record: note, key: FieldKey("cafe\u{301}"), action: .assign(.text("cafe\u{301}")), preds: []),
                FieldOperation(record: note, key: FieldKey("tags", element: "caf\u{E9}"), action: .assign(.bool(true)), preds: []),
                FieldOperation(record: note, key: FieldKey("tags", element: "cafe\u{301}"), action: .assign(.bool(true)), preds: []),
            ]),
        Change(
            id: ChangeID(replica: bob, seq: 1), timestamp: ts(1000), author: "Jose\u{301}",
            operations: [FieldOperation(record: site, key: FieldKey("title"), action: .assign(.text("Agora")), preds: [])]),
    ]

    // MARK: attachments (change-set format 3)

    /// The bytes of the two blobs below (a bundle vector carries them).
    static let bustBytes = Array("bust-before.jpg bytes".utf8)
    static let listBytes = Array("handover-list.pdf bytes".utf8)

    /// The blob of a photo of a funerary bust (SHA-256 of the bytes `bust-before.jpg bytes`).
    static let bustHash = BlobHash(bytes: [
        0xDB, 0x03, 0xE7, 0x65, 0x87, 0x57, 0x7A, 0xD9, 0xE6, 0xA0, 0x3F, 0x2D, 0xD5, 0x04, 0x44, 0x47,
        0x20, 0xCB, 0xB2, 0x25, 0xAF, 0x7E, 0xB5, 0x7D, 0x0C, 0x94, 0x9C, 0xD5, 0xB5, 0xBE, 0xC0, 0x8C,
    ])!
    /// The blob of a scanned handover list (SHA-256 of `handover-list.pdf bytes`).
    static let listHash = BlobHash(bytes: [
        0x01, 0xE9, 0xFB, 0xA7, 0x2D, 0x95, 0xD8, 0xC8, 0x21, 0x01, 0x0A, 0x64, 0x69, 0xA0, 0xA1, 0xEC,
        0x0A, 0x01, 0x75, 0x18, 0xE1, 0x7E, 0xA7, 0xA6, 0x95, 0x67, 0x6C, 0xA8, 0xF8, 0x15, 0x1A, 0x00,
    ])!

    static let bustPhoto = AttachmentRef(
        hash: bustHash, size: 21, mediaType: "image/jpeg", name: "bust-before.jpg",
        caption: "Funerary bust, east wall — قبل",
        photo: PhotoMetadata(
            takenAt: "2015-08-30T07:12:44+03:00", location: Location(latitude: 34.5472, longitude: 38.2692, accuracyMetres: 8),
            orientation: 6, camera: "Canon EOS 80D"))
    static let handoverList = AttachmentRef(
        hash: listHash, size: 23, mediaType: "application/pdf", name: "handover-list.pdf")

    /// Alice attaches a photo (every metadata part) and a PDF (none) to a note; Bob, having
    /// seen her change, captions the photo again and detaches the PDF (a retract).
    static let attachments: [Change] = {
        var recaptioned = bustPhoto
        recaptioned.caption = "Funerary bust before the 2015 damage"
        let att = SystemField.attachments
        return [
            Change(
                id: ChangeID(replica: alice, seq: 1), timestamp: ts(0), author: "Khaled al-Asaad",
                operations: [
                    FieldOperation(record: note, key: FieldKey(att, element: bustHash.hex), action: .assign(.attachment(bustPhoto)), preds: []),
                    FieldOperation(record: note, key: FieldKey(att, element: listHash.hex), action: .assign(.attachment(handoverList)), preds: []),
                ]),
            Change(
                id: ChangeID(replica: bob, seq: 1), timestamp: ts(60_000), author: "Maria",
                operations: [
                    FieldOperation(
                        record: note, key: FieldKey(att, element: bustHash.hex), action: .assign(.attachment(recaptioned)),
                        preds: [ChangeID(replica: alice, seq: 1)]),
                    FieldOperation(
                        record: note, key: FieldKey(att, element: listHash.hex), action: .retract,
                        preds: [ChangeID(replica: alice, seq: 1)]),
                ]),
        ]
    }()

    static let single: [Change] = [
        Change(
            id: ChangeID(replica: alice, seq: 1), timestamp: ts(0), author: "alice",
            operations: [FieldOperation(record: note, key: FieldKey("title"), action: .assign(.text("Arch of Triumph")), preds: [])])
    ]

    // MARK: text documents (STXT, STXO vectors)

    /// One writer: a text typed in three inserts (Arabic, a combining accent, an emoji), one
    /// of her own characters deleted.
    static let singleWriterText: TextDocument = {
        var d = TextDocument()
        d.insert("Palmyra: temple of Bel", at: 0, replica: alice)
        d.insert(" تدمر", at: 7, replica: alice)
        d.insert(" — cafe\u{301} 🏛️", at: d.count, replica: alice)
        d.delete(range: 12..<13, replica: alice)
        return d
    }()

    /// Two replicas that both saw Alice's first text, then inserted and deleted concurrently
    /// (each deleting some of the other's characters after a merge), merged both ways.
    static let twoReplicasText: TextDocument = {
        var a = TextDocument()
        a.insert("the quick fox", at: 0, replica: alice)
        var b = TextDocument()
        try! b.apply(a.operations())
        a.insert(" brown", at: 9, replica: alice)
        a.delete(range: 0..<4, replica: alice)
        b.insert("sly ", at: 10, replica: bob)
        b.delete(range: 4..<10, replica: bob)
        try! a.apply(b.operations(since: a.version))
        try! b.apply(a.operations(since: b.version))
        precondition(a == b)
        b.delete(range: 0..<2, replica: bob)
        a.insert("!", at: a.count, replica: alice)
        try! a.apply(b.operations(since: a.version))
        return a
    }()

    /// Concurrent inserts after one character: Alice types "a", Bob then types "Y" after it
    /// while Alice types "b" after it; merged, FugueMax puts Bob's "Y" after Alice's "ab", so
    /// its origin-left, Alice's "a", ends no run and is written explicitly.
    static let explicitOriginText: TextDocument = {
        var a = TextDocument()
        a.insert("a", at: 0, replica: alice)
        var b = TextDocument()
        try! b.apply(a.operations())
        b.insert("Y", at: 1, replica: bob)
        a.insert("b", at: 1, replica: alice)
        try! a.apply(b.operations(since: a.version))
        return a
    }()

    /// A document holding operations whose dependencies have not arrived: Carol's insert after
    /// her counter 2, her insert at counter 9 with counters before it missing, and Bob's delete
    /// of Carol's characters.
    static let pendingText: TextDocument = {
        var d = TextDocument()
        d.insert("ab", at: 0, replica: alice)
        try! d.apply(.insert(id: TextID(replica: carol, counter: 3), originLeft: TextID(replica: carol, counter: 2), originRight: nil, text: "late"))
        try! d.apply(.insert(id: TextID(replica: carol, counter: 9), originLeft: TextID(replica: alice, counter: 0), originRight: TextID(replica: alice, counter: 1), text: "é"))
        try! d.apply(.delete(id: TextID(replica: bob, counter: 0), ranges: [TextIDRange(replica: carol, start: 0, count: 2)]))
        precondition(d.pendingOperations.count == 3 && d.string == "ab")
        return d
    }()

    // MARK: random changes

    static func randomString(_ rng: inout SeededRNG, maxLength: Int = 12) -> String {
        let pool: [Character] = ["a", "b", "z", "0", " ", "é", "ß", "م", "ع", "🏛", "\u{0301}", "\n", "\""]
        let n = Int.random(in: 0...maxLength, using: &rng)
        return String((0..<n).map { _ in pool.randomElement(using: &rng)! })
    }

    static func randomValue(_ rng: inout SeededRNG, replicas: [ReplicaID]) -> FieldValue {
        switch Int.random(in: 0..<8, using: &rng) {
        case 0: return .null
        case 1: return .text(randomString(&rng, maxLength: 40))
        case 2: return .integer(Int64(bitPattern: rng.next()) >> UInt64.random(in: 0..<64, using: &rng))
        case 3: return .real(Double(bitPattern: rng.next()))
        case 4: return .bool(Bool.random(using: &rng))
        case 5:
            return .location(
                Location(
                    latitude: Double.random(in: -90...90, using: &rng), longitude: Double.random(in: -180...180, using: &rng),
                    accuracyMetres: Bool.random(using: &rng) ? Double.random(in: 0...100, using: &rng) : nil))
        case 6:
            var vv = VersionVector()
            for r in replicas where Bool.random(using: &rng) { vv[r] = UInt64.random(in: 1...1000, using: &rng) }
            return .deletion(seen: vv)
        default: return .text("")
        }
    }

    /// Random well-formed changes; reals avoid NaN so that `==` compares them.
    static func randomChanges(_ rng: inout SeededRNG, count: Int, maxOps: Int = 6) -> [Change] {
        let replicas = (0..<Int.random(in: 1...4, using: &rng)).map { _ in ReplicaID.random(using: &rng) }
        let records = (0..<Int.random(in: 1...5, using: &rng)).map { _ in
            RecordID.v7(unixMillis: 1_700_000_000_000 + UInt64.random(in: 0..<1_000_000, using: &rng), using: &rng)
        }
        let fieldNames = ["title", "body", "state", "tags", "rel", "kind", "deleted", "lieu", "état"]
        let authors = ["alice", "bob", "Khaled", "Zoë", ""]
        var seqs: [ReplicaID: UInt64] = [:]
        var out: [Change] = []
        for _ in 0..<count {
            let replica = replicas.randomElement(using: &rng)!
            let seq = (seqs[replica] ?? 0) + 1
            seqs[replica] = seq
            let id = ChangeID(replica: replica, seq: seq)
            var ops: [FieldOperation] = []
            var used = Set<OpKey>()
            for _ in 0..<Int.random(in: 1...maxOps, using: &rng) {
                let record = records.randomElement(using: &rng)!
                let field = fieldNames.randomElement(using: &rng)!
                let element = Bool.random(using: &rng) ? randomString(&rng) : ""
                let key = FieldKey(field, element: element)
                guard used.insert(OpKey(record: record, key: key)).inserted else { continue }
                var preds: [ChangeID] = []
                for _ in 0..<Int.random(in: 0...2, using: &rng) {
                    let r = replicas.randomElement(using: &rng)!
                    let p = ChangeID(replica: r, seq: UInt64.random(in: 1...UInt64(1 << 40), using: &rng))
                    if p != id { preds.append(p) }
                }
                var value = randomValue(&rng, replicas: replicas)
                if case .real(let d) = value, d.isNaN { value = .real(1.5) }
                let action: Action = !element.isEmpty && Bool.random(using: &rng) ? .retract : .assign(value)
                ops.append(FieldOperation(record: record, key: key, action: action, preds: preds))
            }
            let raw = Bool.random(using: &rng) ? rng.next() : 1_700_000_000_000 << 16 + UInt64.random(in: 0..<1 << 30, using: &rng)
            out.append(Change(id: id, timestamp: HybridTimestamp(rawValue: raw), author: authors.randomElement(using: &rng)!, operations: ops))
        }
        return out
    }
}

/// The error code a throwing decode produced, or "ok".
func errorCode<T>(_ body: () throws(CodecError) -> T) -> String {
    do {
        _ = try body()
        return "ok"
    } catch {
        return error.code
    }
}

func hex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
}
