import Foundation
import Testing

@Suite("remotes and what syncs left, from the terminal")
struct RemoteTests {
    @Test func remotesAreAddedListedAndRemoved() throws {
        let s = try Sandbox()
        try s.initStore()
        #expect(try s.ok("remote", "list") == "no remotes; add one with `strata remote add NAME URL --project P`")
        #expect(
            try s.ok("remote", "add", "origin", "http://127.0.0.1:9", "--project", "palmyra", "--token", "stk_secret")
                == "added remote origin: http://127.0.0.1:9 project palmyra; run `strata sync origin`")
        let again = try s.run("remote", "add", "origin", "http://127.0.0.1:8", "--project", "p", "--token", "t")
        #expect(again.status != 0 && again.stderr.contains("a remote named 'origin' exists"))
        try s.ok("remote", "add", "maria", "http://127.0.0.1:7070", "--project", "peer", "--token", "stk_maria")
        let list = try s.ok("remote", "list")
        #expect(
            list.split(separator: "\n") == [
                "maria\thttp://127.0.0.1:7070\tproject peer\tattachments all\tlast sync never",
                "origin\thttp://127.0.0.1:9\tproject palmyra\tattachments all\tlast sync never",
            ])
        #expect(!list.contains("stk_"))
        let json = try #require(try s.run("remote", "list", "--json").json() as? [[String: Any]])
        #expect(json.map { $0["name"] as? String } == ["maria", "origin"])
        #expect(try s.ok("remote", "remove", "maria") == "removed remote maria")
        let gone = try s.run("remote", "remove", "maria")
        #expect(gone.status != 0 && gone.stderr.contains("no remote 'maria'"))
        #expect(try s.ok("remote", "list").hasPrefix("origin\t"))
    }

    @Test func aRemotesAttachmentPolicyIsSetAndShown() throws {
        let s = try Sandbox()
        try s.initStore()
        try s.ok("remote", "add", "origin", "http://127.0.0.1:9", "--project", "palmyra", "--token", "stk_secret")
        #expect(
            try s.ok("remote", "set", "origin", "--attachments", "up-to", "2MB")
                == "remote origin: syncs download attachments up to 2 MB (strata fetch gets larger ones on demand)")
        #expect(try s.ok("remote", "list").contains("\tattachments up-to 2MB\t"))
        let json = try #require(try s.run("remote", "list", "--json").json() as? [[String: Any]])
        #expect(json.first?["attachments"] as? String == "up-to 2MB")
        try s.ok("remote", "set", "origin", "--attachments", "none")
        #expect(try s.ok("status").contains("attachments none)"))
        let bad = try s.run("remote", "set", "origin", "--attachments", "some")
        #expect(bad.status != 0 && bad.stderr.contains("'some' is not an attachment policy; use all, none, or up-to SIZE"))
        let nobody = try s.run("remote", "set", "nobody", "--attachments", "all")
        #expect(nobody.status != 0 && nobody.stderr.contains("no remote 'nobody'"))
    }

    @Test func aSyncThatStopsIsShownByStatus() throws {
        let s = try Sandbox()
        try s.initStore()
        try s.ok("add", "site", "Citadel")
        // Port 9 on loopback (discard): nothing listens there in the test environment.
        try s.ok("remote", "add", "origin", "http://127.0.0.1:9", "--project", "palmyra", "--token", "stk_secret")
        let down = try s.run("sync")
        #expect(down.status != 0 && down.stderr.contains("cannot reach"))
        let status = try s.ok("status")
        #expect(
            status.contains(
                "origin (http://127.0.0.1:9, project palmyra, attachments all): last sync never; 1 local change not yet sent; the sync of "))
        #expect(status.contains("stopped: cannot reach"))
        #expect(!status.contains("stk_secret"))
        let js = try #require(try s.run("status", "--json").json() as? [String: Any])
        let remote = try #require((js["remotes"] as? [[String: Any]])?.first)
        #expect(remote["last_sync"] is NSNull)
        #expect(((remote["last_failure"] as? [String: Any])?["reason"] as? String)?.contains("cannot reach") == true)
    }
}
