import Foundation
import StrataCodec
import Testing

@Suite("strata, run as a user runs it")
struct CLITests {
    @Test func versionIsTheReleaseTheHTTPClientNames() throws {
        let s = try Sandbox()
        #expect(try s.ok("--version") == StrataRelease.version)
        #expect(StrataRelease.userAgent == "strata/\(StrataRelease.version)")
    }

    @Test func initCreatesAStoreOnceAndStatusReportsIt() throws {
        let s = try Sandbox()
        let out = try s.ok("init", "--author", "Khaled")
        #expect(out.contains("created replica"))
        #expect(out.contains(s.store))
        expectOneLineError(try s.run("init", "--author", "Maria"), containing: "already exists")
        let status = try #require(try s.run("status", "--json").json() as? [String: Any])
        #expect(status["author"] as? String == "Khaled")
        #expect(status["records"] as? Int == 0)
        #expect((status["replica"] as? String)?.count == 32)
        #expect(try s.ok("check") == "ok")
        // --store wins over $STRATA_STORE.
        let other = s.path("other.strata")
        try s.ok("init", "--author", "Maria", "--store", other)
        try s.ok("init", "--store", s.path("third.strata"), "--author", "Lina")
        #expect(FileManager.default.fileExists(atPath: other))
        #expect(FileManager.default.fileExists(atPath: s.path("third.strata")))
    }

    @Test func addEachKindAndList() throws {
        let s = try Sandbox()
        try s.initStore()
        let site = try s.ok(
            "add", "site", "Palmyra", "--set", "location=34.5505,38.2684,25", "--set", "condition=poor",
            "--set", "designations=UNESCO World Heritage (1980)", "--tag", "unesco")
        #expect(site.count == 7)
        let bust = try s.ok(
            "add", "artefact", "Funerary bust of a woman", "--set", "state=Moved for safekeeping",
            "--set", "current_location=Damascus", "--rel", "origin:\(site)", "--tag", "museum")
        let temple = try s.ok("add", "artefact", "Temple of Bel cella", "--set", "state=destroyed", "--tag", "temple-of-bel")
        let note = try s.ok(
            "add", "note", "Theatre visit", "--body", "The theatre stage is intact.\nThe citadel is at risk.",
            "--set", "observed_at=2016-03-27", "--rel", "about:\(site)")
        let link = try s.ok(
            "add", "link", "Palmyra's Temple of Bel destroyed", "--set", "url=https://example.org/news/bel",
            "--set", "publisher=Example News", "--set", "issued=2015-08-31", "--rel", "reports-on:\(temple)")
        let all = try s.ok("list")
        for id in [site, bust, temple, note, link] { #expect(all.contains(id)) }
        #expect(all.contains("moved-for-safekeeping"))
        #expect(all.contains("#unesco"))

        let artefacts = try s.ok("list", "--kind", "artefact")
        #expect(artefacts.split(separator: "\n").count == 2)
        #expect(!artefacts.contains(site))
        #expect(try s.ok("list", "--tag", "museum").split(separator: "\n").count == 1)
        #expect(try s.ok("list", "--state", "destroyed").contains(temple))
        expectOneLineError(try s.run("list", "--state", "lost"), containing: "allowed values")
        let related = try s.ok("list", "--site", site)
        #expect(related.contains(bust) && related.contains(note) && related.contains(site))
        #expect(!related.contains(temple))
        #expect(try s.ok("list", "--text", "citadel").contains(note))
        #expect(try s.ok("list", "--limit", "2").split(separator: "\n").count == 2)
        let json = try #require(try s.run("list", "--kind", "site", "--json").json() as? [[String: Any]])
        #expect(json.count == 1)
        #expect(json.first?["title"] as? String == "Palmyra")
        let status = try #require(try s.run("status", "--json").json() as? [String: Any])
        #expect(status["records"] as? Int == 5)
        #expect(status["changes"] as? Int == 5)  // one change per command
    }

    @Test func validationErrorsAreOneLineAndListWhatIsAllowed() throws {
        let s = try Sandbox()
        try s.initStore()
        expectOneLineError(
            try s.run("add", "artefact", "Bust", "--set", "state=vanished"),
            containing: "allowed values: in-situ, moved-for-safekeeping")
        expectOneLineError(try s.run("add", "artefact", "Bust", "--set", "colour=red"), containing: "object_type")
        expectOneLineError(try s.run("add", "statue", "Bust"), containing: "note, artefact, site, link")
        expectOneLineError(try s.run("add", "site", "X", "--set", "location=200,1"), containing: "out of range")
        expectOneLineError(try s.run("add", "link", "X", "--set", "url=example.org"), containing: "https://")
        expectOneLineError(try s.run("add", "note", "X", "--rel", "likes:abcd1234"), containing: "allowed relations")
        #expect(try s.ok("list").isEmpty)  // nothing was written
        let id = try s.ok("add", "artefact", "Bust")
        expectOneLineError(try s.run("set", id, "condition", "splendid"), containing: "good, fair, poor")
        expectOneLineError(try s.run("set", id, "colour", "red"), containing: "its fields are")
        expectOneLineError(try s.run("show", "zzzzzzz"), containing: "no record matches")
        expectOneLineError(try s.run("show", "ab"), containing: "too short")
        expectOneLineError(try s.run("show", "not-an-id!"), containing: "not a record id")
        expectOneLineError(
            try s.run("list", store: s.path("missing/none.strata")), containing: "strata init --author NAME")
    }

    @Test func ambiguousPrefixListsTheCandidates() throws {
        let s = try Sandbox()
        try s.initStore()
        // Import lets us choose ids that share a prefix.
        let a = "abcd" + String(repeating: "0", count: 22)
        let b = "abcd" + String(repeating: "1", count: 21) + "0"
        let file = s.path("two.json")
        try Data(
            """
            [{"id": "\(a)", "kind": "note", "fields": {"title": "one"}},
             {"id": "\(b)", "kind": "note", "fields": {"title": "two"}}]
            """.utf8
        ).write(to: URL(fileURLWithPath: file))
        try s.ok("import", file)
        expectOneLineError(try s.run("show", "abcd"), containing: "matches 2 records")
        #expect(try s.ok("show", "abcd1").contains("two"))
    }

    @Test func showJSONHasFieldsRelationsProvenance() throws {
        let s = try Sandbox()
        try s.initStore(author: "Khaled al-Asaad")
        let site = try s.ok("add", "site", "Palmyra", "--set", "location=34.5505,38.2684,25")
        let bust = try s.ok("add", "artefact", "Bust", "--set", "state=moved-for-safekeeping", "--rel", "origin:\(site)", "--tag", "museum")
        let obj = try #require(try s.run("show", bust, "--json").json() as? [String: Any])
        #expect(obj["kind"] as? String == "artefact")
        #expect(obj["short"] as? String == bust)
        #expect((obj["id"] as? String)?.hasPrefix(bust) == true)
        let fields = try #require(obj["fields"] as? [String: Any])
        #expect(fields["state"] as? String == "moved-for-safekeeping")
        #expect(obj["tags"] as? [String] == ["museum"])
        let rels = try #require(obj["relations"] as? [[String: Any]])
        #expect(rels.first?["type"] as? String == "origin")
        #expect(rels.first?["target_title"] as? String == "Palmyra")
        let created = try #require(obj["created"] as? [String: Any])
        #expect(created["by"] as? String == "Khaled al-Asaad")
        #expect((created["at"] as? String)?.hasSuffix("Z") == true)
        #expect(obj["deleted"] as? Bool == false)
        #expect((obj["conflicts"] as? [Any])?.isEmpty == true)
        let siteObj = try #require(try s.run("show", site, "--json").json() as? [String: Any])
        let loc = try #require((siteObj["fields"] as? [String: Any])?["location"] as? [String: Any])
        #expect(loc["lat"] as? Double == 34.5505)
        #expect(loc["lon"] as? Double == 38.2684)
        #expect((loc["accuracy"] as? NSNumber)?.doubleValue == 25)
        let text = try s.ok("show", bust)
        #expect(text.contains("origin") && text.contains("Palmyra") && text.contains("created:"))
    }

    @Test func setTagRelateRemoveRestore() throws {
        let s = try Sandbox()
        try s.initStore()
        let site = try s.ok("add", "site", "Palmyra")
        let id = try s.ok("add", "artefact", "Relief")
        try s.ok("set", id, "state", "looted")
        try s.ok("set", id, "Object Type", "relief")
        #expect(try s.ok("set", id, "state", "looted") == "nothing changed")
        try s.ok("tag", id, "palmyra", "Looting")
        try s.ok("relate", id, "origin", site)
        var obj = try #require(try s.run("show", id, "--json").json() as? [String: Any])
        var fields = try #require(obj["fields"] as? [String: Any])
        #expect(fields["state"] as? String == "looted")
        #expect(fields["object_type"] as? String == "relief")
        #expect(obj["tags"] as? [String] == ["looting", "palmyra"])
        #expect((obj["relations"] as? [[String: Any]])?.count == 1)

        try s.ok("set", id, "state", "")  // clears
        try s.ok("tag", id, "looting", "--remove")
        try s.ok("relate", id, "origin", site, "--remove")
        obj = try #require(try s.run("show", id, "--json").json() as? [String: Any])
        fields = try #require(obj["fields"] as? [String: Any])
        #expect(fields["state"] == nil)
        #expect(obj["tags"] as? [String] == ["palmyra"])
        #expect((obj["relations"] as? [Any])?.isEmpty == true)

        try s.ok("rm", id)
        #expect(!(try s.ok("list")).contains(id))
        #expect(try s.ok("list", "--deleted").contains("(deleted)"))
        expectOneLineError(try s.run("set", id, "state", "missing"), containing: "is deleted; `strata restore \(id)` first")
        expectOneLineError(try s.run("tag", id, "x"), containing: "strata restore")
        try s.ok("restore", id)
        #expect(try s.ok("list").contains(id))
        try s.ok("set", id, "state", "recovered")
    }

    @Test func searchFindsTextInAnyField() throws {
        let s = try Sandbox()
        try s.initStore()
        let a = try s.ok("add", "note", "Citadel", "--body", "Fakhr-al-Din al-Maani castle overlooks the ruins")
        let b = try s.ok("add", "artefact", "Lion of al-Lat", "--set", "materials=limestone")
        #expect(try s.ok("search", "castle").contains(a))
        #expect(try s.ok("search", "limestone").contains(b))
        #expect(try s.ok("search", "nothing-like-this").isEmpty)
        let json = try #require(try s.run("search", "lion", "--json").json() as? [[String: Any]])
        #expect(json.first?["short"] as? String == b)
        try s.ok("rm", b)
        let gone = try s.run("search", "limestone")
        #expect(gone.status == 0 && gone.stdout.isEmpty)
        #expect(gone.stderr == "no records match 'limestone' (deleted records too: --all)\n")
        #expect(try s.ok("search", "limestone", "--all").contains(b))
    }

    @Test func editWithAScriptedEditorCommitsOnlyTheChanges() throws {
        let s = try Sandbox()
        try s.initStore()
        let id = try s.ok(
            "add", "artefact", "Funerary bust", "--set", "state=in-situ", "--set", "materials=limestone",
            "--body", "Carved.\n\n# not a comment: kept", "--tag", "palmyra")
        let editor = try s.editorScript(
            "ed.sh",
            #"sed -i -e 's/^state:.*/state: moved for safekeeping/' -e 's/^tags:.*/tags: palmyra, damascus/' -e 's/^keeper:.*/keeper: DGAM/' "$1""#
        )
        #expect(try s.ok("edit", id, env: ["EDITOR": editor]) == "updated \(id)")
        let obj = try #require(try s.run("show", id, "--json").json() as? [String: Any])
        let fields = try #require(obj["fields"] as? [String: Any])
        #expect(fields["state"] as? String == "moved-for-safekeeping")
        #expect(fields["keeper"] as? String == "DGAM")
        #expect(fields["materials"] as? String == "limestone")
        #expect(fields["description"] as? String == "Carved.\n\n# not a comment: kept")
        #expect(obj["tags"] as? [String] == ["damascus", "palmyra"])
        // One change for the whole edit, touching only state, keeper and the tag.
        let history = try #require(try s.run("history", id, "--json").json() as? [[String: Any]])
        let last = history.filter { $0["change"] as? String == history.last?["change"] as? String }
        #expect(Set(last.compactMap { $0["field"] as? String }) == ["state", "keeper", "tags"])

        // Saving without changes.
        #expect(try s.ok("edit", id, env: ["EDITOR": "true"]) == "nothing changed")
        // The editor failing aborts.
        expectOneLineError(try s.run("edit", id, env: ["EDITOR": "false"]), containing: "exited with status 1")

        // An invalid value: nothing written, the text is kept in a recovery file.
        let bad = try s.editorScript(
            "bad.sh", #"sed -i -e 's/^condition:.*/condition: splendid/' -e 's/^maker:.*/maker: unknown workshop/' "$1""#)
        let r = try s.run("edit", id, env: ["EDITOR": bad])
        expectOneLineError(r, containing: "good, fair, poor")
        let path = try #require(
            r.stderr.components(separatedBy: "kept in ").last?.components(separatedBy: " ").first)
        let kept = try String(contentsOfFile: path, encoding: .utf8)
        #expect(kept.contains("condition: splendid"))
        #expect(kept.contains("maker: unknown workshop"))
        #expect((try #require(try s.run("show", id, "--json").json() as? [String: Any])["fields"] as? [String: Any])?["maker"] == nil)
        // Continue from the recovery file after fixing it.
        let fix = try s.editorScript("fix.sh", #"sed -i -e 's/^condition:.*/condition: poor/' "$1""#)
        #expect(try s.ok("edit", id, "--from", path, env: ["EDITOR": fix]) == "updated \(id)")
        let fixed = try #require(try s.run("show", id, "--json").json() as? [String: Any])["fields"] as? [String: Any]
        #expect(fixed?["condition"] as? String == "poor")
        #expect(fixed?["maker"] as? String == "unknown workshop")

        // Unknown field in the text.
        let unknown = try s.editorScript("unknown.sh", #"sed -i '1i colour: red' "$1""#)
        expectOneLineError(try s.run("edit", id, env: ["EDITOR": unknown]), containing: "has no field 'colour'")
    }

    @Test func addWithEditorUsesTheTemplate() throws {
        let s = try Sandbox()
        try s.initStore()
        let site = try s.ok("add", "site", "Palmyra")
        let editor = try s.editorScript(
            "new.sh",
            """
            sed -i -e 's/^title:.*/title: Arch of Victory/' -e 's/^rel:.*/rel: about \(site)/' "$1"
            printf 'Blown up in October 2015.\\n' >> "$1"
            """)
        let id = try s.ok("add", "note", "--edit", env: ["EDITOR": editor])
        let obj = try #require(try s.run("show", id, "--json").json() as? [String: Any])
        #expect(obj["title"] as? String == "Arch of Victory")
        #expect((obj["fields"] as? [String: Any])?["body"] as? String == "Blown up in October 2015.")
        #expect((obj["relations"] as? [[String: Any]])?.first?["target_short"] as? String == site)
        #expect(try s.ok("add", "note", "--edit", env: ["EDITOR": "true"]).contains("no record added"))
    }

    @Test func historyShowsWhoWhenWhere() throws {
        let s = try Sandbox()
        try s.initStore(author: "Maria")
        let status = try #require(try s.run("status", "--json").json() as? [String: Any])
        let replica = String(try #require(status["replica"] as? String).prefix(8))
        let id = try s.ok("add", "artefact", "Bust", "--set", "state=in-situ")
        try s.ok("set", id, "state", "looted")
        try s.ok("tag", id, "evidence")
        try s.ok("rm", id)
        try s.ok("restore", id)
        let text = try s.ok("history", id)
        #expect(text.contains("Maria"))
        #expect(text.contains(replica))
        #expect(text.contains("created as artefact"))
        #expect(text.contains("set to looted"))
        #expect(text.contains("added evidence"))
        #expect(text.contains("deleted"))
        #expect(text.contains("restored"))
        let state = try s.ok("history", id, "--field", "state")
        #expect(state.split(separator: "\n").count == 2)
        let json = try #require(try s.run("history", id, "--json").json() as? [[String: Any]])
        #expect(json.allSatisfy { $0["author"] as? String == "Maria" })
        #expect(json.allSatisfy { ($0["at"] as? String)?.hasSuffix("Z") == true })
    }

    @Test func exportInAllFourFormats() throws {
        let s = try Sandbox()
        try s.initStore()
        let site = try s.ok("add", "site", "Palmyra", "--set", "location=34.5505,38.2684", "--tag", "unesco")
        try s.ok("add", "artefact", "Bust, \"the beauty\"", "--set", "state=missing", "--body", "line one\nline two", "--rel", "origin:\(site)")
        try s.ok("add", "note", "No location")

        let json = try #require(try s.run("export").json() as? [[String: Any]])
        #expect(json.count == 3)
        #expect(try s.run("export").stdout == (try s.run("export", "--format", "json").stdout))  // deterministic

        let csv = try s.ok("export", "--format", "csv")
        let header = try #require(csv.components(separatedBy: "\r\n").first)
        #expect(header.hasPrefix("id,kind,title,"))
        #expect(header.contains(",state,") && header.contains(",tags,"))
        #expect(csv.contains("\"Bust, \"\"the beauty\"\"\""))
        #expect(csv.contains("\"line one\nline two\""))

        let geo = try #require(try s.run("export", "--format", "geojson").json() as? [String: Any])
        #expect(geo["type"] as? String == "FeatureCollection")
        let features = try #require(geo["features"] as? [[String: Any]])
        #expect(features.count == 1)
        let coords = (features.first?["geometry"] as? [String: Any])?["coordinates"] as? [Double]
        #expect(coords == [38.2684, 34.5505])
        let props = try #require(features.first?["properties"] as? [String: Any])
        #expect(props["title"] as? String == "Palmyra")
        #expect(props["kind"] as? String == "site")
        #expect(props["tags"] as? [String] == ["unesco"])

        let md = try s.ok("export", "--format", "markdown", "--kind", "artefact")
        #expect(md.contains("## Bust"))
        #expect(md.contains("- **state**: missing"))
        #expect(md.contains("line one\nline two"))
        #expect(!md.contains("Palmyra\n"))

        let file = s.path("out.geojson")
        try s.ok("export", "--format", "geojson", "-o", file)
        #expect(FileManager.default.fileExists(atPath: file))
    }

    @Test func importRoundTripIntoAFreshStore() throws {
        let s = try Sandbox()
        try s.initStore()
        let site = try s.ok("add", "site", "Palmyra", "--set", "location=34.5505,38.2684,25", "--tag", "unesco")
        let bust = try s.ok("add", "artefact", "Bust", "--set", "state=missing", "--body", "two\nlines", "--rel", "origin:\(site)")
        let gone = try s.ok("add", "note", "Deleted note")
        try s.ok("rm", gone)
        let file = s.path("export.json")
        try s.ok("export", "--all", "-o", file)

        let fresh = s.path("fresh.strata")
        try s.initStore(author: "Lina", store: fresh)
        let out = try s.ok("import", file, store: fresh)
        #expect(out.contains("3 created"))
        // One change per record (in one transaction), so no change outgrows what a change holds.
        let status = try #require(try s.run("status", "--json", store: fresh).json() as? [String: Any])
        #expect(status["local_changes"] as? Int == 3)
        func records(_ store: String) throws -> [[String: Any]] {
            try #require(try s.run("export", "--all", store: store).json() as? [[String: Any]])
        }
        let a = try records(s.store)
        let b = try records(fresh)
        #expect(a.count == b.count)
        for (x, y) in zip(a, b) {
            #expect(x["id"] as? String == y["id"] as? String)
            #expect(NSDictionary(dictionary: x["fields"] as! [String: Any]) == NSDictionary(dictionary: y["fields"] as! [String: Any]))
            #expect(x["tags"] as? [String] == y["tags"] as? [String])
            #expect(x["deleted"] as? Bool == y["deleted"] as? Bool)
            #expect((x["relations"] as? [[String: Any]])?.map { $0["target"] as? String } == (y["relations"] as? [[String: Any]])?.map { $0["target"] as? String })
        }
        #expect(try s.ok("show", bust, store: fresh).contains("Palmyra"))
        // Importing again changes nothing.
        #expect(try s.ok("import", file, store: fresh).contains("3 unchanged"))

        // Updates: a changed field is set, the rest left alone.
        let edited = try String(contentsOfFile: file, encoding: .utf8).replacingOccurrences(of: "\"missing\"", with: "\"recovered\"")
        try Data(edited.utf8).write(to: URL(fileURLWithPath: file))
        #expect(try s.ok("import", file, store: fresh).contains("1 updated"))
        #expect(try s.ok("list", "--state", "recovered", store: fresh).contains(bust))
    }

    @Test func importIsAllOrNothingWithTheRecordIndex() throws {
        let s = try Sandbox()
        try s.initStore()
        let file = s.path("bad.json")
        try Data(
            """
            [{"kind": "note", "fields": {"title": "fine"}},
             {"kind": "artefact", "fields": {"title": "bad", "state": "vanished"}}]
            """.utf8
        ).write(to: URL(fileURLWithPath: file))
        expectOneLineError(try s.run("import", file), containing: "record 2 of 2")
        #expect(try s.ok("list").isEmpty)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: file))
        expectOneLineError(try s.run("import", file), containing: "not valid JSON")
        try Data(#"[{"id": "xyz", "kind": "note"}]"#.utf8).write(to: URL(fileURLWithPath: file))
        expectOneLineError(try s.run("import", file), containing: "record 1 of 1")
    }

    @Test func helpAndCompletion() throws {
        let s = try Sandbox()
        let help = try s.run("--help")
        #expect(help.status == 0)
        for c in ["init", "add", "list", "show", "edit", "set", "tag", "relate", "rm", "restore", "search", "history",
            "conflicts", "resolve", "export", "import", "status", "check", "bundle"]
        {
            #expect(help.stdout.contains("  \(c)"), "help lacks \(c)")
        }
        let completion = try s.run("--generate-completion-script", "bash")
        #expect(completion.status == 0 && completion.stdout.contains("strata"))
    }
}
