import Foundation

/// One tab of a `Chromium`: load a URL, read what a person sees, run a script, take a picture.
public final class BrowserPage: @unchecked Sendable {
    public let browser: Chromium
    let session: String
    let targetID: String

    init(browser: Chromium, session: String, targetID: String) {
        self.browser = browser
        self.session = session
        self.targetID = targetID
    }

    func start(width: Int, height: Int, mobile: Bool) throws {
        try send("Page.enable")
        try send("Runtime.enable")
        try send("Network.enable")
        try send("Log.enable")
        try send("Emulation.setDeviceMetricsOverride", [
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
        ])
    }

    @discardableResult
    func send(_ method: String, _ params: [String: Any] = [:], timeout: TimeInterval = 20) throws -> [String: Any] {
        try browser.send(method, params, session: session, timeout: timeout)
    }

    /// Turns the page's scripts off (or on again): what a reader without JavaScript sees.
    public func setScriptsEnabled(_ enabled: Bool) throws {
        try send("Emulation.setScriptExecutionDisabled", ["value": !enabled])
    }

    /// Loads `url` and waits for its load event. Returns the HTTP status of the document.
    @discardableResult
    public func load(_ url: String, timeout: TimeInterval = 20) throws -> Int {
        browser.forgetEvents(session: session)
        let navigated = try send("Page.navigate", ["url": url], timeout: timeout)
        if let error = navigated["errorText"] as? String, !error.isEmpty {
            throw Chromium.ProtocolError(description: "loading \(url): \(error)")
        }
        try browser.waitForEvent("Page.loadEventFired", session: session, timeout: timeout)
        return documentStatus(navigated["loaderId"] as? String)
    }

    /// Waits for the load event of a navigation the page started itself (a form submitted).
    @discardableResult
    public func waitForNavigation(timeout: TimeInterval = 20) throws -> Int {
        try browser.waitForEvent("Page.loadEventFired", session: session, timeout: timeout)
        let documents = browser.received(["Network.responseReceived"], session: session)
            .filter { ($0.params["type"] as? String) == "Document" }
        return ((documents.last?.params["response"] as? [String: Any])?["status"] as? Int) ?? 0
    }

    private func documentStatus(_ loaderID: String?) -> Int {
        let responses = browser.received(["Network.responseReceived"], session: session)
        let document = responses.last { event in
            (event.params["type"] as? String) == "Document"
                && (loaderID == nil || (event.params["loaderId"] as? String) == loaderID)
        }
        return ((document?.params["response"] as? [String: Any])?["status"] as? Int) ?? 0
    }

    /// Every URL the page requested since it was last loaded (documents, scripts, images, XHR).
    public func requestedURLs() -> [String] {
        browser.received(["Network.requestWillBeSent"], session: session).compactMap {
            ($0.params["request"] as? [String: Any])?["url"] as? String
        }
    }

    /// What the console and the browser's log said since the last load (CSP violations land here).
    public func consoleMessages() -> [String] {
        browser.received(["Runtime.consoleAPICalled", "Log.entryAdded", "Runtime.exceptionThrown"], session: session).map { event in
            switch event.method {
            case "Log.entryAdded":
                let entry = event.params["entry"] as? [String: Any] ?? [:]
                return "\(entry["level"] ?? "log"): \(entry["text"] ?? "")"
            case "Runtime.exceptionThrown":
                let details = event.params["exceptionDetails"] as? [String: Any] ?? [:]
                let exception = details["exception"] as? [String: Any] ?? [:]
                return "exception: \(exception["description"] ?? details["text"] ?? "")"
            default:
                let args = (event.params["args"] as? [[String: Any]] ?? []).map { "\($0["value"] ?? $0["description"] ?? "")" }
                return "\(event.params["type"] ?? "console"): \(args.joined(separator: " "))"
            }
        }
    }

    /// The messages of every alert, confirm or prompt the page opened since it was last loaded
    /// (a hostile value that ran as script would open one).
    public func dialogsOpened() -> [String] {
        browser.received(["Page.javascriptDialogOpening"], session: session).map { "\($0.params["message"] ?? "")" }
    }

    /// Runs `expression` in the page (a promise is awaited) and returns its value as JSON gives
    /// it: String, NSNumber, Bool, [Any], [String: Any] or NSNull.
    public func evaluate(_ expression: String, timeout: TimeInterval = 20) throws -> Any {
        let result = try send("Runtime.evaluate", [
            "expression": expression, "returnByValue": true, "awaitPromise": true,
        ], timeout: timeout)
        if let details = result["exceptionDetails"] as? [String: Any] {
            let exception = details["exception"] as? [String: Any] ?? [:]
            throw Chromium.ProtocolError(description: "script failed: \(exception["description"] ?? details["text"] ?? details)")
        }
        let value = result["result"] as? [String: Any] ?? [:]
        return value["value"] ?? NSNull()
    }

    /// `evaluate` for a string result ("" when the value is not a string).
    public func text(_ expression: String) throws -> String {
        try evaluate(expression) as? String ?? ""
    }

    /// Waits until `condition` (a script expression) is true, polling every 100 ms.
    public func waitUntil(_ condition: String, timeout: TimeInterval = 15) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if (try? evaluate("Boolean(\(condition))")) as? Bool == true { return }
            if Date() > deadline { throw Chromium.ProtocolError(description: "waited \(Int(timeout)) s for: \(condition)") }
            usleep(100_000)
        }
    }

    /// The document as HTML, read through the DOM domain (works with scripts turned off).
    public func html() throws -> String {
        let document = try send("DOM.getDocument", ["depth": 0])
        guard let root = (document["root"] as? [String: Any])?["nodeId"] as? Int else { return "" }
        return try send("DOM.getOuterHTML", ["nodeId": root])["outerHTML"] as? String ?? ""
    }

    /// The visible text of the page (`document.body.innerText`), read through the DOM domain
    /// when scripts are off.
    public func visibleText() throws -> String {
        try text("document.body ? document.body.innerText : ''")
    }

    /// A PNG of what is on the screen (the whole page when `fullPage`), written to `file`.
    public func screenshot(to file: URL, fullPage: Bool = false) throws {
        var params: [String: Any] = ["format": "png"]
        if fullPage { params["captureBeyondViewport"] = true }
        let shot = try send("Page.captureScreenshot", params, timeout: 30)
        guard let base64 = shot["data"] as? String, let png = Data(base64Encoded: base64) else {
            throw Chromium.ProtocolError(description: "Page.captureScreenshot gave no picture")
        }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try png.write(to: file)
    }

    /// The cookies the browser holds for `url`.
    public func cookies(for url: String) throws -> [[String: Any]] {
        try send("Network.getCookies", ["urls": [url]])["cookies"] as? [[String: Any]] ?? []
    }

    /// Closes the tab.
    public func close() {
        _ = try? browser.send("Target.closeTarget", ["targetId": targetID])
    }
}

/// Where browser tests leave their screenshots: `$STRATA_TEST_OUTPUT/screenshots`, else
/// `.build/test-output/screenshots` under the package.
public enum TestOutput {
    public static func screenshots(file: StaticString = #filePath) -> URL {
        if let given = ProcessInfo.processInfo.environment["STRATA_TEST_OUTPUT"], !given.isEmpty {
            return URL(fileURLWithPath: given).appendingPathComponent("screenshots", isDirectory: true)
        }
        return packageRoot(file: file).appendingPathComponent(".build/test-output/screenshots", isDirectory: true)
    }

    /// The package's root, found from a source file's path (the folder holding Package.swift).
    public static func packageRoot(file: StaticString = #filePath) -> URL {
        var url = URL(fileURLWithPath: "\(file)").deletingLastPathComponent()
        for _ in 0..<8 {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
            url.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }
}
