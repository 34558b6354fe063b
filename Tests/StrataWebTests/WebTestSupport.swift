import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import StrataCore
import StrataServer
import StrataStore
import StrataSyncTesting
import StrataTestSupport

/// One HTTP answer, as the web tests read it.
struct WebAnswer {
    let status: Int
    let headers: HTTPHeaders
    let bytes: [UInt8]
    var text: String { String(decoding: bytes, as: UTF8.self) }
    func header(_ name: String) -> String? { headers.first(name: name) }
    func json() throws -> Any { try JSONSerialization.jsonObject(with: Data(bytes)) }
    /// The session cookie's value from `Set-Cookie`, when one was set.
    var sessionCookie: String? {
        guard let c = header("Set-Cookie"), c.hasPrefix("strata_session=") else { return nil }
        return String(c.dropFirst("strata_session=".count).prefix { $0 != ";" })
    }
}

/// A request over real HTTP on loopback, redirects not followed.
func web(
    _ url: String, method: HTTPMethod = .GET, cookie: String? = nil, headers: [(String, String)] = [], form: [String: String]? = nil
) async throws -> WebAnswer {
    var config = HTTPClient.Configuration()
    config.redirectConfiguration = .disallow
    config.decompression = .disabled
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    var req = HTTPClientRequest(url: url)
    req.method = method
    if let cookie { req.headers.add(name: "Cookie", value: "strata_session=\(cookie)") }
    for (k, v) in headers { req.headers.add(name: k, value: v) }
    if let form {
        req.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        let body = form.map { "\(enc($0.key))=\(enc($0.value))" }.joined(separator: "&")
        req.body = .bytes(ByteBuffer(string: body))
    }
    do {
        let resp = try await client.execute(req, timeout: .seconds(30))
        let data = try await resp.body.collect(upTo: 16 << 20)
        try await client.shutdown()
        return WebAnswer(status: Int(resp.status.code), headers: resp.headers, bytes: Array(data.readableBytesView))
    } catch {
        try? await client.shutdown()
        throw error
    }
}

func enc(_ s: String) -> String {
    s.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? ""
}

/// Hostile values: each must come back as text, never as markup.
enum Hostile {
    static let title = "<script>alert('title')</script>Bust \"of\" Aqmat & co"
    static let tag = "x-onerror"
    static let field = "<img src=x onerror=alert(1)>"
    static let caption = "</figcaption><script>alert('caption')</script>"
    static let url = "javascript:alert(document.cookie)"
}

/// The demo's story on a team server: Palmyra's theatre (a site with a location, poor), the
/// funerary bust (an artefact moved for safekeeping, with a located origin) edited on two
/// replicas so its `state` is in conflict, a note about the theatre, a hostile artefact and a
/// `javascript:` link, a photo of the bust with a hostile caption. Project `palmyra` and an
/// `other` project with a record of its own.
struct WebFixture: Sendable {
    let team: Team
    let dir: TemporaryDirectory
    let theatre: RecordID
    let bust: RecordID
    let note: RecordID
    let hostile: RecordID
    let link: RecordID
    let photo: BlobHash
    let readToken: String
    let otherToken: String
    let revokedTokenID: Int64
    let revokedToken: String

    static func make() async throws -> WebFixture {
        var team = try Team(researchers: ["Khaled", "Maria"])
        try team.backend.addProject("other")
        let read = try team.backend.tokens.createToken(project: "palmyra", researcher: "Registrar", role: .read)
        let other = try team.backend.tokens.createToken(project: "other", researcher: "Khaled", role: .write)
        let doomed = try team.backend.tokens.createToken(project: "palmyra", researcher: "Old", role: .read)
        team.tokens["reader"] = read.token
        let dir = try TemporaryDirectory("strata-web")
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        let theatre = khaled.newRecordID()
        let bust = khaled.newRecordID()
        let note = khaled.newRecordID()
        let hostile = khaled.newRecordID()
        let link = khaled.newRecordID()
        try khaled.commit([
            .create(theatre, kind: .site), .set(theatre, field: "name", .text("Roman theatre")),
            .set(theatre, field: "condition", .text("poor")),
            .set(theatre, field: "location", .location(Location(latitude: 34.5507, longitude: 38.2683, accuracyMetres: 10))),
            .add(theatre, field: SystemField.tags, element: "palmyra"),
        ])
        try khaled.commit([
            .create(bust, kind: .artefact), .set(bust, field: "title", .text("Funerary bust of Aqmat")),
            .set(bust, field: "state", .text("in-situ")),
            .set(bust, field: "location", .location(Location(latitude: 34.5523, longitude: 38.2690, accuracyMetres: nil))),
            .add(bust, field: SystemField.relations, element: RelationElement.make("origin", theatre)),
        ])
        try khaled.commit([
            .create(note, kind: .note), .set(note, field: "title", .text("Stage front collapsed")),
            .set(note, field: "body", .text("Seen from the north side.")),
            .add(note, field: SystemField.relations, element: RelationElement.make("about", theatre)),
        ])
        try khaled.commit([
            .create(hostile, kind: .artefact), .set(hostile, field: "title", .text(Hostile.title)),
            .set(hostile, field: "inscriptions", .text(Hostile.field)),
            .add(hostile, field: SystemField.tags, element: Hostile.tag),
        ])
        try khaled.commit([
            .create(link, kind: .link), .set(link, field: "url", .text(Hostile.url)),
            .set(link, field: "title", .text("A report")),
        ])
        let photoPath = dir.file("bust.png")
        try Data(pngBytes).write(to: URL(fileURLWithPath: photoPath))
        let attached = try khaled.attach([AttachmentInput(path: photoPath, caption: Hostile.caption)], to: bust)
        // Maria sees the bust, then both change its state: a conflict.
        try maria.apply(try khaled.changes(missingFrom: VersionVector()))
        try khaled.commit([.set(bust, field: "state", .text("moved-for-safekeeping"))])
        try maria.commit([.set(bust, field: "state", .text("missing"))])
        let server = try requireStoreValue(team.backend.store(for: "palmyra"))
        try server.apply(try khaled.changes(missingFrom: VersionVector()))
        try server.apply(try maria.changes(missingFrom: VersionVector()))
        _ = try server.blobs.add(bytes: pngBytes)
        let otherStore = try requireStoreValue(team.backend.store(for: "other"))
        let secret = otherStore.newRecordID()
        try otherStore.commit([.create(secret, kind: .note), .set(secret, field: "title", .text("Other project's note"))])
        try team.backend.tokens.revoke(id: doomed.id)
        return WebFixture(
            team: team, dir: dir, theatre: theatre, bust: bust, note: note, hostile: hostile, link: link,
            photo: attached[0].ref.hash, readToken: read.token, otherToken: other.token, revokedTokenID: doomed.id,
            revokedToken: doomed.token)
    }

    /// A tiny valid PNG (1×1).
    static let pngBytes: [UInt8] = [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01,
        0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41,
        0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00,
        0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ]
}

struct MissingStore: Error {}

func requireStoreValue(_ s: Store?) throws -> Store {
    guard let s else { throw MissingStore() }
    return s
}
