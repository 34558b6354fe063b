import Foundation
import StrataCodec
import StrataCore

/// The seed corpus of each target, written when `STRATA_FUZZ_SEEDS=DIR` is set (run.sh does it
/// before fuzzing, then starts libFuzzer on DIR): the Protocol/vectors files of the target's
/// kind (valid and invalid), and messages, changes, record states and text documents made from
/// a seeded two-replica history and from the first edits of the Tests/StrataTextTests traces.
public enum Seeds {
    public static func writeIfAsked(target: String) {
        let env = ProcessInfo.processInfo.environment
        guard let dir = env["STRATA_FUZZ_SEEDS"], !dir.isEmpty else { return }
        let repo = env["STRATA_REPO"] ?? FileManager.default.currentDirectoryPath
        let seeds = make(target: target, repo: repo)
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (i, s) in seeds.enumerated() {
            _ = FileManager.default.createFile(atPath: "\(dir)/seed-\(i)", contents: Data(s))
        }
        print("wrote \(seeds.count) seeds for \(target) to \(dir)")
        exit(0)
    }

    static func make(target: String, repo: String) -> [[UInt8]] {
        let h = History.make()
        let vectors = Vectors(repo: repo)
        switch target {
        case "changeset":
            var out = vectors.files(kind: "change-set").map { [0] + $0 }
            let sets = [h.changes] + h.changes.map { [$0] } + [Array(h.changes.prefix(3))]
            for cs in sets {
                out.append([0] + ChangeSetCodec.encode(cs))
                if let p = payload(of: cs) { out.append([ChangeSetCodec.encode(cs)[4]] + p) }
            }
            for v in vectors.files(kind: "change-set", validOnly: true) {
                if let cs = try? ChangeSetCodec.decode(v), let p = payload(of: cs) {
                    out.append([ChangeSetCodec.encode(cs)[4]] + p)
                }
            }
            return out
        case "bundle":
            var out = vectors.files(kind: "bundle").map { [0] + $0 }
            var bundles = [
                Bundle(
                    sender: h.a, senderAuthor: "Alice", senderVersion: h.version, createdAtMillis: 1_732_550_460_000,
                    changes: h.changes)
            ]
            bundles += vectors.files(kind: "bundle", validOnly: true).compactMap { try? BundleCodec.decode($0) }
            for b in bundles {
                for maxSet in [200, 4 << 20] {
                    let bytes = BundleCodec.encode(b, maxChangeSetBytes: maxSet)
                    out.append([0] + bytes)
                    out.append([1] + bytes.dropLast(4))
                }
            }
            return out
        case "change":
            return h.changes.map(ChangeCodec.encode)
                + vectors.files(kind: "change-set", validOnly: true).flatMap { v in
                    ((try? ChangeSetCodec.decode(v)) ?? []).map(ChangeCodec.encode)
                }
        case "recordstate":
            return h.records.map(RecordStateCodec.encode)
        case "pullrequest":
            return vectors.files(kind: "pull-request") + [
                SyncCodec.encode(PullRequest(replica: h.a, version: h.version, maxBatchBytes: 1 << 20)),
                SyncCodec.encode(PullRequest(replica: h.b, version: VersionVector(), maxBatchBytes: 1)),
            ]
        case "pullresponse":
            return vectors.files(kind: "pull-response") + [
                SyncCodec.encode(PullResponse(replica: h.a, version: h.version, changes: h.changes, remaining: 0)),
                SyncCodec.encode(PullResponse(replica: h.b, version: h.version, changes: Array(h.changes.prefix(2)), remaining: 3)),
            ]
        case "exif":
            let photos = (try? FileManager.default.contentsOfDirectory(atPath: "\(repo)/Tests/StrataCodecTests/Fixtures")) ?? []
            return vectors.files(kind: "exif")
                + photos.sorted().filter { !$0.hasSuffix(".md") }.compactMap {
                    FileManager.default.contents(atPath: "\(repo)/Tests/StrataCodecTests/Fixtures/\($0)").map { [UInt8]($0) }
                }
        case "textdocument":
            return h.records.flatMap { $0.texts.values.map { TextDocumentCodec.encode($0.document) } } + traceDocuments(repo: repo)
        default:
            return []
        }
    }

    /// The uncompressed payload of `changes`: encoded at level 0 a small payload is one stored
    /// deflate block (2 bytes of zlib header, 5 of block header), so it is read from there and
    /// checked by decoding it as a stored change set.
    static func payload(of changes: [Change]) -> [UInt8]? {
        let e = ChangeSetCodec.encode(changes, compressionLevel: 0)
        var i = 6
        var n = 0
        var shift = 0
        while i < e.count {
            n |= Int(e[i] & 0x7F) << shift
            shift += 7
            i += 1
            if e[i - 1] & 0x80 == 0 { break }
        }
        let start = i + 7
        guard n < 0xFFFF, start + n <= e.count else { return nil }
        let p = Array(e[start..<start + n])
        let version = e[4]
        guard let back = try? ChangeSetCodec.decode(FuzzTargets.storedChangeSet(payload: p, version: version)),
            FuzzTargets.same(back, changes)
        else { return nil }
        return p
    }

    /// Documents after the first edits of each trace, typed by three replicas in turn (so runs,
    /// origins and deletes name several replicas), and one with operations buffered because their
    /// dependencies were withheld.
    static func traceDocuments(repo: String) -> [[UInt8]] {
        let replicas = (1...3).map { ReplicaID(high: UInt64($0) << 56, low: UInt64($0)) }
        var out: [[UInt8]] = []
        for name in ["sveltecomponent", "rustcode", "friendsforever_flat", "automerge-paper"] {
            guard let patches = trace(repo: repo, name: name, limit: 600) else { continue }
            var doc = TextDocument()
            var ops: [TextOperation] = []
            for (k, p) in patches.enumerated() {
                let replica = replicas[(k / 40) % replicas.count]
                let length = doc.string.unicodeScalars.count
                let pos = min(p.pos, length)
                if p.del > 0, pos < length, let op = doc.delete(range: pos..<min(length, pos + p.del), replica: replica) {
                    ops.append(op)
                }
                if !p.text.isEmpty, let op = doc.insert(p.text, at: pos, replica: replica) { ops.append(op) }
                if [20, 150, 599].contains(k) { out.append(TextDocumentCodec.encode(doc)) }
            }
            // Withhold every fifth operation: the rest wait in the buffer.
            var partial = TextDocument()
            for (k, op) in ops.enumerated() where k % 5 != 2 { try? partial.apply(op) }
            out.append(TextDocumentCodec.encode(partial))
        }
        return out
    }

    static func trace(repo: String, name: String, limit: Int) -> [(pos: Int, del: Int, text: String)]? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-dc", "\(repo)/Tests/StrataTextTests/Traces/\(name).json.gz"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let txns = json["txns"] as? [[String: Any]]
        else { return nil }
        var out: [(Int, Int, String)] = []
        for t in txns {
            for patch in (t["patches"] as? [[Any]]) ?? [] where patch.count == 3 {
                guard let pos = (patch[0] as? NSNumber)?.intValue, let del = (patch[1] as? NSNumber)?.intValue,
                    let text = patch[2] as? String
                else { continue }
                out.append((pos, del, text))
                if out.count >= limit { return out }
            }
        }
        return out
    }
}

/// Protocol/vectors, read through its manifest.
struct Vectors {
    let repo: String

    func files(kind: String, validOnly: Bool = false) -> [[UInt8]] {
        let root = "\(repo)/Protocol/vectors"
        guard let manifest = try? String(contentsOfFile: "\(root)/MANIFEST.txt", encoding: .utf8) else { return [] }
        return manifest.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count >= 3, !line.hasPrefix("#"), f[1] == kind, !validOnly || f[0] == "valid" else { return nil }
            return FileManager.default.contents(atPath: "\(root)/\(f[2])").map { [UInt8]($0) }
        }
    }
}

/// A seeded two-replica history: notes, sites and artefacts with titles, long texts edited by
/// both replicas, tags added and removed, a location, a delete and a restore, a register
/// conflict, and a change applied before its predecessor (so a key has a pending supersession).
struct History {
    let a = ReplicaID(high: 0x0A0A_0A0A_0A0A_0A0A, low: 0x1111_1111_1111_1111)
    let b = ReplicaID(high: 0x0B0B_0B0B_0B0B_0B0B, low: 0x2222_2222_2222_2222)
    var changes: [Change] = []
    var records: [RecordState] = []
    var version = VersionVector()

    static func make() -> History {
        var h = History()
        var alice = ReplicaModel(id: h.a, author: "Alice")
        var bob = ReplicaModel(id: h.b, author: "Bób")
        var now: UInt64 = 1_732_550_400_000
        var rng = SplitMix(seed: 0x5EED)
        let note = RecordID.v7(unixMillis: now, using: &rng)
        let site = RecordID.v7(unixMillis: now + 1, using: &rng)
        let art = RecordID.v7(unixMillis: now + 2, using: &rng)
        func tick() -> UInt64 {
            now += 1000
            return now
        }
        _ = try? alice.commit(
            [
                .create(note, kind: .note), .set(note, field: "title", .text("Colonnade survey")),
                .set(note, field: "body", .text("The great colonnade.\nSecond line: é, 東京, 🏛.")),
                .add(note, field: "tags", element: "roman"), .add(note, field: "tags", element: "survey"),
            ], now: tick())
        _ = try? alice.commit(
            [
                .create(site, kind: .site), .set(site, field: "name", .text("Temple of Bel")),
                .set(site, field: "location", .location(Location(latitude: 34.5468, longitude: 38.2738, accuracyMetres: 5))),
            ], now: tick())
        _ = try? alice.commit([.create(art, kind: .artefact), .set(art, field: "title", .text("Relief"))], now: tick())
        _ = try? bob.apply(alice.changes(missingFrom: VersionVector()), now: tick())
        _ = try? bob.commit([.appendText(note, field: "body", text: "\nBob was here.")], now: tick())
        _ = try? alice.commit([.set(note, field: "body", .text("The great colonnade, restored.\nSecond line: é."))], now: tick())
        _ = try? bob.commit([.set(note, field: "title", .text("Colonnade (Bob)")), .remove(note, field: "tags", element: "survey")], now: tick())
        _ = try? alice.commit([.set(note, field: "title", .text("Colonnade (Alice)")), .add(note, field: "tags", element: "survey")], now: tick())
        _ = try? bob.commit([.delete(art)], now: tick())
        _ = try? alice.commit([.set(art, field: "title", .text("Relief, broken"))], now: tick())
        _ = try? bob.commit([.set(site, field: "name", .text("Bel"))], now: tick())
        _ = try? bob.commit([.set(site, field: "name", .text("Temple of Bel, cella"))], now: tick())
        // Alice receives Bob's last change before the one it supersedes: a pending supersession.
        let bobs = bob.changes(missingFrom: alice.versionVector)
        if let last = bobs.last { _ = try? alice.apply([last], now: tick()) }
        let aliceRecords = Array(alice.records.values)
        _ = try? alice.apply(bobs, now: tick())
        _ = try? bob.apply(alice.changes(missingFrom: bob.versionVector), now: tick())
        _ = try? bob.commit([.restore(art)], now: tick())
        h.changes = bob.changes(missingFrom: VersionVector()).sorted { $0.timestamp < $1.timestamp }
        h.records = aliceRecords + Array(alice.records.values) + Array(bob.records.values)
        h.version = bob.versionVector
        return h
    }
}

struct SplitMix: RandomNumberGenerator {
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
