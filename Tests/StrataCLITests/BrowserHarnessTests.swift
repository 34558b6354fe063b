import Foundation
import StrataBrowserTesting
import Testing

/// The harness itself, on a page of its own: what the page tests stand on.
@Suite("Browser harness", .enabled(if: Chromium.available))
struct HarnessTests {
    @Test("loads a page, reads its text, runs a script, takes a screenshot, and sees a page without scripts as a reader without JavaScript does")
    func harness() throws {
        let browser = try Chromium()
        defer { browser.shutDown() }
        let page = try browser.newPage(width: 400, height: 300)
        let html = "<!doctype html><title>t</title><h1 id=h>Funerary bust</h1><p id=p>before</p><script>document.getElementById('p').textContent='after'</script>"
        let url = "data:text/html;base64," + Data(html.utf8).base64EncodedString()
        try page.load(url)
        #expect(try page.text("document.getElementById('h').textContent") == "Funerary bust")
        #expect(try page.text("document.getElementById('p').textContent") == "after")
        #expect(try page.evaluate("1 + 2") as? Int == 3)
        #expect(throws: Chromium.ProtocolError.self) { try page.evaluate("undefinedFunction()") }

        let shot = FileManager.default.temporaryDirectory.appendingPathComponent("strata-harness-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: shot) }
        try page.screenshot(to: shot)
        let png = try Data(contentsOf: shot)
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))

        try page.setScriptsEnabled(false)
        try page.load(url)
        #expect(try page.html().contains("<p id=\"p\">before</p>"))
        page.close()
    }

    @Test("a page that never answers fails with a message, not a hang")
    func deadline() throws {
        let browser = try Chromium()
        defer { browser.shutDown() }
        let page = try browser.newPage()
        try page.load("data:text/html,<p>x</p>")
        #expect(throws: Chromium.ProtocolError.self) { try page.waitUntil("document.querySelector('h1')", timeout: 0.5) }
    }
}
