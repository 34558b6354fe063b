import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The key that signs web sessions. Every server that may see a browser's requests must hold
/// the same key (several servers behind a proxy): a team server on SQLite keeps it in its
/// data directory (`web-session.key`, made once, owner-only); a peer server makes one for its
/// own lifetime (its token lives no longer).
public struct SessionKey: Sendable {
    let bytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: bytes) }

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// A random key that lives as long as this process.
    public static func random() -> SessionKey { SessionKey(bytes: Array(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })) }

    /// The key in `directory/web-session.key`, made (owner-only, linked into place so two
    /// servers starting at once agree on one) when there is none.
    public static func load(orCreateIn directory: String) throws -> SessionKey {
        let path = directory + "/web-session.key"
        if let k = try read(path) { return k }
        let fresh = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let temp = directory + "/.web-session.key.\(getpid()).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw WebError("cannot write \(temp): \(String(cString: strerror(errno)))") }
        let text = Array(fresh.map { String(format: "%02x", $0) }.joined().utf8) + [10]
        let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        defer { unlink(temp) }
        guard written == text.count, synced == 0 else { throw WebError("cannot write \(temp)") }
        if link(temp, path) != 0 && errno != EEXIST {
            throw WebError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        guard let k = try read(path) else { throw WebError("\(path) is not a session key (64 hex digits)") }
        return k
    }

    static func read(_ path: String) throws -> SessionKey? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let chars = Array(text.utf8)
        guard chars.count == 64 else { throw WebError("\(path) is not a session key (64 hex digits)") }
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: 64, by: 2) {
            guard let b = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else {
                throw WebError("\(path) is not a session key (64 hex digits)")
            }
            bytes.append(b)
        }
        return SessionKey(bytes: bytes)
    }
}

/// A signed-in browser's session: which project, through which token, until when. The cookie
/// holds these facts in clear and an HMAC-SHA256 over them; it never holds the token. Any
/// server with the key verifies it with no state of its own, and then asks the storage whether
/// the token is still live, so revoking the token ends its sessions.
public struct WebSession: Sendable, Equatable {
    public static let cookieName = "strata_session"
    public var project: String
    public var tokenID: Int64
    /// Seconds since 1970.
    public var expires: Int64

    public init(project: String, tokenID: Int64, expires: Int64) {
        self.project = project
        self.tokenID = tokenID
        self.expires = expires
    }

    static func message(project: String, tokenID: Int64, expires: Int64) -> [UInt8] {
        Array("strata-web-session v1\n\(project)\n\(tokenID)\n\(expires)".utf8)
    }

    /// The cookie's value: `v1.PROJECT.TOKENID.EXPIRES.MAC` (project names have no dot).
    public func cookieValue(key: SessionKey) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Self.message(project: project, tokenID: tokenID, expires: expires), using: key.key)
        return "v1.\(project).\(tokenID).\(expires).\(Self.base64url(Array(mac)))"
    }

    /// The session a cookie value names when its MAC is right and it has not expired, else nil.
    public static func verify(_ value: String, key: SessionKey, now: Int64) -> WebSession? {
        let parts = value.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "v1", let id = Int64(parts[2]), let expires = Int64(parts[3]),
            let mac = unbase64url(String(parts[4]))
        else { return nil }
        let project = String(parts[1])
        guard
            HMAC<SHA256>.isValidAuthenticationCode(
                mac, authenticating: message(project: project, tokenID: id, expires: expires), using: key.key)
        else { return nil }
        guard now < expires else { return nil }
        return WebSession(project: project, tokenID: id, expires: expires)
    }

    static func base64url(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func unbase64url(_ s: String) -> [UInt8]? {
        var t = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while t.count % 4 != 0 { t += "=" }
        return Data(base64Encoded: t).map(Array.init)
    }
}

/// A failure of the web view's setup (its key, its Leaflet copy), as one line of facts.
public struct WebError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}
