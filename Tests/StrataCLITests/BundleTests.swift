import Foundation
import Testing

/// The repository's Protocol/vectors directory.
let vectorsDir: URL = {
    var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
        root = root.deletingLastPathComponent()
    }
    return root.appendingPathComponent("Protocol/vectors")
}()

@Suite("bundles, from the terminal")
struct BundleTests {
    /// What a person can see of a store: every record with its conflicts, and the counts.
    func observable(_ s: Sandbox) throws -> String {
        try s.ok("export", "--format", "json", "--all") + (try s.ok("status", "--json"))
    }

    @Test func badBundlesAreRefusedWithOneLineAndTheStoreIsUnchanged() throws {
        let s = try Sandbox()
        try s.initStore(author: "Maria")
        try s.ok("add", "site", "Citadel", "--set", "condition=poor", "--tag", "unesco")
        let good = s.path("good.bundle")
        try s.ok("bundle", "create", good)
        let goodBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: good)))

        var bad: [(String, [UInt8])] = [
            ("truncated", Array(goodBytes.prefix(goodBytes.count / 2))),
            ("corrupted", goodBytes.enumerated().map { $0.offset == goodBytes.count / 2 ? $0.element ^ 0x40 : $0.element }),
            ("empty", []),
            ("not a bundle", Array("id,kind,title\n".utf8)),
        ]
        for name in ["bd-rej-02-newer-version", "bd-rej-08-zip-bomb", "bd-rej-06-corrupt", "bd-rej-05-trailing-bytes"] {
            bad.append((name, try [UInt8](Data(contentsOf: vectorsDir.appendingPathComponent("invalid/\(name).bin")))))
        }
        let before = try observable(s)
        let storeBytes = try Data(contentsOf: URL(fileURLWithPath: s.store))
        for (name, bytes) in bad {
            let file = s.path("bad.bundle")
            try Data(bytes).write(to: URL(fileURLWithPath: file))
            let r = try s.run("bundle", "apply", file)
            #expect(r.status != 0, "\(name) was accepted")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(name): \(r.stderr)")
            #expect(r.stderr.contains("was not applied"), "\(name): \(r.stderr)")
        }
        let newer = try s.run("bundle", "apply", vectorsDir.appendingPathComponent("invalid/bd-rej-02-newer-version.bin").path)
        #expect(newer.stderr.contains("newer Strata"))
        #expect(newer.stderr.contains("upgrade"))
        let bomb = try s.run("bundle", "apply", vectorsDir.appendingPathComponent("invalid/bd-rej-08-zip-bomb.bin").path)
        #expect(bomb.stderr.contains("limit"))
        let truncated = s.path("t.bundle")
        try Data(goodBytes.prefix(40)).write(to: URL(fileURLWithPath: truncated))
        #expect(try s.run("bundle", "apply", truncated).stderr.contains("copy it again"))
        let missing = try s.run("bundle", "apply", s.path("nope.bundle"))
        #expect(missing.status != 0 && missing.stderr.contains("cannot read"))

        #expect(try observable(s) == before)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.store)) == storeBytes)
        // The good bundle still applies (nothing new: it came from here).
        #expect(try s.ok("bundle", "apply", good).contains("applied 0 new changes"))
    }

    @Test func forPeerSendsOnlyWhatThePeerLacks() throws {
        let s = try Sandbox()
        let a = s.path("a.strata")
        let b = s.path("b.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.initStore(author: "Maria", store: b)
        try s.ok("add", "note", "Arch", store: a)
        try s.ok("bundle", "create", s.path("a1"), store: a)
        try s.ok("bundle", "apply", s.path("a1"), store: b)
        try s.ok("add", "note", "Theatre", store: b)
        // Khaled has never received a bundle from Maria: --for cannot know what she lacks.
        let unknown = try s.run("bundle", "create", s.path("x"), "--for", "maria", store: a)
        #expect(unknown.status != 0 && unknown.stderr.contains("no bundle from 'maria'"))
        try s.ok("bundle", "create", s.path("b1"), "--since-bundle", s.path("a1"), store: b)
        let info = try s.ok("bundle", "info", s.path("b1"), store: a)
        #expect(info.contains("changes:  1 by Maria"))
        try s.ok("bundle", "apply", s.path("b1"), store: a)
        try s.ok("add", "note", "Citadel", store: a)
        // Maria had Khaled's first change: only the new one goes to her.
        #expect(try s.ok("bundle", "create", s.path("a2"), "--for", "Maria", store: a).hasPrefix("wrote 1 change "))
        try s.ok("bundle", "apply", s.path("a2"), store: b)
        #expect(
            try s.ok("export", "--format", "json", store: a) == (try s.ok("export", "--format", "json", store: b)))
        let badSince = try s.run("bundle", "create", s.path("y"), "--since", "garbage", store: a)
        #expect(badSince.status != 0 && badSince.stderr.contains("not a version vector"))
    }

    @Test func aBundleFromAMachineWhoseClockIsYearsAheadIsRefused() throws {
        let s = try Sandbox()
        let a = s.path("a.strata")
        let b = s.path("b.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.initStore(author: "Maria", store: b)
        try s.ok("add", "note", "From the future", store: a, env: ["STRATA_FAKE_NOW": "2031-01-01T00:00:00Z"])
        try s.ok("bundle", "create", s.path("f"), store: a)
        let r = try s.run("bundle", "apply", s.path("f"), store: b)
        #expect(r.status != 0)
        #expect(r.stderr.contains("ahead of this machine's clock"), "\(r.stderr)")
        #expect(try s.ok("list", store: b).isEmpty)
        // The refused bundle's sender is not remembered either (same transaction as the apply).
        let unknown = try s.run("bundle", "create", s.path("x"), "--for", "Khaled", store: b)
        #expect(unknown.status != 0 && unknown.stderr.contains("no bundle from 'Khaled'"))
    }
}
