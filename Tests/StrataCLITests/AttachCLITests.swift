import Foundation
import StrataCodec
import Testing

@Suite("strata attach, show, get, open, detach, caption: run as a user runs them")
struct AttachCLITests {
    @Test func attachShowGetDetachCaption() throws {
        let s = try Sandbox()
        try s.initStore()
        let bust = try s.ok("add", "artefact", "Funerary bust of a woman", "--set", "state=in-situ")
        let p = try photo(s, "bust-east.jpg", bytes: 20_000)
        let out = try s.ok("attach", bust, p, "--caption", "The bust from the east, before")
        #expect(out.contains("attached [1] bust-east.jpg  image/jpeg, 20 kB"))
        let shown = try s.ok("show", bust)
        #expect(shown.contains("[1] bust-east.jpg  image/jpeg, 20 kB, here"))
        #expect(shown.contains("caption: The bust from the east, before"))
        let json = try #require(try s.run("show", bust, "--json").json() as? [String: Any])
        let atts = try #require(json["attachments"] as? [[String: Any]])
        #expect(atts.count == 1)
        #expect(atts[0]["bytes_here"] as? String == "here")
        #expect((atts[0]["hash"] as? String)?.count == 64)
        #expect(atts[0]["size"] as? Int == 20_004)

        // get: a verified copy, never over an existing file unless asked.
        try s.ok("get", bust, "1", "-o", s.path("copy.jpg"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("copy.jpg"))) == Data(contentsOf: URL(fileURLWithPath: p)))
        expectOneLineError(try s.run("get", bust, "1", "-o", s.path("copy.jpg")), containing: "exists")
        try s.ok("get", bust, "1", "-o", s.path("copy.jpg"), "--force")
        expectOneLineError(try s.run("get", bust, "2", "-o", s.path("x.jpg")), containing: "has no attachment 2; it has 1 (number 1)")

        // open: through $STRATA_OPENER, on a private copy.
        let opener = try s.editorScript("opener.sh", "cp \"$1\" \(s.path("opened.jpg"))")
        let opened = try s.ok("open", bust, env: ["STRATA_OPENER": opener])
        #expect(opened.contains("opened bust-east.jpg"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("opened.jpg"))) == Data(contentsOf: URL(fileURLWithPath: p)))
        expectOneLineError(
            try s.run("open", bust, env: ["STRATA_OPENER": "no-such-opener-here"]), containing: "no-such-opener-here was not found")

        let again = try s.ok("attach", bust, p)
        #expect(again.contains("(already attached)"))
        #expect(try s.ok("show", bust).contains("caption: The bust from the east, before"), "attaching again keeps the caption")
        try s.ok("caption", bust, "1", "The bust, east face")
        #expect(try s.ok("show", bust).contains("caption: The bust, east face"))
        #expect(try s.ok("search", "east").contains("Funerary bust"))
        try s.ok("detach", bust, "1")
        let history = try s.ok("history", bust, "--field", "attachments")
        #expect(history.contains("attached bust-east.jpg (20 kB): The bust from the east, before"))
        #expect(history.contains("captioned bust-east.jpg: The bust, east face"))
        #expect(history.contains("detached bust-east.jpg"))
        #expect(try s.ok("show", bust).contains("attachments: (none)"))
        // Reversible: attach the same file again.
        try s.ok("attach", bust, p)
        #expect(try s.ok("show", bust).contains("[1] bust-east.jpg"))
        #expect(try s.ok("check").hasSuffix("\nok"), "the attachment is verified, then ok")
    }

    /// A photo made by ImageMagick and exiftool (Tests/StrataCodecTests/Fixtures/README.md).
    static let geotagged = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("StrataCodecTests/Fixtures/north-east-le.jpg").path

    @Test func aPhotosEXIFIsShownAndItsPositionCanBeLeftOut() throws {
        let s = try Sandbox()
        try s.initStore()
        let bel = try s.ok("add", "site", "Temple of Bel")
        let out = try s.ok("attach", bel, Self.geotagged, "--caption", "Cella from the east")
        #expect(out.contains("taken 2015-05-20T14:32:07+03:00 at 34.5472,38.2681,5 with Canon EOS 80D"), "\(out)")
        let shown = try s.ok("show", bel)
        #expect(shown.contains("taken 2015-05-20T14:32:07+03:00 at 34.5472,38.2681,5 with Canon EOS 80D"), "\(shown)")
        #expect(try s.ok("search", "canon").contains("Temple of Bel"), "the camera is searchable")

        let cella = try s.ok("add", "site", "Cella wall")
        let stripped = try s.ok("attach", cella, Self.geotagged, "--strip-location")
        #expect(stripped.contains("position removed from the stored copy"))
        #expect(!stripped.contains(" at 34.5472"))
        try s.ok("get", cella, "1", "-o", s.path("stripped.jpg"))
        let copy = [UInt8](try Data(contentsOf: URL(fileURLWithPath: s.path("stripped.jpg"))))
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Self.geotagged)))
        #expect(copy != original)
        guard case .success(let m) = EXIF.metadata(of: copy) else {
            Issue.record("the stripped copy still reads")
            return
        }
        #expect(m.location == nil)
        #expect(m.camera == "Canon EOS 80D", "everything but the position stays")
        let json = try #require(try s.run("show", cella, "--json").json() as? [String: Any])
        let att = try #require((json["attachments"] as? [[String: Any]])?.first)
        #expect(att["location"] is NSNull)
        #expect(att["taken_at"] as? String == "2015-05-20T14:32:07+03:00")
    }

    @Test func badFilesGetOneClearLine() throws {
        let s = try Sandbox()
        try s.initStore()
        let note = try s.ok("add", "note", "Cella wall")
        expectOneLineError(try s.run("attach", note, s.path("nope.jpg")), containing: "no file at")
        try FileManager.default.createDirectory(atPath: s.path("photos"), withIntermediateDirectories: true)
        expectOneLineError(try s.run("attach", note, s.path("photos")), containing: "is a folder")
        FileManager.default.createFile(atPath: s.path("empty.jpg"), contents: Data())
        expectOneLineError(try s.run("attach", note, s.path("empty.jpg")), containing: "is empty (0 bytes)")
        let hostile = s.path("photo\u{202E}gpj.exe")
        FileManager.default.createFile(atPath: hostile, contents: Data("x".utf8))
        let r = try s.run("attach", note, hostile)
        expectOneLineError(r, containing: "bidirectional control character (U+202E)")
        #expect(!r.stderr.contains("\u{202E}"), "the hostile character is shown escaped, never printed raw")
        #expect(try s.ok("show", note).contains("attachments: (none)"))
    }

    @Test func aHostileTitleIsShownEscapedOnTheTerminalAndKeptInJSON() throws {
        let s = try Sandbox()
        try s.initStore()
        let id = try s.ok("add", "note", "Report\u{202E}gpj.exe")
        let shown = try s.ok("show", id)
        #expect(shown.contains("Report<U+202E>gpj.exe"))
        #expect(!shown.contains("\u{202E}"))
        #expect(!(try s.ok("list")).contains("\u{202E}"))
        let json = try #require(try s.run("show", id, "--json").json() as? [String: Any])
        #expect(json["title"] as? String == "Report\u{202E}gpj.exe", "JSON keeps what was written")
    }
}
