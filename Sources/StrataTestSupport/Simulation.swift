import StrataCore

/// Anything that behaves as a replica: the in-memory model and the SQLite store both do, so
/// one random schedule can drive either, or both side by side.
public protocol SimulatedReplica {
    var replicaID: ReplicaID { get }
    func state(of id: RecordID) throws -> RecordState?
    /// Records whose creation has arrived, deleted ones included.
    func visibleRecordIDs() throws -> [RecordID]
    mutating func commitEdits(_ edits: [Edit], now: UInt64) throws -> Change?
    mutating func receive(_ changes: [Change], now: UInt64) throws
    func changes(missingFrom vv: VersionVector) throws -> [Change]
    func versionVector() throws -> VersionVector
    /// Every record's state, for comparison.
    func snapshot() throws -> [RecordID: RecordState]
}

extension ReplicaModel: SimulatedReplica {
    public var replicaID: ReplicaID { id }
    public func state(of id: RecordID) throws -> RecordState? { records[id] }
    public func visibleRecordIDs() throws -> [RecordID] { visibleRecords.map(\.id) }
    public mutating func commitEdits(_ edits: [Edit], now: UInt64) throws -> Change? { try commit(edits, now: now) }
    public mutating func receive(_ changes: [Change], now: UInt64) throws { try apply(changes, now: now) }
    public func versionVector() throws -> VersionVector { versionVector }
    public func snapshot() throws -> [RecordID: RecordState] { records }
}

/// A seeded random schedule of offline edits and partial, out-of-order, duplicated exchanges
/// between replicas, followed by a full exchange.
public struct Simulation {
    public var rng: SeededRandom
    public var now: UInt64 = 1_764_000_000_000
    /// Per-replica wall-clock offsets (machines whose clocks disagree by up to ±10 min).
    public var clockOffsets: [Int64]
    public let seed: UInt64
    /// A log of what happened, printed when a property fails.
    public var trace: [String] = []
    /// Replicas that behave like a Strata from before text merging: they write long-text
    /// fields as registers (an assignment of the whole text naming the register's heads).
    public var legacyWriters: Set<Int> = []

    static let textPool = ["Temple of Bel", "Arch", "theatre", "citadel", "بعل", "Damascus museum", ""]
    static let tagPool = ["unesco", "isis-2015", "moved", "evidence", "tadmor"]

    public init(seed: UInt64, replicas: Int) {
        self.seed = seed
        rng = SeededRandom(seed: seed)
        var r = SeededRandom(seed: seed ^ 0x5EED)
        clockOffsets = (0..<replicas).map { _ in Int64.random(in: -600_000...600_000, using: &r) }
    }

    public static func makeReplicaIDs(seed: UInt64, count: Int) -> [ReplicaID] {
        var r = SeededRandom(seed: seed ^ 0xAB)
        return (0..<count).map { _ in ReplicaID.random(using: &r) }
    }

    public func wall(_ i: Int) -> UInt64 { UInt64(Int64(now) + clockOffsets[i]) }

    /// Runs `steps` random steps on `replicas`.
    public mutating func run(_ replicas: inout [some SimulatedReplica], steps: Int) throws {
        for _ in 0..<steps {
            now += UInt64.random(in: 0...4_000, using: &rng)
            if rng.chance(0.7) {
                try randomEdit(&replicas)
            } else {
                try randomExchange(&replicas)
            }
        }
    }

    /// Exchanges everything until every replica has every change.
    public mutating func exchangeAll(_ replicas: inout [some SimulatedReplica]) throws {
        for _ in 0..<3 {
            for a in replicas.indices {
                for b in replicas.indices where a != b {
                    let missing = try replicas[a].changes(missingFrom: replicas[b].versionVector())
                    try replicas[b].receive(missing.shuffled(using: &rng), now: wall(b) + 3_600_000)
                }
            }
        }
        trace.append("full exchange")
    }

    public mutating func randomEdit(_ replicas: inout [some SimulatedReplica]) throws {
        let i = Int.random(in: replicas.indices, using: &rng)
        let known = try replicas[i].visibleRecordIDs().sorted()
        var edits: [Edit] = []
        if known.isEmpty || rng.chance(0.12) {
            var r = rng
            let id = RecordID.v7(unixMillis: wall(i), using: &r)
            rng = r
            let kind = RecordKind.allCases.randomElement(using: &rng)!
            edits.append(.create(id, kind: kind))
            edits.append(.set(id, field: kind.titleField, .text(Self.textPool.randomElement(using: &rng)!)))
            if rng.chance(0.5) { edits.append(.add(id, field: SystemField.tags, element: Self.tagPool.randomElement(using: &rng)!)) }
        } else {
            let id = known.randomElement(using: &rng)!
            guard let s = try replicas[i].state(of: id), let kind = s.kind.flatMap(RecordKind.init(rawValue:)) else { return }
            var usedFields = Set<String>()
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                switch Int.random(in: 0..<100, using: &rng) {
                case 0..<45:
                    let f = kind.fields.randomElement(using: &rng)!
                    guard usedFields.insert(f.name).inserted else { continue }
                    if f.type == .longText {
                        let current = s.text(f.name) ?? ""
                        if legacyWriters.contains(i) {
                            try legacyWrite(&replicas, i, id, field: f.name, text: randomTextEdit(of: current), heads: s)
                            return
                        }
                        if rng.chance(0.15) {
                            edits.append(.appendText(id, field: f.name, text: "\n\n" + Self.textPool.randomElement(using: &rng)!))
                        } else {
                            edits.append(.set(id, field: f.name, .text(randomTextEdit(of: current))))
                        }
                    } else {
                        edits.append(.set(id, field: f.name, randomValue(for: f)))
                    }
                case 45..<60:
                    let t = Self.tagPool.randomElement(using: &rng)!
                    guard usedFields.insert("tag:" + t).inserted else { continue }
                    edits.append(.add(id, field: SystemField.tags, element: t))
                case 60..<70:
                    guard let t = s.tags.randomElement(using: &rng), usedFields.insert("tag:" + t).inserted else { continue }
                    edits.append(.remove(id, field: SystemField.tags, element: t))
                case 70..<78:
                    guard let target = known.randomElement(using: &rng), target != id else { continue }
                    let e = "\(Schema.relationTypes.randomElement(using: &rng)!):\(target.text)"
                    guard usedFields.insert("rel:" + e).inserted else { continue }
                    edits.append(.add(id, field: SystemField.relations, element: e))
                case 78..<82:
                    guard let e = s.elements(SystemField.relations).randomElement(using: &rng),
                        usedFields.insert("rel:" + e).inserted
                    else { continue }
                    edits.append(.remove(id, field: SystemField.relations, element: e))
                case 82..<92:
                    guard usedFields.insert(SystemField.deleted).inserted else { continue }
                    edits.append(.delete(id))
                default:
                    guard usedFields.insert(SystemField.deleted).inserted else { continue }
                    edits.append(.restore(id))
                }
            }
        }
        guard !edits.isEmpty else { return }
        if let c = try replicas[i].commitEdits(edits, now: wall(i)) {
            trace.append("r\(i) commits \(c.id) \(c.operations.count) ops")
        }
    }

    /// A small edit of `text`, as a person makes: a word inserted, a range deleted, the whole
    /// text replaced, or cleared.
    mutating func randomTextEdit(of text: String) -> String {
        var scalars = Array(text.unicodeScalars)
        let word = Self.textPool.randomElement(using: &rng)! + (rng.chance(0.5) ? " " : "\n")
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<50:
            scalars.insert(contentsOf: word.unicodeScalars, at: Int.random(in: 0...scalars.count, using: &rng))
        case 50..<80 where !scalars.isEmpty:
            let a = Int.random(in: 0..<scalars.count, using: &rng)
            let b = Int.random(in: a...min(scalars.count, a + 12), using: &rng)
            scalars.removeSubrange(a..<b)
        case 80..<95:
            scalars = Array(word.unicodeScalars)
        default:
            scalars = []
        }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars)
        return String(out)
    }

    /// What a Strata from before text merging writes for a long-text field: the whole text as
    /// a register value superseding the register's heads. Delivered to the writer as its own
    /// change.
    mutating func legacyWrite(
        _ replicas: inout [some SimulatedReplica], _ i: Int, _ id: RecordID, field: String, text: String, heads s: RecordState
    ) throws {
        let seq = try replicas[i].versionVector()[replicas[i].replicaID] + 1
        let change = Change(
            id: ChangeID(replica: replicas[i].replicaID, seq: seq), timestamp: HybridTimestamp(wallMillis: wall(i), counter: 0),
            author: "legacy",
            operations: [
                FieldOperation(
                    record: id, key: FieldKey(field), action: .assign(text.isEmpty ? .null : .text(text)),
                    preds: s.keys[FieldKey(field)]?.heads ?? [])
            ])
        try replicas[i].receive([change], now: wall(i))
        trace.append("r\(i) writes \(change.id) as a register (legacy)")
    }

    mutating func randomValue(for f: FieldSpec) -> FieldValue {
        if rng.chance(0.08) { return .null }
        switch f.type {
        case .choice(let values): return .text(values.randomElement(using: &rng)!)
        case .location:
            return .location(
                Location(
                    latitude: [34.5505, 34.5519, 33.51].randomElement(using: &rng)!, longitude: 38.2684,
                    accuracyMetres: rng.chance(0.5) ? 25 : nil))
        case .date: return .text(["2015-08-30", "2015-05", "2016"].randomElement(using: &rng)!)
        case .url: return .text(["https://example.org/a", "https://example.org/b"].randomElement(using: &rng)!)
        case .text, .longText: return .text(Self.textPool.randomElement(using: &rng)!)
        }
    }

    mutating func randomExchange(_ replicas: inout [some SimulatedReplica]) throws {
        guard replicas.count > 1 else { return }
        let a = Int.random(in: replicas.indices, using: &rng)
        var b = Int.random(in: replicas.indices, using: &rng)
        while b == a { b = Int.random(in: replicas.indices, using: &rng) }
        let missing = try replicas[a].changes(missingFrom: replicas[b].versionVector())
        // A random subset, in random order, with some duplicates: causal order is not kept.
        var sent = missing.filter { _ in rng.chance(0.6) }
        if !sent.isEmpty, rng.chance(0.3) {
            for _ in 0..<Int.random(in: 1...3, using: &rng) { sent.append(sent.randomElement(using: &rng)!) }
        }
        sent.shuffle(using: &rng)
        var batches: [[Change]] = []
        var rest = sent[...]
        while !rest.isEmpty {
            let n = Int.random(in: 1...max(1, rest.count), using: &rng)
            batches.append(Array(rest.prefix(n)))
            rest = rest.dropFirst(n)
        }
        for batch in batches { try replicas[b].receive(batch, now: wall(b) + 3_600_000) }
        trace.append("r\(a) -> r\(b): \(sent.count) changes in \(batches.count) batches")
    }
}
