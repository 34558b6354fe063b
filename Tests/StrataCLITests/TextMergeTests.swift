import Foundation
import Testing

/// Two researchers editing one note offline, from the terminal: `strata edit` and `strata
/// append` become character edits, and after exchanging bundles both keep every word.
@Suite("long texts, from the terminal")
struct TextMergeTests {
    @Test func twoResearchersEditOneNoteOfflineAndBothKeepTheirWords() throws {
        let s = try Sandbox()
        let khaled = s.path("khaled.strata")
        let maria = s.path("maria.strata")
        try s.initStore(author: "Khaled", store: khaled)
        try s.initStore(author: "Maria", store: maria)
        let id = try s.ok(
            "add", "note", "Temple of Bel", "--body", "The cella was blown up in August 2015.\n\nThe theatre is intact.",
            store: khaled)
        try s.ok("bundle", "create", s.path("k1.bundle"), store: khaled)
        try s.ok("bundle", "apply", s.path("k1.bundle"), store: maria)

        // Offline: Khaled rewrites the first paragraph in his editor; Maria edits the second
        // in hers, then appends a paragraph.
        let k = try s.editorScript("k.sh", #"sed -i 's/blown up/destroyed by explosives/' "$1""#)
        #expect(try s.ok("edit", id, store: khaled, env: ["EDITOR": k]) == "updated \(id)")
        let m = try s.editorScript("m.sh", #"sed -i 's/is intact/was damaged in 2017/' "$1""#)
        #expect(try s.ok("edit", id, store: maria, env: ["EDITOR": m]) == "updated \(id)")
        #expect(
            try s.ok("append", id, "Satellite images of 31 August 2015 confirm it.", store: maria)
                == "appended 46 characters to the body of \(id)")
        // The same sentence, concurrently: both insert words at different places.
        try s.ok("append", id, "Sources: DGAM.", store: khaled)
        try s.ok("bundle", "create", s.path("k2.bundle"), "--since-bundle", s.path("k1.bundle"), store: khaled)
        try s.ok("bundle", "create", s.path("m2.bundle"), store: maria)
        try s.ok("bundle", "apply", s.path("m2.bundle"), store: khaled)
        try s.ok("bundle", "apply", s.path("k2.bundle"), store: maria)

        func body(_ store: String) throws -> String {
            let obj = try #require(try s.run("show", id, "--json", store: store).json() as? [String: Any])
            return try #require((obj["fields"] as? [String: Any])?["body"] as? String)
        }
        let merged = try body(khaled)
        #expect(try body(maria) == merged)
        #expect(merged.hasPrefix("The cella was destroyed by explosives in August 2015.\n\nThe theatre was damaged in 2017.\n\n"))
        #expect(merged.contains("Satellite images of 31 August 2015 confirm it."))
        #expect(merged.contains("Sources: DGAM."))
        #expect(!merged.contains("blown up") && !merged.contains("intact"))
        #expect(try s.ok("conflicts", store: khaled) == "no conflicts")
        #expect(try s.ok("check", store: maria) == "ok")
        let history = try s.ok("history", id, store: maria)
        #expect(history.contains("edited +23 −8: “destroyed by explosives”"), "\(history)")
        #expect(try s.ok("search", "explosives", store: maria).contains(id))
    }

    @Test func appendExplainsWhatIsWrong() throws {
        let s = try Sandbox()
        try s.initStore()
        let id = try s.ok("add", "artefact", "Funerary bust")
        expectOneLineError(try s.run("append", id, "  \n"), containing: "the paragraph is empty")
        expectOneLineError(try s.run("append", id, "x", "--field", "state"), containing: "append adds to description")
        expectOneLineError(try s.run("append", id, "x", "--field", "colour"), containing: "has no field 'colour'")
        #expect(try s.ok("append", id, "Limestone.") == "appended 10 characters to the description of \(id)")
        let fromStdin = try strata(["append", id, "-"], env: ["STRATA_STORE": s.store], cwd: s.dir, stdin: "Moved to Damascus in 2015.\n")
        #expect(fromStdin.status == 0, "\(fromStdin.stderr)")
        let obj = try #require(try s.run("show", id, "--json").json() as? [String: Any])
        #expect((obj["fields"] as? [String: Any])?["description"] as? String == "Limestone.\n\nMoved to Damascus in 2015.")
    }
}
