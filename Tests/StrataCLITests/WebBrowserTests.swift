import Foundation
import StrataBrowserTesting
import Testing

/// The home team's web view as a person sees it: headless Chromium signs in to a team server
/// started as `strata serve`, reads the pages, the map and the bust's conflict, and the pages'
/// scripts, styles and images come from the server alone. Screenshots go to
/// `$STRATA_TEST_OUTPUT/screenshots` (CI keeps them); with `STRATA_DOCS_SCREENSHOTS=1` the map's
/// and the bust's are also written to docs/ for the README.
@Suite("Web view in a real browser", .enabled(if: Chromium.available), .serialized)
final class WebBrowserTests {
    let scene: PalmyraScene
    let browser: Chromium

    init() throws {
        scene = try PalmyraScene()
        browser = try Chromium()
    }

    deinit { browser.shutDown() }

    var base: String { scene.server.url }

    /// Signs `page` in to `project` with `token` through the sign-in form, as a person does.
    func signIn(_ page: BrowserPage, project: String = "palmyra", token: String) throws {
        try page.load("\(base)/web/signin")
        try page.waitUntil("document.querySelector('form input[name=token]')")
        _ = try page.evaluate("""
            (() => {
              const form = document.querySelector('form input[name=token]').form;
              const p = form.querySelector('[name=project]'); if (p) p.value = \(jsString(project));
              form.querySelector('[name=token]').value = \(jsString(token));
              form.submit(); return true;
            })()
            """)
        try page.waitForNavigation()
    }

    func shot(_ page: BrowserPage, _ name: String, docs: String? = nil, fullPage: Bool = false) throws {
        let file = TestOutput.screenshots().appendingPathComponent("\(name).png")
        try page.screenshot(to: file, fullPage: fullPage)
        if let docs, ProcessInfo.processInfo.environment["STRATA_DOCS_SCREENSHOTS"] == "1" {
            try page.screenshot(to: TestOutput.packageRoot().appendingPathComponent("docs/\(docs)"), fullPage: fullPage)
        }
    }

    /// Nothing the page loaded came from anywhere but the server under test.
    func expectOnlyOwnOrigin(_ page: BrowserPage, sourceLocation: SourceLocation = #_sourceLocation) {
        let foreign = page.requestedURLs().filter { !$0.hasPrefix(base + "/") && !$0.hasPrefix("data:") && $0 != "about:blank" }
        #expect(foreign.isEmpty, "requests to other origins: \(foreign)", sourceLocation: sourceLocation)
        let blocked = page.consoleMessages().filter { $0.contains("Content Security Policy") || $0.hasPrefix("exception") }
        #expect(blocked.isEmpty, "console: \(blocked)", sourceLocation: sourceLocation)
    }

    @Test("a reader signs in with a read token, never sees it in a URL, and gets an HttpOnly SameSite=Strict session")
    func signInFlow() throws {
        let page = try browser.newPage()
        defer { page.close() }
        try page.load("\(base)/web/p/palmyra")
        #expect(try page.evaluate("Boolean(document.querySelector('form input[name=token]'))") as? Bool == true,
                "an anonymous visit shows the sign-in form")
        #expect(!(try page.visibleText()).contains("Temple of Bel"))

        try signIn(page, token: "not-a-token")
        #expect(try page.evaluate("Boolean(document.querySelector('form input[name=token]'))") as? Bool == true)
        #expect(!(try page.visibleText()).contains("Temple of Bel"))

        try signIn(page, token: scene.readerToken)
        let text = try page.visibleText()
        #expect(text.contains("Temple of Bel"), "the overview after sign-in: \(text.prefix(400))")
        #expect(!(try page.text("location.href")).contains(scene.readerToken))
        #expect(page.requestedURLs().allSatisfy { !$0.contains(scene.readerToken) })
        let cookies = try page.cookies(for: "\(base)/web/p/palmyra")
        #expect(!cookies.isEmpty)
        for cookie in cookies {
            #expect(cookie["httpOnly"] as? Bool == true)
            #expect(cookie["sameSite"] as? String == "Strict")
            #expect((cookie["value"] as? String)?.contains(scene.readerToken) == false)
            #expect((cookie["expires"] as? Double ?? -1) > Date().timeIntervalSince1970)
        }
        #expect(try page.text("document.cookie") == "", "the session is out of scripts' reach")
        #expect(!scene.server.log.contains(scene.readerToken), "the token never reaches the log")
        expectOnlyOwnOrigin(page)
        try shot(page, "overview")
    }

    @Test("the bust's record shows its conflict with both values and who wrote each, its photo, relations and history")
    func bustRecord() throws {
        let page = try browser.newPage(width: 1100, height: 1400)
        defer { page.close() }
        try signIn(page, token: scene.readerToken)
        try page.load("\(base)/web/p/palmyra/records/\(scene.bust)")
        #expect(try page.text("document.querySelector('h1').textContent").contains("Funerary bust of a woman"))
        let conflicts = try page.text("(document.querySelector('section.conflicts') || {innerText: ''}).innerText")
        #expect(conflicts.contains("moved-for-safekeeping") && conflicts.contains("missing"), "conflicts: \(conflicts)")
        #expect(conflicts.contains("Khaled") && conflicts.contains("Maria"), "who wrote each value: \(conflicts)")
        let values = try page.evaluate("[...document.querySelectorAll('section.conflicts .conflict-value')].map(e => e.textContent)") as? [String] ?? []
        #expect(values.contains { $0.contains("moved-for-safekeeping") } && values.contains { $0.contains("missing") }, "values: \(values)")
        try page.waitUntil("[...document.images].some(i => i.complete && i.naturalWidth > 0)")
        let text = try page.visibleText()
        #expect(text.contains("The bust in the museum store, east face"), "the photo's caption")
        #expect(text.contains("Temple of Bel"), "the relation to its site")
        let related = try page.evaluate("[...document.querySelectorAll('a')].some(a => a.getAttribute('href').includes('\(scene.bel)'))") as? Bool
        #expect(related == true, "the relation is a link")
        expectOnlyOwnOrigin(page)
        try shot(page, "bust-record", docs: "web-bust-record.png", fullPage: true)
    }

    @Test("the map draws every located site and artefact as a marker coloured by condition, with a popup linking to its record, from Strata's own Leaflet")
    func map() throws {
        let page = try browser.newPage(width: 1100, height: 800)
        defer { page.close() }
        try signIn(page, token: scene.readerToken)
        try page.load("\(base)/web/p/palmyra/map")
        try page.waitUntil("document.querySelector('#map[data-markers]')")
        let markers = try page.evaluate("""
            [...document.querySelectorAll('path.strata-marker')].map(p => ({cls: p.getAttribute('class'), fill: getComputedStyle(p).fill}))
            """) as? [[String: Any]] ?? []
        #expect(markers.count == 4, "Bel, the theatre, the citadel and the bust: \(markers)")
        func fill(_ cls: String) -> String? {
            markers.first { ($0["cls"] as? String ?? "").split(separator: " ").contains(Substring(cls)) }?["fill"] as? String
        }
        let destroyed = fill("condition-destroyed"), poor = fill("condition-poor"), fair = fill("condition-fair")
        #expect(destroyed != nil && poor != nil && fair != nil, "markers: \(markers)")
        #expect(Set([destroyed, poor, fair]).count == 3, "each condition has its own colour: \(markers)")
        // The legend names each colour the markers use.
        let legend = try page.text("(document.querySelector('.legend') || {innerText: ''}).innerText")
        #expect(legend.contains("destroyed") && legend.contains("poor"), "legend: \(legend)")

        try shot(page, "map", docs: "web-map.png")
        _ = try page.evaluate("document.querySelector('path.strata-marker.condition-destroyed').dispatchEvent(new MouseEvent('click', {bubbles: true})), true")
        try page.waitUntil("document.querySelector('.leaflet-popup-content a')")
        let href = try page.text("document.querySelector('.leaflet-popup-content a').getAttribute('href')")
        #expect(href.contains(scene.bel), "the popup links to the Temple of Bel: \(href)")
        let leaflet = page.requestedURLs().filter { $0.contains("leaflet") }
        #expect(!leaflet.isEmpty && leaflet.allSatisfy { $0.hasPrefix(base + "/") }, "Leaflet is served by Strata: \(leaflet)")
        expectOnlyOwnOrigin(page)
    }

    @Test("hostile titles, tags, bodies and javascript: URLs are shown as text; no script of theirs runs")
    func hostileValues() throws {
        let page = try browser.newPage()
        defer { page.close() }
        try signIn(page, token: scene.readerToken)
        for id in [scene.hostile, scene.hostileLink] {
            try page.load("\(base)/web/p/palmyra/records/\(id)")
            #expect(try page.evaluate("document.querySelectorAll('h1 img, h1 script, b, i').length") as? Int == 0)
            #expect(try page.evaluate("[...document.querySelectorAll('a')].some(a => (a.getAttribute('href') || '').trim().toLowerCase().startsWith('javascript:'))") as? Bool == false)
            #expect(page.dialogsOpened().isEmpty, "dialogs: \(page.dialogsOpened())")
        }
        try page.load("\(base)/web/p/palmyra/records/\(scene.hostile)")
        #expect(try page.text("document.querySelector('h1').textContent").contains(PalmyraScene.hostileTitle))
        #expect(try page.visibleText().contains("<b>not bold</b>"))
        try page.load("\(base)/web/p/palmyra/records/\(scene.hostileLink)")
        let text = try page.visibleText()
        #expect(text.contains("javascript:alert(3)") && text.contains("<a href=\"javascript:alert(4)\">click</a>"), "shown as text: \(text.prefix(600))")
        try page.load("\(base)/web/p/palmyra/records?q=bust")
        #expect(try page.evaluate("document.querySelectorAll('img[src=x], script:not([src])').length") as? Int == 0)
        expectOnlyOwnOrigin(page)
        try shot(page, "hostile-list")
    }

    @Test("on a phone's width nothing scrolls sideways, and without JavaScript every page but the map still reads")
    func phoneAndNoScript() throws {
        let phone = try browser.newPage(width: 390, height: 844, mobile: true)
        defer { phone.close() }
        try signIn(phone, token: scene.readerToken)
        for path in ["/web/p/palmyra", "/web/p/palmyra/records", "/web/p/palmyra/records/\(scene.bust)"] {
            try phone.load(base + path)
            let overflow = try phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") as? Int ?? 999
            #expect(overflow <= 0, "\(path) is \(overflow) px wider than the phone")
        }
        try shot(phone, "phone-record", fullPage: true)

        try phone.setScriptsEnabled(false)
        try phone.load("\(base)/web/p/palmyra/records")
        let list = try phone.html()
        #expect(list.contains("Temple of Bel") && list.contains("Funerary bust of a woman"))
        try phone.load("\(base)/web/p/palmyra/records/\(scene.bust)")
        let record = try phone.html()
        #expect(record.contains("moved-for-safekeeping") && record.contains("missing"))
    }

    @Test("a session of another project opens no page of this one")
    func otherProjectSession() throws {
        let page = try browser.newPage()
        defer { page.close() }
        try signIn(page, project: "aleppo", token: scene.otherProjectToken)
        for path in ["/web/p/palmyra", "/web/p/palmyra/records/\(scene.bust)", "/web/p/palmyra/map.json"] {
            try page.load(base + path)
            let text = try page.visibleText()
            #expect(!text.contains("Funerary bust") && !text.contains("Temple of Bel"), "\(path) with aleppo's session: \(text.prefix(300))")
        }
    }
}

/// A JavaScript string literal for `value`.
func jsString(_ value: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [value])
    let array = String(decoding: data, as: UTF8.self)
    return String(array.dropFirst().dropLast())
}
