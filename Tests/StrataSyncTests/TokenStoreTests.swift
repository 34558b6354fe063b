import Foundation
import GRDB
import StrataSyncTesting
import StrataTestSupport
import Testing

@testable import StrataServer

/// The team server's token database: `last_used_at` is bookkeeping, written at most once a
/// minute per token, so an authenticated request is a read, not a write transaction.
@Suite struct TokenStoreTests {
    static func makeTokens(_ dir: TemporaryDirectory) throws -> (TokenStore, String) {
        let tokens = try TokenStore(path: dir.file("server.sqlite"))
        try tokens.addProject("palmyra")
        let (_, token) = try tokens.createToken(project: "palmyra", researcher: "Khaled", role: .write)
        return (tokens, token)
    }

    /// A second request soon after the first needs no write: it is served while another
    /// connection holds the database's write lock (it used to wait for the lock, up to the
    /// busy timeout, and then fail), and the recorded last use stays the first one.
    @Test func aSecondRequestSoonAfterTheFirstDoesNotWrite() throws {
        let dir = try TemporaryDirectory()
        let (tokens, token) = try Self.makeTokens(dir)
        #expect(try tokens.listTokens().first?.lastUsedAt == nil)
        #expect(try tokens.authenticate(token)?.researcher == "Khaled")
        let first = try #require(try tokens.listTokens().first?.lastUsedAt)

        var config = Configuration()
        config.busyMode = .immediateError
        let other = try DatabaseQueue(path: dir.file("server.sqlite"), configuration: config)
        let started = Date()
        try other.inTransaction(.immediate) { db in
            try db.execute(sql: "UPDATE projects SET created_at = created_at")
            #expect(try tokens.authenticate(token)?.researcher == "Khaled")
            return .rollback
        }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try tokens.listTokens().first?.lastUsedAt == first)
    }
}

extension TokenStoreTests {
    /// A clock the test moves by hand.
    final class Clock: @unchecked Sendable {
        var now = Date(timeIntervalSince1970: 1_800_000_000)
    }

    /// With an injected clock: a request 30 s after the first leaves the recorded time alone, one
    /// 61 s after it records the new time, so `strata server token list` stays within a minute.
    @Test func theLastUseIsRecordedAtMostOnceAMinute() throws {
        let dir = try TemporaryDirectory()
        let clock = Clock()
        let tokens = try TokenStore(path: dir.file("server.sqlite"), now: { clock.now })
        try tokens.addProject("palmyra")
        let (_, token) = try tokens.createToken(project: "palmyra", researcher: "Maria", role: .read)
        let t0 = clock.now
        #expect(try tokens.authenticate(token) != nil)
        #expect(try tokens.listTokens().first?.lastUsedAt == t0)
        clock.now = t0.addingTimeInterval(30)
        #expect(try tokens.authenticate(token) != nil)
        #expect(try tokens.listTokens().first?.lastUsedAt == t0)
        clock.now = t0.addingTimeInterval(61)
        #expect(try tokens.authenticate(token) != nil)
        #expect(try tokens.listTokens().first?.lastUsedAt == clock.now)
        // A clock set back by more than the resolution records the new time too.
        clock.now = t0.addingTimeInterval(-3600)
        #expect(try tokens.authenticate(token) != nil)
        #expect(try tokens.listTokens().first?.lastUsedAt == clock.now)
        // Revoked tokens are refused and not recorded.
        try tokens.revoke(id: try #require(try tokens.listTokens().first?.id))
        clock.now = t0.addingTimeInterval(7200)
        #expect(try tokens.authenticate(token) == nil)
        #expect(try tokens.listTokens().first?.lastUsedAt == t0.addingTimeInterval(-3600))
    }
}
