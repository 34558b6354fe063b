import Foundation
import HTTPTypes
import Hummingbird
import Mustache
import NIOCore
import NIOPosix
import StrataCore
import StrataJSON
import StrataStore

/// The web view's routes, under `/web`, on any Hummingbird router (the sync server's, or the
/// one `strata web` runs). Every answer carries the security headers (`WebRoutes.headers`).
///
/// Routes (`P` a project, `ID` a record id; `.json` or `Accept: application/json` for a twin):
/// `/web/` and `/web/signin` (GET the form, POST it), `/web/p/P/` (`/web/p/P/index.json`),
/// `/web/p/P/records`, `/web/p/P/records/ID`, `/web/p/P/records/ID/attachments/HASH`,
/// `/web/p/P/map` (`/web/p/P/map.json`, GeoJSON), `POST /web/p/P/signout`, `/web/static/…`.
public enum WebRoutes {
    static let staticPath = "\(WebSite.prefix)/static"

    /// Adds the web view's routes to `router`.
    public static func add<Context: RequestContext>(to router: Router<Context>, site: WebSite) {
        let p = WebSite.prefix
        // `/web` and `/web/` are one route (the router ignores a trailing slash).
        router.get("\(p)") { request, _ in try await home(request, site: site) }
        router.get("\(p)/signin") { request, _ in
            let form = WebForm.parse(request.uri.query ?? "")
            return signInPage(request, site: site, project: form["project"] ?? "", problem: nil, status: 200)
        }
        router.post("\(p)/signin") { request, _ in try await signIn(request, site: site) }
        router.get("\(staticPath)/style.css") { _, _ in
            asset(WebAssets.styleSheet, type: "text/css; charset=utf-8")
        }
        router.get("\(staticPath)/map.js") { _, _ in
            asset(WebAssets.mapScript, type: "text/javascript; charset=utf-8")
        }
        router.get("\(staticPath)/leaflet/**") { request, context in
            leaflet(request, path: context.parameters.getCatchAll().joined(separator: "/"), site: site)
        }
        router.get("\(p)/p/:project") { request, context in
            try await page(request, context, site: site) { pages, _ in try pages.overview() }
        }
        router.get("\(p)/p/:project/index.json") { request, context in
            try await page(request, context, site: site, json: true) { pages, _ in try pages.overview() }
        }
        router.get("\(p)/p/:project/records") { request, context in
            try await page(request, context, site: site) { pages, _ in
                try pages.list(.init(WebForm.parse(request.uri.query ?? "")))
            }
        }
        router.get("\(p)/p/:project/records.json") { request, context in
            try await page(request, context, site: site, json: true) { pages, _ in
                try pages.list(.init(WebForm.parse(request.uri.query ?? "")))
            }
        }
        router.get("\(p)/p/:project/records/:id") { request, context in
            var id = context.parameters.get("id") ?? ""
            let json = id.hasSuffix(".json")
            if json { id.removeLast(5) }
            let wanted = id
            return try await page(request, context, site: site, json: json) { pages, _ in
                guard let r = try record(wanted, in: pages.store) else { return notFound("There is no record \(wanted) in this project.") }
                return try pages.record(r)
            }
        }
        router.get("\(p)/p/:project/records/:id/attachments/:hash") { request, context in
            try await attachment(request, context, site: site)
        }
        router.get("\(p)/p/:project/map") { request, context in
            try await page(request, context, site: site) { pages, _ in try pages.map() }
        }
        router.get("\(p)/p/:project/map.json") { request, context in
            try await page(request, context, site: site, json: true) { pages, _ in try pages.map() }
        }
        router.post("\(p)/p/:project/signout") { request, context in
            let project = context.parameters.get("project") ?? ""
            var response = redirect("\(p)/signin?project=\(WebForm.encode(project))")
            response.headers[.setCookie] = cookie("", project: project, maxAge: 0, request: request)
            return response
        }
        router.get("\(p)/**") { request, _ in
            respond(notFound("There is no page at this address."), request: request, site: site, project: nil, signOut: false, json: false)
        }
    }

    // MARK: Pages

    static func record(_ text: String, in store: Store) throws -> RecordState? {
        guard let id = try? store.resolve(prefix: text) else { return nil }
        return try store.record(id)
    }

    static func notFound(_ text: String) -> WebPage {
        var page = WebPage(
            template: "message", title: "Not found", values: ["heading": "Not found", "text": text],
            json: .object(["error": .object(["code": .string("not_found"), "message": .string(text)])]))
        page.status = 404
        return page
    }

    static func message(_ heading: String, _ text: String, status: Int, code: String) -> WebPage {
        var page = WebPage(
            template: "message", title: heading, values: ["heading": heading, "text": text],
            json: .object(["error": .object(["code": .string(code), "message": .string(text)])]))
        page.status = status
        return page
    }

    static func home(_ request: Request, site: WebSite) async throws -> Response {
        if case .local(_, let project) = site.backend { return redirect("\(WebSite.prefix)/p/\(project)") }
        if case .peer = site.backend, currentSession(request, project: "peer", site: site) != nil {
            return redirect("\(WebSite.prefix)/p/peer")
        }
        return signInPage(request, site: site, project: "", problem: nil, status: 200)
    }

    static func signInPage(_ request: Request, site: WebSite, project: String, problem: String?, status: Int) -> Response {
        if case .local(_, let name) = site.backend { return redirect("\(WebSite.prefix)/p/\(name)") }
        var page = WebPage(
            template: "signIn", title: "Sign in",
            values: [
                "problem": problem as Any? ?? false, "projectName": project, "signInAction": "\(WebSite.prefix)/signin",
                "hours": site.sessionSeconds / 3600,
            ],
            json: .object([
                "error": .object([
                    "code": .string("sign_in"),
                    "message": .string(problem ?? "sign in with a token of the project (POST \(WebSite.prefix)/signin)"),
                ])
            ]))
        page.status = status
        return respond(page, request: request, site: site, project: nil, signOut: false, json: wantsJSON(request))
    }

    /// Trades a token of a project (form fields `project`, `token`) for a session cookie.
    static func signIn(_ request: Request, site: WebSite) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 16 * 1024)
        let form = WebForm.parse(String(buffer: body))
        let project = (form["project"] ?? "").trimmingCharacters(in: .whitespaces)
        let token = (form["token"] ?? "").trimmingCharacters(in: .whitespaces)
        guard !project.isEmpty, !token.isEmpty else {
            return signInPage(request, site: site, project: project, problem: "Give both the project and a token.", status: 400)
        }
        if case .logOnly = site.backend {
            return respond(logOnlyPage(), request: request, site: site, project: nil, signOut: false, json: false)
        }
        let now = Int64(Date().timeIntervalSince1970)
        guard let session = try await site.signIn(project: project, token: token, now: now) else {
            return signInPage(
                request, site: site, project: project,
                problem: "That token does not open project \(project): it is unknown, revoked, or of another project.",
                status: 401)
        }
        var response = redirect("\(WebSite.prefix)/p/\(project)")
        response.headers[.setCookie] = cookie(
            session.cookieValue(key: site.sessionKey), project: project, maxAge: Int(site.sessionSeconds), request: request)
        return response
    }

    static func logOnlyPage() -> WebPage {
        message(
            "The web view needs the SQLite storage",
            "This server keeps its projects in PostgreSQL, which holds only the change log; the web view reads records, "
                + "so it is served by team servers on SQLite (--data DIR), by strata serve --peer, and by strata web.",
            status: 501, code: "web_needs_sqlite")
    }

    /// The session cookie: HttpOnly, SameSite=Strict, scoped to the project's path, with an
    /// expiry; Secure when the request came over TLS to a proxy (`X-Forwarded-Proto: https`).
    static func cookie(_ value: String, project: String, maxAge: Int, request: Request) -> String {
        var c = "\(WebSession.cookieName)=\(value); Path=\(WebSite.prefix)/p/\(project); Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
        if isTLS(request) { c += "; Secure" }
        return c
    }

    static func isTLS(_ request: Request) -> Bool {
        if request.uri.scheme == .https { return true }
        let proto = request.headers[HTTPField.Name("X-Forwarded-Proto")!] ?? ""
        return proto.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).lowercased() == "https"
    }

    /// The verified session for `project` among the request's cookies (MAC, expiry, project;
    /// the token's liveness is checked by the caller).
    static func currentSession(_ request: Request, project: String, site: WebSite) -> WebSession? {
        let now = Int64(Date().timeIntervalSince1970)
        for header in request.headers[values: .cookie] {
            for part in header.split(separator: ";") {
                let kv = part.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == WebSession.cookieName else { continue }
                if let s = WebSession.verify(kv[1].trimmingCharacters(in: .whitespaces), key: site.sessionKey, now: now),
                    s.project == project
                {
                    return s
                }
            }
        }
        return nil
    }

    enum Access {
        case store(Store, signOut: Bool)
        case answer(Response)
    }

    /// The project's store when this request may read it, else the answer to give.
    static func access<Context: RequestContext>(_ request: Request, _ context: Context, site: WebSite, json: Bool) async throws -> Access {
        let project = context.parameters.get("project") ?? ""
        let lookup = try await site.lookup(project)
        if case .logOnly = lookup { return .answer(respond(logOnlyPage(), request: request, site: site, project: nil, signOut: false, json: json)) }
        if site.needsSignIn {
            guard let session = currentSession(request, project: project, site: site), try await site.tokenIsLive(session) else {
                return .answer(
                    signInPage(request, site: site, project: project, problem: "Sign in to read this project.", status: 401))
            }
        }
        guard case .store(let store) = lookup else {
            return .answer(respond(notFound("There is no project \(project) here."), request: request, site: site, project: nil, signOut: false, json: json))
        }
        return .store(store, signOut: site.needsSignIn)
    }

    static func page<Context: RequestContext>(
        _ request: Request, _ context: Context, site: WebSite, json: Bool = false,
        _ build: @escaping @Sendable (ProjectPages, Request) throws -> WebPage
    ) async throws -> Response {
        let wantsJSON = json || wantsJSON(request)
        switch try await access(request, context, site: site, json: wantsJSON) {
        case .answer(let r): return r
        case .store(let store, let signOut):
            let project = context.parameters.get("project") ?? ""
            let box = UncheckedPage(
                page: try await blockingWeb { [site] in
                    UncheckedPage(page: try build(try ProjectPages(store: store, project: project, site: site), request))
                }.page)
            return respond(box.page, request: request, site: site, project: project, signOut: signOut, json: wantsJSON)
        }
    }

    static func wantsJSON(_ request: Request) -> Bool {
        let accept = request.headers[.accept] ?? ""
        return accept.contains("application/json") || accept.contains("application/geo+json")
    }

    // MARK: Responses

    /// The page as HTML through its template, or its JSON twin.
    static func respond(_ page: WebPage, request: Request, site: WebSite, project: String?, signOut: Bool, json: Bool) -> Response {
        var headers = securityHeaders(map: page.template == "map" ? site.mapTiles : nil)
        for (k, v) in page.headers { if let name = HTTPField.Name(k) { headers[name] = v } }
        if json {
            headers[.contentType] = page.template == "map" ? "application/geo+json" : "application/json; charset=utf-8"
            return Response(
                status: .init(code: page.status), headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: page.json.serialized() + "\n")))
        }
        var values = page.values
        values["pageTitle"] = page.title
        values["static"] = staticPath
        values["home"] = "\(WebSite.prefix)/"
        values["map"] = page.template == "map"
        values["leaflet"] = site.hasLeaflet
        if let project {
            let base = "\(WebSite.prefix)/p/\(project)"
            values["base"] = base
            values["project"] = ["name": project, "signOut": signOut]
            values["jsonTwin"] = jsonTwin(request.uri.path, query: request.uri.query, base: base)
        } else {
            values["project"] = false
            values["jsonTwin"] = request.uri.path
        }
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(
            status: .init(code: page.status), headers: headers,
            body: .init(byteBuffer: ByteBuffer(string: WebRenderer.render(page.template, values))))
    }

    static func jsonTwin(_ path: String, query: String?, base: String) -> String {
        var p = path
        while p.hasSuffix("/") { p.removeLast() }
        let twin = p == base ? base + "/index.json" : p + ".json"
        return query.map { twin + "?" + $0 } ?? twin
    }

    /// Headers on every web answer: a Content-Security-Policy with no inline script or style
    /// and no other origin (but a configured tile server's images on the map), `nosniff`, no
    /// framing, no referrer, no caching of private pages.
    static func securityHeaders(map tiles: String? = nil) -> HTTPFields {
        var img = "img-src 'self'"
        if let tiles, let origin = tileOrigin(tiles) { img += " \(origin)" }
        let csp = "default-src 'self'; script-src 'self'; style-src 'self'; \(img); connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        return [
            HTTPField.Name("Content-Security-Policy")!: csp,
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            HTTPField.Name("X-Frame-Options")!: "DENY",
            HTTPField.Name("Referrer-Policy")!: "no-referrer",
            .cacheControl: "no-store",
        ]
    }

    /// `https://host[:port]` of a tile URL template, for the map page's `img-src`.
    static func tileOrigin(_ template: String) -> String? {
        let probe = template.replacingOccurrences(of: "{s}", with: "a").replacingOccurrences(of: "{z}", with: "0")
            .replacingOccurrences(of: "{x}", with: "0").replacingOccurrences(of: "{y}", with: "0")
            .replacingOccurrences(of: "{r}", with: "")
        guard let u = URLComponents(string: probe), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = u.host, !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" })
        else { return nil }
        let hostPart = template.contains("{s}") ? "*." + host.split(separator: ".").dropFirst().joined(separator: ".") : host
        return "\(scheme)://\(hostPart)" + (u.port.map { ":\($0)" } ?? "")
    }

    static func redirect(_ location: String) -> Response {
        var headers = securityHeaders()
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    static func asset(_ text: String, type: String) -> Response {
        var headers = securityHeaders()
        headers[.contentType] = type
        headers[.cacheControl] = "public, max-age=3600"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A file of Leaflet's directory: `leaflet.js`, `leaflet.css` or `images/NAME.png`, nothing else.
    static func leaflet(_ request: Request, path: String, site: WebSite) -> Response {
        let types = ["leaflet.js": "text/javascript; charset=utf-8", "leaflet.css": "text/css; charset=utf-8"]
        let parts = path.split(separator: "/")
        let type: String?
        if let t = types[path] {
            type = t
        } else if parts.count == 2, parts[0] == "images", parts[1].hasSuffix(".png"),
            parts[1].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }), !parts[1].hasPrefix(".")
        {
            type = "image/png"
        } else {
            type = nil
        }
        guard let type, let data = FileManager.default.contents(atPath: site.leafletDirectory + "/" + path) else {
            var headers = securityHeaders()
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(
                status: .notFound, headers: headers,
                body: .init(byteBuffer: ByteBuffer(string: "Leaflet is not installed here: apt-get install libjs-leaflet\n")))
        }
        var headers = securityHeaders()
        headers[.contentType] = type
        headers[.cacheControl] = "public, max-age=86400"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// An attachment's bytes, for a record of the project that references them: an image
    /// inline (its type, `nosniff`), anything else as a download (`Content-Disposition:
    /// attachment`), each under a CSP sandbox.
    static func attachment<Context: RequestContext>(_ request: Request, _ context: Context, site: WebSite) async throws -> Response {
        switch try await access(request, context, site: site, json: false) {
        case .answer(let r): return r
        case .store(let store, _):
            let id = context.parameters.get("id") ?? ""
            let hex = (context.parameters.get("hash") ?? "").lowercased()
            let found: AttachmentRef? = try await blockingWeb {
                guard let r = try record(id, in: store) else { return nil }
                return r.attachments.first { $0.ref.hash.hex == hex }?.ref
            }
            guard let ref = found, store.blobs.presence(of: ref.hash) == .present else {
                let project = context.parameters.get("project") ?? ""
                return respond(
                    notFound("This record has no such attachment, or its bytes are not on this server."), request: request, site: site,
                    project: project, signOut: site.needsSignIn, json: false)
            }
            var headers = securityHeaders()
            headers[HTTPField.Name("Content-Security-Policy")!] = "default-src 'none'; img-src 'self'; sandbox"
            let type = ref.mediaType.lowercased()
            if ProjectPages.inlineImageTypes.contains(type) {
                headers[.contentType] = type
                headers[.contentDisposition] = "inline; filename=\"\(asciiName(ref.name))\"; filename*=UTF-8''\(WebForm.encode(ref.name))"
            } else {
                headers[.contentType] = "application/octet-stream"
                headers[.contentDisposition] = "attachment; filename=\"\(asciiName(ref.name))\"; filename*=UTF-8''\(WebForm.encode(ref.name))"
            }
            headers[.cacheControl] = "private, max-age=3600"
            let size = ref.size
            let hash = ref.hash
            let piece = 256 * 1024
            let body = ResponseBody(contentLength: Int(size)) { writer in
                var at: UInt64 = 0
                for _ in 0...(size / UInt64(piece) + 1) where at < size {
                    let from = at
                    let bytes = try await blockingWeb { try store.blobs.read(hash, from: from, maxBytes: piece) }
                    guard !bytes.isEmpty else { throw WebError("the attachment's file ended early") }
                    try await writer.write(ByteBuffer(bytes: bytes))
                    at += UInt64(bytes.count)
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: headers, body: body)
        }
    }

    /// A file name fit for a quoted header parameter: ASCII letters, digits and `._-`, others `_`.
    static func asciiName(_ name: String) -> String {
        let s = String(name.unicodeScalars.map { u -> Character in
            (u.isASCII && (CharacterSet.alphanumerics.contains(u) || u == "." || u == "-" || u == "_")) ? Character(u) : "_"
        })
        return s.isEmpty ? "attachment" : String(s.prefix(100))
    }
}

/// A page crossing from the blocking pool back to the handler (its values are plain data
/// built and read on one task at a time).
struct UncheckedPage: @unchecked Sendable {
    var page: WebPage
}
