import Foundation
import StrataBrowserTesting
import Testing

/// The README's Palmyra project on a team server, as two researchers leave it: sites with their
/// condition and position, the funerary bust with a photo and a conflict over its state (Khaled
/// learnt it was moved to Damascus, Maria recorded it missing), a news report, and records with
/// hostile titles, tags and URLs. The server runs as `strata serve` does for a team.
final class PalmyraScene {
    let sandbox: Sandbox
    let server: ServerProcess
    let serverData: String
    let khaledToken: String
    let readerToken: String
    let otherProjectToken: String
    let bel: String
    let theatre: String
    let citadel: String
    let bust: String
    let hostile: String
    let hostileLink: String

    static let hostileTitle = "<img src=x onerror=alert(1)> Bust \"<script>alert(2)</script>"

    init(extraServeArguments: [String] = []) throws {
        let s = try Sandbox()
        sandbox = s
        serverData = s.path("server")
        let admin = ["STRATA_SERVER_DATA": serverData]
        try s.ok("server", "project", "add", "palmyra", env: admin)
        try s.ok("server", "project", "add", "aleppo", env: admin)
        khaledToken = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Khaled", env: admin)
        let mariaToken = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Maria", env: admin)
        readerToken = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Registrar", "--role", "read", env: admin)
        otherProjectToken = try s.ok("server", "token", "create", "--project", "aleppo", "--researcher", "Aleppo", env: admin)
        server = try ServerProcess(["serve", "--port", "0"] + extraServeArguments, env: admin, cwd: s.dir)

        let khaled = s.path("khaled.strata")
        let maria = s.path("maria.strata")
        try s.initStore(author: "Khaled", store: khaled)
        try s.initStore(author: "Maria", store: maria)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", khaledToken, store: khaled)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", mariaToken, store: maria)

        bel = try s.ok("add", "site", "Temple of Bel", "--set", "location=34.5472,38.2673,30", "--set", "condition=destroyed",
                       "--set", "damage_extent=91-100%", "--tag", "unesco", "--tag", "isis-2015", store: khaled)
        theatre = try s.ok("add", "site", "Roman theatre", "--set", "location=34.5514,38.2690", "--set", "condition=poor",
                           "--tag", "unesco", store: khaled)
        citadel = try s.ok("add", "site", "Citadel (Fakhr-al-Din al-Maani Castle)", "--set", "location=34.5636,38.2594",
                           "--set", "condition=fair", store: khaled)
        bust = try s.ok("add", "artefact", "Funerary bust of a woman", "--set", "object_type=funerary bust",
                        "--set", "materials=limestone", "--set", "state=in-situ", "--set", "location=34.5520,38.2700",
                        "--rel", "origin:\(bel)", "--tag", "museum", store: khaled)
        hostile = try s.ok("add", "note", PalmyraScene.hostileTitle, "--body", "<b>not bold</b> & </textarea>",
                           "--tag", "<i>tag</i>", "--rel", "about:\(theatre)", store: khaled)
        hostileLink = try s.ok("add", "link", "A report with a hostile URL", "--set", "url=https://example.org/report",
                               "--set", "publisher=javascript:alert(3)", "--set", "quote=<a href=\"javascript:alert(4)\">click</a>",
                               "--rel", "reports-on:\(bel)", store: khaled)
        try s.ok("sync", store: khaled)
        try s.ok("sync", store: maria)

        // Offline: the two learn different things about the bust.
        try s.ok("set", bust, "state", "moved-for-safekeeping", store: khaled)
        try s.ok("set", bust, "keeper", "National Museum, Damascus", store: khaled)
        try s.ok("set", bust, "state", "missing", store: maria)
        let photo = TestOutput.packageRoot().appendingPathComponent("Tests/StrataCodecTests/Fixtures/north-east-le.jpg").path
        try s.ok("attach", bust, photo, "--caption", "The bust in the museum store, east face", store: khaled)
        try s.ok("sync", store: khaled)
        try s.ok("sync", store: maria)
        try s.ok("sync", store: khaled)
    }

    deinit { _ = server.stop() }
}
