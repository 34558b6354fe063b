import Foundation
import StrataCore
import StrataServer
import StrataStore
import StrataSyncTesting
import StrataTestSupport
import Testing

@testable import StrataWeb

/// The web view over real HTTP on loopback: pages, escaping, headers, sign-in and sessions.
@Suite struct WebTests {
    /// Signs in with `token` for `project` and returns the session cookie.
    static func signIn(_ url: String, project: String = "palmyra", token: String) async throws -> String? {
        let r = try await web(url + "/web/signin", method: .POST, form: ["project": project, "token": token])
        return r.status == 303 ? r.sessionCookie : nil
    }

    /// The fixture on a team server, and a reader's session cookie.
    static func signedIn() async throws -> (WebFixture, RunningServer, String) {
        let f = try await WebFixture.make()
        let server = try await WebTestServer.team(f.team.backend)
        guard let cookie = try await signIn(server.url, token: f.readToken) else {
            await server.stop()
            throw WebError("the reader could not sign in")
        }
        return (f, server, cookie)
    }

    @Test func everyPageRendersForAReaderWithARecordsTitleInItsHeading() async throws {
        let (f, server, cookie) = try await Self.signedIn()
        defer { Task { await server.stop() } }
        let base = server.url + "/web/p/palmyra"
        let overview = try await web(base, cookie: cookie)
        #expect(overview.status == 200)
        #expect(overview.text.contains("Roman theatre"))
        #expect(overview.text.contains("moved-for-safekeeping") || overview.text.contains("missing"))
        #expect(overview.text.contains("name=\"viewport\""))
        let list = try await web(base + "/records?kind=site", cookie: cookie)
        #expect(list.status == 200)
        #expect(list.text.contains("Roman theatre"))
        #expect(!list.text.contains("Funerary bust"))
        let byCondition = try await web(base + "/records?condition=poor", cookie: cookie)
        #expect(byCondition.text.contains("Roman theatre"))
        let searched = try await web(base + "/records?q=north", cookie: cookie)
        #expect(searched.text.contains("Stage front collapsed"))
        #expect(!searched.text.contains("Roman theatre</a>"))
        let tagged = try await web(base + "/records?tag=palmyra", cookie: cookie)
        #expect(tagged.text.contains("Roman theatre"))
        let bad = try await web(base + "/records?state=sideways", cookie: cookie)
        #expect(bad.status == 400)
        #expect(bad.text.contains("is not an artefact state"))

        let bust = try await web(base + "/records/\(f.bust.text)", cookie: cookie)
        #expect(bust.status == 200)
        #expect(bust.text.contains("<h1>Funerary bust of Aqmat</h1>"))
        // The conflict, each value with who wrote it.
        let conflicts = try #require(bust.text.range(of: "<section class=\"conflicts\">"))
        let section = String(bust.text[conflicts.lowerBound...].prefix { _ in true }.prefix(3000))
        #expect(section.contains("<span class=\"conflict-value\">moved-for-safekeeping</span>"))
        #expect(section.contains("<span class=\"conflict-value\">missing</span>"))
        #expect(section.contains("<span class=\"conflict-author\">Khaled</span>"))
        #expect(section.contains("<span class=\"conflict-author\">Maria</span>"))
        // A relation as a link; the history; the photo as a thumbnail and a link.
        #expect(bust.text.contains("href=\"/web/p/palmyra/records/\(f.theatre.text)\""))
        #expect(bust.text.contains("class=\"timeline\""))
        #expect(bust.text.contains("created as"))
        let photo = "/web/p/palmyra/records/\(f.bust.text)/attachments/\(f.photo.hex)"
        #expect(bust.text.contains("<img class=\"thumbnail\" src=\"\(photo)\""))

        // The site's page lists the records related to it.
        let theatre = try await web(base + "/records/\(f.theatre.text)", cookie: cookie)
        #expect(theatre.text.contains("Records related to this site"))
        #expect(theatre.text.contains("Stage front collapsed"))
        #expect(theatre.text.contains("Funerary bust of Aqmat"))

        let map = try await web(base + "/map", cookie: cookie)
        #expect(map.status == 200)
        #expect(map.text.contains("data-geojson=\"/web/p/palmyra/map.json\""))
        #expect(map.text.contains("data-class=\"condition-poor\" data-color=\"#ef6c00\""))

        let missing = try await web(base + "/records/ZZZZZZZZZZZZZZZZZZZZZZZZZZ", cookie: cookie)
        #expect(missing.status == 404)
        let nowhere = try await web(server.url + "/web/nothing-here")
        #expect(nowhere.status == 404)
        #expect(nowhere.header("Content-Security-Policy") != nil)
    }

    @Test func hostileValuesComeBackEscapedAndAJavascriptURLIsText() async throws {
        let (f, server, cookie) = try await Self.signedIn()
        defer { Task { await server.stop() } }
        let base = server.url + "/web/p/palmyra"
        let page = try await web(base + "/records/\(f.hostile.text)", cookie: cookie)
        #expect(page.status == 200)
        #expect(!page.text.contains("<script>alert"))
        #expect(!page.text.contains("<img src=x"))
        #expect(page.text.contains("&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;Bust &quot;of&quot; Aqmat &amp; co"))
        #expect(page.text.contains("&lt;img src=x onerror=alert(1)&gt;"))
        let list = try await web(base + "/records", cookie: cookie)
        #expect(!list.text.contains("<script>alert"))
        #expect(list.text.contains("#x-onerror"))
        let bust = try await web(base + "/records/\(f.bust.text)", cookie: cookie)
        #expect(!bust.text.contains("<script>alert('caption')"))
        #expect(bust.text.contains("&lt;/figcaption&gt;&lt;script&gt;alert(&#39;caption&#39;)&lt;/script&gt;"))
        let link = try await web(base + "/records/\(f.link.text)", cookie: cookie)
        #expect(!link.text.contains("href=\"javascript:"))
        #expect(link.text.contains("javascript:alert(document.cookie)"))
        // No page has an inline script or style, and the templates cannot write unescaped text.
        for t in [WebTemplates.layout, WebTemplates.signIn, WebTemplates.message, WebTemplates.overview, WebTemplates.list,
            WebTemplates.record, WebTemplates.map]
        {
            #expect(!t.contains("{{{") && !t.contains("{{&"))
            #expect(!t.contains("<script>") && !t.contains("<style") && !t.contains("style="))
            #expect(t.range(of: #" on[a-z]+="#, options: .regularExpression) == nil)
        }
    }

    @Test func everyAnswerHasTheSecurityHeadersAndTheCookieItsFlags() async throws {
        let f = try await WebFixture.make()
        let server = try await WebTestServer.team(f.team.backend)
        defer { Task { await server.stop() } }
        let signIn = try await web(server.url + "/web/signin", method: .POST, form: ["project": "palmyra", "token": f.readToken])
        #expect(signIn.status == 303)
        #expect(signIn.header("Location") == "/web/p/palmyra")
        let setCookie = try #require(signIn.header("Set-Cookie"))
        #expect(setCookie.contains("HttpOnly"))
        #expect(setCookie.contains("SameSite=Strict"))
        #expect(setCookie.contains("Path=/web/p/palmyra"))
        #expect(setCookie.contains("Max-Age=43200"))
        #expect(!setCookie.contains("Secure"))
        #expect(!setCookie.contains(f.readToken))
        let behindTLS = try await web(
            server.url + "/web/signin", method: .POST, headers: [("X-Forwarded-Proto", "https")],
            form: ["project": "palmyra", "token": f.readToken])
        #expect(behindTLS.header("Set-Cookie")?.contains("; Secure") == true)
        let cookie = try #require(signIn.sessionCookie)
        let paths = [
            "/web/signin", "/web/p/palmyra", "/web/p/palmyra/records", "/web/p/palmyra/records/\(f.bust.text)",
            "/web/p/palmyra/map", "/web/p/palmyra/map.json", "/web/static/style.css", "/web/static/map.js",
        ]
        for p in paths {
            let r = try await web(server.url + p, cookie: cookie)
            #expect(r.status == 200, "\(p)")
            let csp = try #require(r.header("Content-Security-Policy"), "\(p)")
            #expect(csp.contains("default-src 'self'"))
            #expect(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"))
            #expect(r.header("X-Content-Type-Options") == "nosniff")
        }
        // The photo inline as an image, with nosniff.
        let photo = try await web(server.url + "/web/p/palmyra/records/\(f.bust.text)/attachments/\(f.photo.hex)", cookie: cookie)
        #expect(photo.status == 200)
        #expect(photo.header("Content-Type") == "image/png")
        #expect(photo.header("X-Content-Type-Options") == "nosniff")
        #expect(photo.bytes == WebFixture.pngBytes)
    }

    @Test func aBadTokenAnotherProjectsTokenAndARevokedTokenDoNotSignIn() async throws {
        let f = try await WebFixture.make()
        let server = try await WebTestServer.team(f.team.backend)
        defer { Task { await server.stop() } }
        for token in ["stk_wrong", f.otherToken, f.revokedToken] {
            let r = try await web(server.url + "/web/signin", method: .POST, form: ["project": "palmyra", "token": token])
            #expect(r.status == 401)
            #expect(r.header("Set-Cookie") == nil)
            #expect(r.text.contains("That token does not open project palmyra"))
            #expect(r.text.contains("name=\"token\""))
        }
        let none = try await web(server.url + "/web/p/palmyra")
        #expect(none.status == 401)
        #expect(none.text.contains("name=\"project\""))
        #expect(!none.text.contains("Roman theatre"))
        let json = try await web(server.url + "/web/p/palmyra/records.json")
        #expect(json.status == 401)
        #expect(!json.text.contains("Roman theatre"))
        let forged = try await web(server.url + "/web/p/palmyra", cookie: "v1.palmyra.1.99999999999.AAAA")
        #expect(forged.status == 401)
    }

    @Test func aSessionOfOneProjectOpensNoPageOrAssetOfAnother() async throws {
        let f = try await WebFixture.make()
        let server = try await WebTestServer.team(f.team.backend)
        defer { Task { await server.stop() } }
        let other = try #require(try await Self.signIn(server.url, project: "other", token: f.otherToken))
        let own = try await web(server.url + "/web/p/other", cookie: other)
        #expect(own.status == 200)
        #expect(own.text.contains("Other project&#39;s note") || own.text.contains("other"))
        let paths = [
            "/web/p/palmyra", "/web/p/palmyra/index.json", "/web/p/palmyra/records", "/web/p/palmyra/records/\(f.bust.text)",
            "/web/p/palmyra/records/\(f.bust.text).json", "/web/p/palmyra/map.json",
            "/web/p/palmyra/records/\(f.bust.text)/attachments/\(f.photo.hex)",
        ]
        for p in paths {
            let r = try await web(server.url + p, cookie: other)
            #expect(r.status == 401, "\(p)")
            #expect(!r.text.contains("Funerary bust") && !r.text.contains("Roman theatre"), "\(p)")
            #expect(r.bytes != WebFixture.pngBytes)
        }
    }

    @Test func revokingTheTokenEndsItsSessionsAndSignOutClearsTheCookie() async throws {
        let f = try await WebFixture.make()
        let server = try await WebTestServer.team(f.team.backend)
        defer { Task { await server.stop() } }
        let made = try f.team.backend.tokens.createToken(project: "palmyra", researcher: "Visitor", role: .read)
        let cookie = try #require(try await Self.signIn(server.url, token: made.token))
        #expect(try await web(server.url + "/web/p/palmyra", cookie: cookie).status == 200)
        try f.team.backend.tokens.revoke(id: made.id)
        let after = try await web(server.url + "/web/p/palmyra", cookie: cookie)
        #expect(after.status == 401)
        let out = try await web(server.url + "/web/p/palmyra/signout", method: .POST, cookie: cookie)
        #expect(out.status == 303)
        #expect(out.header("Set-Cookie")?.contains("Max-Age=0") == true)
    }

    @Test func aSessionCookieVerifiesOnlyWithItsKeyUntilItExpires() throws {
        let key = SessionKey.random()
        let s = WebSession(project: "palmyra", tokenID: 7, expires: 2_000)
        let value = s.cookieValue(key: key)
        #expect(WebSession.verify(value, key: key, now: 1_999) == s)
        #expect(WebSession.verify(value, key: key, now: 2_000) == nil)
        #expect(WebSession.verify(value, key: SessionKey.random(), now: 1_000) == nil)
        let tampered = value.replacingOccurrences(of: ".7.", with: ".8.")
        #expect(WebSession.verify(tampered, key: key, now: 1_000) == nil)
        let renamed = value.replacingOccurrences(of: "palmyra", with: "other")
        #expect(WebSession.verify(renamed, key: key, now: 1_000) == nil)
        // Two servers on one data directory share one key.
        let dir = try TemporaryDirectory("strata-web-key")
        let a = try SessionKey.load(orCreateIn: dir.path)
        let b = try SessionKey.load(orCreateIn: dir.path)
        #expect(a.bytes == b.bytes)
        let mode = try FileManager.default.attributesOfItem(atPath: dir.path + "/web-session.key")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func theJSONTwinsHaveTheCLIsShapes() async throws {
        let (f, server, cookie) = try await Self.signedIn()
        defer { Task { await server.stop() } }
        let base = server.url + "/web/p/palmyra"
        let record = try #require(try await web(base + "/records/\(f.bust.text).json", cookie: cookie).json() as? [String: Any])
        #expect(record["id"] as? String == f.bust.text)
        #expect(record["title"] as? String == "Funerary bust of Aqmat")
        let conflicts = try #require(record["conflicts"] as? [[String: Any]])
        #expect(conflicts.first?["field"] as? String == "state")
        #expect((conflicts.first?["values"] as? [[String: Any]])?.count == 2)
        #expect((record["history"] as? [Any])?.isEmpty == false)
        #expect((record["attachments"] as? [[String: Any]])?.first?["caption"] as? String == Hostile.caption)
        let viaAccept = try await web(base + "/records/\(f.bust.text)", cookie: cookie, headers: [("Accept", "application/json")])
        #expect(viaAccept.header("Content-Type")?.hasPrefix("application/json") == true)
        let list = try #require(try await web(base + "/records.json?kind=site", cookie: cookie).json() as? [[String: Any]])
        #expect(list.map { $0["title"] as? String } == ["Roman theatre"])
        let overview = try #require(try await web(base + "/index.json", cookie: cookie).json() as? [String: Any])
        #expect(overview["records"] as? Int == 5)
        #expect((overview["conditions"] as? [String: Any])?["poor"] as? Int == 1)
        let geo = try await web(base + "/map.json", cookie: cookie)
        #expect(geo.header("Content-Type") == "application/geo+json")
        let map = try #require(try geo.json() as? [String: Any])
        #expect(map["type"] as? String == "FeatureCollection")
        let features = try #require(map["features"] as? [[String: Any]])
        let titles = Set(features.compactMap { ($0["properties"] as? [String: Any])?["title"] as? String })
        #expect(titles == ["Roman theatre", "Funerary bust of Aqmat"])
        let theatre = try #require(features.first { ($0["id"] as? String) == f.theatre.text })
        #expect((theatre["geometry"] as? [String: Any])?["coordinates"] as? [Double] == [38.2683, 34.5507])
        #expect((theatre["properties"] as? [String: Any])?["condition"] as? String == "poor")
    }

    @Test func theMapServesLeafletFromTheSystemOrSaysHowToInstallIt() async throws {
        let f = try await WebFixture.make()
        let fake = try TemporaryDirectory("strata-leaflet")
        try FileManager.default.createDirectory(atPath: fake.path + "/images", withIntermediateDirectories: true)
        try Data("/* leaflet */".utf8).write(to: URL(fileURLWithPath: fake.path + "/leaflet.js"))
        try Data("/* css */".utf8).write(to: URL(fileURLWithPath: fake.path + "/leaflet.css"))
        let with = try await WebTestServer.team(f.team.backend, leafletDirectory: fake.path, mapTiles: "https://tile.example.org/{z}/{x}/{y}.png")
        defer { Task { await with.stop() } }
        let cookie = try #require(try await Self.signIn(with.url, token: f.readToken))
        let map = try await web(with.url + "/web/p/palmyra/map", cookie: cookie)
        #expect(map.text.contains("<script src=\"/web/static/leaflet/leaflet.js\"></script>"))
        #expect(map.text.contains("<script src=\"/web/static/map.js\"></script>"))
        #expect(map.text.contains("data-tiles=\"https://tile.example.org/{z}/{x}/{y}.png\""))
        #expect(map.header("Content-Security-Policy")?.contains("img-src 'self' https://tile.example.org") == true)
        let js = try await web(with.url + "/web/static/leaflet/leaflet.js")
        #expect(js.text == "/* leaflet */")
        let escape = try await web(with.url + "/web/static/leaflet/../../../etc/passwd")
        #expect(escape.status == 404)

        let without = try await WebTestServer.team(f.team.backend, leafletDirectory: fake.path + "/nowhere")
        defer { Task { await without.stop() } }
        let plain = try await web(without.url + "/web/p/palmyra/map", cookie: cookie)
        #expect(plain.text.contains("apt-get install libjs-leaflet"))
        #expect(!plain.text.contains("<script"))
        #expect(!plain.text.contains("data-tiles"))
        #expect(try await web(without.url + "/web/p/palmyra", cookie: cookie).status == 200)
    }

    @Test func thePeerServerAndTheLocalViewServeTheReplica() async throws {
        let dir = try TemporaryDirectory("strata-web-local")
        let store = try Store.create(at: dir.file("r.strata"), author: "Khaled")
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .site), .set(id, field: "name", .text("Citadel"))])
        let local = try await WebTestServer.local(store)
        defer { Task { await local.stop() } }
        #expect(local.url.hasPrefix("http://127.0.0.1:"))
        let home = try await web(local.url + "/web/")
        #expect(home.status == 303)
        #expect(home.header("Location") == "/web/p/local")
        let page = try await web(local.url + "/web/p/local/records/\(id.text)")
        #expect(page.status == 200)
        #expect(page.text.contains("<h1>Citadel</h1>"))
        #expect(!page.text.contains("Sign out"))

        let token = PeerStorage.newToken()
        let peer = try await WebTestServer.peer(store, token: token)
        defer { Task { await peer.stop() } }
        #expect(try await web(peer.url + "/web/p/peer").status == 401)
        let cookie = try #require(try await Self.signIn(peer.url, project: "peer", token: token))
        let overview = try await web(peer.url + "/web/p/peer", cookie: cookie)
        #expect(overview.status == 200)
        #expect(overview.text.contains("Citadel"))
    }

    @Test func aLogOnlyStorageAnswersThatTheWebViewNeedsSQLite() async throws {
        let f = try await WebFixture.make()
        let server = try await WebTestServer.logOnly(f.team.backend)
        defer { Task { await server.stop() } }
        let r = try await web(server.url + "/web/p/palmyra")
        #expect(r.status == 501)
        #expect(r.text.contains("The web view needs the SQLite storage"))
        #expect(!r.text.contains("Roman theatre"))
    }
}
