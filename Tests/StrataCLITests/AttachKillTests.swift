import Foundation
import Testing

/// `strata attach` killed with SIGKILL at many points: no attachment or a whole one, never a
/// record naming a blob that is not whole; and two processes attaching one file at once.
@Suite("killed mid-attach", .serialized)
struct AttachKillTests {
    /// A file of `megabytes` MiB of seeded bytes (so attach takes long enough to be killed
    /// while it copies and hashes).
    func bigFile(_ s: Sandbox, _ name: String, megabytes: Int, seed: UInt64) throws -> String {
        let p = s.path(name)
        FileManager.default.createFile(atPath: p, contents: nil)
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: p))
        var x = seed
        for _ in 0..<megabytes {
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            for i in stride(from: 0, to: chunk.count, by: 8) {
                x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                withUnsafeBytes(of: x) { for j in 0..<8 { chunk[i + j] = $0[j] } }
            }
            h.write(Data(chunk))
        }
        try h.close()
        return p
    }

    func start(_ args: [String], store: String) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: strataBinary)
        p.arguments = args + ["--store", store]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// The record's attachments as `show --json` lists them: (hash, bytes here).
    func attachments(_ s: Sandbox, _ id: String) throws -> [(hash: String, here: String)] {
        let json = try #require(try s.run("show", id, "--json").json() as? [String: Any])
        let atts = try #require(json["attachments"] as? [[String: Any]])
        return atts.map { (($0["hash"] as? String) ?? "", ($0["bytes_here"] as? String) ?? "") }
    }

    /// Every file under sha256/ hashes to its name (read by `check`, which fails otherwise).
    func expectConsistent(_ s: Sandbox, _ id: String, after what: String) throws {
        let check = try s.run("check")
        #expect(check.status == 0, "check after \(what): \(check.stderr)")
        #expect(!check.stderr.contains("damaged"), "after \(what): \(check.stderr)")
        for a in try attachments(s, id) {
            #expect(a.here == "here", "after \(what): the record names \(a.hash.prefix(12)), which is not whole here (\(a.here))")
        }
    }

    @Test func aKillAtAnyPointOfAttachLeavesNoAttachmentOrAWholeOne() throws {
        let s = try Sandbox()
        try s.initStore()
        let note = try s.ok("add", "note", "Colonnade survey")
        let rounds = Int(ProcessInfo.processInfo.environment["STRATA_KILL_ROUNDS"] ?? "") ?? 12
        var attachedBeforeKill = 0
        var killedMidway = 0
        var killedWhole = 0  // killed, yet the attachment was whole and recorded
        var killedNone = 0  // killed before the change was written: no attachment
        let base = try bigFile(s, "scan.tif", megabytes: 16, seed: 1)
        for round in 0..<rounds {
            // A new file each round (its first bytes are the round's number: a new blob), so
            // every round can be cut anywhere.
            let file = s.path("scan-\(round).tif")
            try FileManager.default.copyItem(atPath: base, toPath: file)
            let h = try FileHandle(forWritingTo: URL(fileURLWithPath: file))
            h.write(Data(withUnsafeBytes(of: UInt64(round + 1)) { Array($0) }))
            try h.close()
            let before = try attachments(s, note).count
            let p = try start(["attach", note, file], store: s.store)
            // Kill points spread over process start, the copy and hash, the rename and the
            // commit (a 16 MiB attach takes about 0.15 s here).
            Thread.sleep(forTimeInterval: 0.005 + 0.015 * Double(round % 12))
            if p.isRunning {
                kill(p.processIdentifier, SIGKILL)
                killedMidway += 1
            }
            p.waitUntilExit()
            if p.terminationReason == .exit && p.terminationStatus == 0 { attachedBeforeKill += 1 }
            try expectConsistent(s, note, after: "kill round \(round)")
            let after = try attachments(s, note).count
            #expect(after == before || after == before + 1)
            if p.terminationReason == .uncaughtSignal { if after > before { killedWhole += 1 } else { killedNone += 1 } }
            try FileManager.default.removeItem(atPath: file)
        }
        #expect(killedMidway > 0, "no attach was killed while running: the file is too small for this machine")
        // Whatever the kills left, attaching works and check --prune clears what was stopped.
        let last = try bigFile(s, "final.tif", megabytes: 2, seed: 99)
        try s.ok("attach", note, last)
        try expectConsistent(s, note, after: "the final attach")
        let stray = (try? FileManager.default.contentsOfDirectory(atPath: s.store + ".blobs/tmp"))?.count ?? 0
        print(
            "attach kill test: \(rounds) rounds, \(killedMidway) killed while running (\(killedNone) left no attachment, "
                + "\(killedWhole) a whole one), \(attachedBeforeKill) finished first; \(stray) stray files under tmp/ for check --prune")
    }

    @Test func twoProcessesAttachingTheSameFileAtOnceBothSucceedWithOneBlob() throws {
        let s = try Sandbox()
        try s.initStore()
        let note = try s.ok("add", "note", "Theatre")
        let file = try bigFile(s, "theatre.jpg", megabytes: 8, seed: 7)
        for round in 0..<3 {
            let a = try start(["attach", note, file], store: s.store)
            let b = try start(["attach", note, file], store: s.store)
            a.waitUntilExit()
            b.waitUntilExit()
            #expect(a.terminationStatus == 0 && b.terminationStatus == 0, "round \(round)")
            let atts = try attachments(s, note)
            #expect(atts.count == 1, "one attachment, not two: \(atts)")
            try expectConsistent(s, note, after: "concurrent attach round \(round)")
            let root = s.store + ".blobs/sha256"
            let blobs = try FileManager.default.contentsOfDirectory(atPath: root).flatMap {
                try FileManager.default.contentsOfDirectory(atPath: "\(root)/\($0)")
            }
            #expect(blobs.count == 1, "one blob: \(blobs)")
            try s.ok("detach", note, "1")
        }
    }
}
