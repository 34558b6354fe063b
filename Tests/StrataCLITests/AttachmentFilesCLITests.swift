import Foundation
import StrataCodec
import Testing

/// Attachments on the offline paths, run as a user runs them: bundles carry them, backups and
/// `check` cover them, `export --format zip` writes them.
@Suite("Attachments in bundles, backups, check and the zip export")
struct AttachmentFilesCLITests {
    /// A JPEG-looking file of `bytes` bytes.
    func pdf(_ s: Sandbox, _ name: String) throws -> String {
        let p = s.path(name)
        try Data("%PDF-1.4\nhandover list of the Palmyra museum\n%%EOF\n".utf8).write(to: URL(fileURLWithPath: p))
        return p
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func blobFiles(_ store: String) -> [String] {
        let root = store + ".blobs/sha256"
        let dirs = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return dirs.flatMap { d in ((try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(d)")) ?? []).map { "\(root)/\(d)/\($0)" } }.sorted()
    }

    @Test func aBundleCarriesTheAttachmentsAndTheReceiverGetsThemVerified() throws {
        let s = try Sandbox()
        try s.initStore(author: "Khaled")
        let bust = try s.ok("add", "artefact", "Funerary bust")
        let p1 = try photo(s, "bust-before.jpg")
        let p2 = try pdf(s, "handover.pdf")
        try s.ok("attach", bust, p1, p2, "--caption", "before 2015")
        let create = try s.ok("bundle", "create", s.path("to-maria.bundle"))
        #expect(create.contains("and 2 attachments"), "\(create)")

        let info = try s.ok("bundle", "info", s.path("to-maria.bundle"))
        #expect(info.contains("attachments: 2"), "\(info)")
        #expect(info.contains("\"bust-before.jpg\"") && info.contains("\"handover.pdf\""), "\(info)")

        let maria = s.path("maria.strata")
        try s.initStore(author: "Maria", store: maria)
        let applied = try s.ok("bundle", "apply", s.path("to-maria.bundle"), store: maria)
        #expect(applied.contains("received 2 attachments"), "\(applied)")
        #expect(try s.ok("show", bust, store: maria).contains("[1] bust-before.jpg  image/jpeg, 30 kB, here"))
        try s.ok("get", bust, "1", "-o", s.path("copy.jpg"), store: maria)
        #expect(try bytes(s.path("copy.jpg")) == bytes(p1))
        #expect(try s.ok("check", store: maria).hasSuffix("ok"))

        // Applying it again changes nothing; a bundle without attachments is version 1.
        #expect(try s.ok("bundle", "apply", s.path("to-maria.bundle"), store: maria).contains("2 already here"))
        let plain = try s.ok("bundle", "create", s.path("plain.bundle"), "--no-attachments")
        #expect(plain.contains("left out the bytes of 2 attachments"), "\(plain)")
        #expect(try bytes(s.path("plain.bundle"))[4] == 1)
        #expect(try bytes(s.path("to-maria.bundle"))[4] == 2)
        let omar = s.path("omar.strata")
        try s.initStore(author: "Omar", store: omar)
        try s.ok("bundle", "apply", s.path("plain.bundle"), store: omar)
        #expect(try s.ok("show", bust, store: omar).contains("not downloaded"))
    }

    @Test func aBundleWhoseAttachmentBytesDoNotMatchIsRefusedWholeAndTheStoreIsUnchanged() throws {
        let s = try Sandbox()
        try s.initStore(author: "Khaled")
        let bust = try s.ok("add", "artefact", "Funerary bust")
        let p1 = try photo(s, "a.jpg", seed: 1)
        let p2 = try photo(s, "b.jpg", seed: 2)
        try s.ok("attach", bust, p1, p2)
        try s.ok("bundle", "create", s.path("b.bundle"))
        // Damage the last blob's bytes and recompute the CRC-32 (as a hostile or careless copier
        // could), so that only the hash check can catch it.
        var b = [UInt8](try bytes(s.path("b.bundle")))
        b[b.count - 10] ^= 0x01
        let crc = crc32(b[0..<(b.count - 4)])
        for i in 0..<4 { b[b.count - 4 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        try Data(b).write(to: URL(fileURLWithPath: s.path("bad.bundle")))

        let maria = s.path("maria.strata")
        try s.initStore(author: "Maria", store: maria)
        let before = try s.ok("status", "--json", store: maria)
        let r = try s.run("bundle", "apply", s.path("bad.bundle"), store: maria)
        expectOneLineError(r, containing: "was refused whole, nothing was changed: attachment 2 of 2")
        #expect(r.stderr.contains("hash to"), "\(r.stderr)")
        #expect(try s.ok("status", "--json", store: maria) == before)
        #expect(blobFiles(maria).isEmpty)
        let tmp = (try? FileManager.default.contentsOfDirectory(atPath: maria + ".blobs/tmp")) ?? []
        #expect(tmp.isEmpty, "staged blobs are dropped: \(tmp)")
        #expect(try s.run("show", bust, store: maria).status != 0, "no change was applied")
    }

    @Test func checkVerifiesEveryBlobListsMissingAndUnreferencedOnesAndPrunes() throws {
        let s = try Sandbox()
        try s.initStore()
        let note = try s.ok("add", "note", "Cella wall")
        try s.ok("attach", note, try photo(s, "wall.jpg"))
        #expect(try s.ok("check").contains("1 attachment (30 kB) verified"))

        // A blob no record references (as an attach stopped before its change leaves).
        let extra = s.path("extra.strata")
        try s.initStore(store: extra)
        let other = try s.ok("add", "note", "other", store: extra)
        try s.ok("attach", other, try photo(s, "orphan.jpg", seed: 9), store: extra)
        let orphan = try #require(blobFiles(extra).first)
        let name = (orphan as NSString).lastPathComponent
        let target = s.store + ".blobs/sha256/\(name.prefix(2))"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: orphan, toPath: "\(target)/\(name)")
        let listed = try s.ok("check")
        #expect(listed.contains("1 blob (30 kB) no record references; strata check --prune removes them"), "\(listed)")
        // Pruning keeps what changed in the last 10 minutes (an attach may be in progress).
        #expect(try s.ok("check", "--prune").contains("kept 1"))
        let old = Date(timeIntervalSinceNow: -3600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: "\(target)/\(name)")
        #expect(try s.ok("check", "--prune").contains("removed 1 unreferenced blob"))
        #expect(!FileManager.default.fileExists(atPath: "\(target)/\(name)"))

        // A damaged blob is a problem; a blob not downloaded is a fact.
        let held = try #require(blobFiles(s.store).first)
        var damaged = [UInt8](try bytes(held))
        damaged[100] ^= 0xFF
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: held)
        try Data(damaged).write(to: URL(fileURLWithPath: held))
        let r = try s.run("check")
        #expect(r.status != 0)
        #expect(r.stderr.contains("is damaged"), "\(r.stderr)")
        // Set aside (kept under damaged/), it counts as not here from then on.
        #expect(!FileManager.default.fileExists(atPath: held))
        #expect(FileManager.default.fileExists(atPath: s.store + ".blobs/damaged/" + (held as NSString).lastPathComponent))
        let missing = try s.ok("check")
        #expect(missing.contains("1 attachment (30 kB) named by records is not on this machine (not downloaded yet)"), "\(missing)")
        #expect(missing.contains("1 damaged copy set aside"), "\(missing)")
        #expect(missing.hasSuffix("ok"))
    }

    @Test func backupsCoverAttachmentsAndRestoreBringsThemBack() throws {
        let s = try Sandbox()
        try s.initStore()
        let note = try s.ok("add", "note", "Arch of Triumph")
        let p = try photo(s, "arch.jpg")
        try s.ok("attach", note, p)
        let backup = s.path("backup.strata")
        let out = try s.ok("backup", backup)
        #expect(out.contains("attachments: 1 (30 kB) in \(backup).blobs/, 1 copied now"), "\(out)")
        #expect(try s.ok("backup", "verify", backup).contains("1 attachment (30 kB) verified"))
        // Backing up to the same place again copies only new attachments.
        try s.ok("attach", note, try photo(s, "arch-2.jpg", seed: 5))
        #expect(try s.ok("backup", backup, "--force").contains("attachments: 2 (60 kB) in \(backup).blobs/, 1 copied now"))

        // Restore into a new store: the attachments come back, verified.
        let restored = s.path("restored.strata")
        let r = try s.ok("backup", "restore", backup, store: restored)
        #expect(r.contains("attachments: 2 brought back"), "\(r)")
        try s.ok("get", note, "1", "-o", s.path("back.jpg"), store: restored)
        #expect(try bytes(s.path("back.jpg")) == bytes(p))

        // A damaged attachment in the backup: verify says so and fails.
        let held = try #require(blobFiles(backup).first)
        var d = [UInt8](try bytes(held))
        d[10] ^= 1
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: held)
        try Data(d).write(to: URL(fileURLWithPath: held))
        expectOneLineError(try s.run("backup", "verify", backup), containing: "1 attachment damaged")

        // A backup with no blobs beside it (taken before attachments) still restores.
        try FileManager.default.removeItem(atPath: backup + ".blobs")
        let fromOld = s.path("from-old.strata")
        try s.ok("backup", "restore", backup, store: fromOld)
        #expect(try s.ok("show", note, store: fromOld).contains("not downloaded"))
    }

    @Test func zipExportHoldsRecordsGeoJSONAndAttachmentsNamedByRecordAndCaption() throws {
        let s = try Sandbox()
        try s.initStore()
        // A title with a bidirectional override and a path separator, a caption with separators.
        let site = try s.ok("add", "site", "Temple of Bel\u{202E}/cella", "--set", "location=34.5472,38.2692")
        let p1 = try photo(s, "IMG_0001.jpg")
        let p2 = try pdf(s, "report.pdf")
        try s.ok("attach", site, p1, "--caption", "Cella/east wall\\ before: 2015")
        try s.ok("attach", site, p2)
        let zip = s.path("palmyra.zip")
        try s.ok("export", "--format", "zip", "-o", zip)
        let listing = try unzipListing(zip)
        let names = listing.keys.sorted()
        let folder = names.first { $0.hasPrefix("attachments/") }.map { ($0 as NSString).deletingLastPathComponent } ?? ""
        #expect(folder.hasSuffix(" Temple of Bel-cella"), "\(names)")
        #expect(names.contains("\(folder)/01 Cella-east wall- before- 2015.jpg"), "\(names)")
        #expect(names.contains("\(folder)/02 report.pdf"), "\(names)")
        #expect(names.contains("records.json") && names.contains("records.geojson") && names.contains("attachments.json"))
        for n in names { #expect(!n.unicodeScalars.contains { $0.value == 0x202E || $0.value < 0x20 }, "\(n)") }
        #expect(listing["\(folder)/01 Cella-east wall- before- 2015.jpg"] == (try bytes(p1)))
        #expect(listing["\(folder)/02 report.pdf"] == (try bytes(p2)))
        let geo = String(decoding: listing["records.geojson"] ?? Data(), as: UTF8.self)
        #expect(geo.contains("38.2692"))

        // A real geotagged photo (Tests/StrataCodecTests/Fixtures/README.md).
        let geotagged = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("StrataCodecTests/Fixtures/north-east-le.jpg").path
        try s.ok("attach", site, geotagged, "--caption", "west face")

        // Without positions: no coordinates anywhere, no GeoJSON; a photo is there without its
        // GPS when its position can be removed (the real JPEG), left out when not (the first
        // "photo" is random bytes behind a JPEG signature); the PDF is still there.
        let safe = s.path("safe.zip")
        try s.ok("export", "--format", "zip", "-o", safe, "--no-locations")
        let safeListing = try unzipListing(safe)
        #expect(safeListing["records.geojson"] == nil)
        #expect(!safeListing.keys.contains { $0.hasSuffix("01 Cella-east wall- before- 2015.jpg") })
        let west = try #require(safeListing.first { $0.key.hasSuffix("03 west face.jpg") }?.value, "\(safeListing.keys.sorted())")
        guard case .success(let m) = EXIF.metadata(of: [UInt8](west)) else {
            Issue.record("the stripped photo reads")
            return
        }
        #expect(m.location == nil && m.camera == "Canon EOS 80D")
        #expect(safeListing.keys.contains { $0.hasSuffix("02 report.pdf") })
        let records = String(decoding: safeListing["records.json"] ?? Data(), as: UTF8.self)
        #expect(!records.contains("34.5472") && !records.contains("38.2692"), "\(records)")
        let json = try s.ok("export", "--no-locations")
        #expect(!json.contains("34.5472"))
        expectOneLineError(try s.run("export", "--format", "zip"), containing: "give -o FILE")
    }

    /// Names and bytes of a zip's entries, read by Python's zipfile (another implementation).
    func unzipListing(_ zip: String) throws -> [String: Data] {
        let script = """
            import base64, json, sys, zipfile
            with zipfile.ZipFile(sys.argv[1]) as z:
                assert z.testzip() is None
                print(json.dumps({i.filename: base64.b64encode(z.read(i)).decode() for i in z.infolist()}))
            """
        let r = try runProgram("/usr/bin/env", ["python3", "-c", script, zip], cwd: URL(fileURLWithPath: (zip as NSString).deletingLastPathComponent))
        #expect(r.status == 0, "\(r.stderr)")
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: String])
        return obj.compactMapValues { Data(base64Encoded: $0) }
    }
}

/// CRC-32 (ISO-HDLC), bit by bit: the bundle checksum, recomputed by a test that damages a file.
func crc32(_ bytes: ArraySlice<UInt8>) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        c ^= UInt32(b)
        for _ in 0..<8 { c = (c >> 1) ^ (0xEDB8_8320 & (0 &- (c & 1))) }
    }
    return ~c
}
