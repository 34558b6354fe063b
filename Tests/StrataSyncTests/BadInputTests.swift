import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting
import StrataTestSupport
import Testing

/// Every bad request gets its status and a JSON error, the server keeps serving, and the
/// project's replica stays byte-identical.
@Suite(.serialized) struct BadInputTests {
    @Test func badRequestsGetTheirStatusAndLeaveTheStoreByteIdentical() async throws {
        var team = try Team(researchers: ["Khaled", "Maria"])
        try team.backend.addProject("other")
        let readToken = try team.backend.tokens.createToken(project: "palmyra", researcher: "Reader", role: .read).token
        let otherToken = try team.backend.tokens.createToken(project: "other", researcher: "Khaled", role: .write).token
        let revoked = try team.backend.tokens.createToken(project: "palmyra", researcher: "Old", role: .write)
        try team.backend.tokens.revoke(id: revoked.id)
        team.tokens["reader"] = readToken
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let id = khaled.newRecordID()
        try khaled.commit([.create(id, kind: .site), .set(id, field: "name", .text("Citadel"))])
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        try maria.apply(try khaled.changes(missingFrom: VersionVector()))
        try maria.commit([.set(id, field: "condition", .text("poor"))])
        let tokens = team.tokens
        var limits = ServerLimits()
        limits.maxBodyBytes = 256 << 10
        let backend = team.backend
        try await withServer(backend, limits: limits) { url in
            try await sync(khaled, url, token: tokens["Khaled"]!)
            let server = try #require(try backend.store(for: "palmyra"))
            let path = server.path
            let before = try Data(contentsOf: URL(fileURLWithPath: path))
            let push = url + "/v1/projects/palmyra/push"
            let cs = SyncCodec.changeSetMediaType
            let good = ChangeSetCodec.encode(try khaled.changes(missingFrom: VersionVector()))
            let fromMaria = ChangeSetCodec.encode(try maria.changes(missingFrom: try khaled.versionVector()))
            let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("Protocol/vectors/invalid")
            func vector(_ n: String) throws -> [UInt8] {
                try [UInt8](Data(contentsOf: vectors.appendingPathComponent("\(n).bin")))
            }
            let cases: [(String, String, String?, String?, [UInt8], Int, String)] = [
                ("no token", push, nil, cs, good, 401, "unauthorized"),
                ("bad token", push, "stk_nope", cs, good, 401, "unauthorized"),
                ("revoked token", push, revoked.token, cs, good, 401, "unauthorized"),
                ("other project's token", push, otherToken, cs, good, 403, "forbidden"),
                ("read token pushing", push, readToken, cs, good, 403, "forbidden"),
                ("another researcher's change", push, tokens["Khaled"], cs, fromMaria, 403, "forbidden"),
                ("unknown project", url + "/v1/projects/nowhere/push", tokens["Khaled"], cs, good, 404, "not-found"),
                ("wrong media type", push, tokens["Khaled"], "application/json", good, 415, "unsupported-media-type"),
                ("malformed body", push, tokens["Khaled"], cs, Array("hello".utf8), 400, "bad-magic"),
                ("truncated body", push, tokens["Khaled"], cs, Array(good.prefix(good.count / 2)), 400, "truncated"),
                ("newer version", push, tokens["Khaled"], cs, try vector("cs-rej-02-newer-version"), 400, "unsupported-version"),
                ("zip bomb", push, tokens["Khaled"], cs, try vector("cs-rej-04-zip-bomb-declared"), 413, "too-large"),
                ("undeclared zip bomb", push, tokens["Khaled"], cs, try vector("cs-rej-06-zip-bomb-undeclared"), 400, "length-mismatch"),
                ("oversized body", push, tokens["Khaled"], cs, [UInt8](repeating: 7, count: 300 << 10), 413, "too-large"),
                ("newer protocol path", url + "/v2/projects/palmyra/push", tokens["Khaled"], cs, good, 404, "unsupported-protocol"),
                ("other project's token pulling", url + "/v1/projects/palmyra/pull", otherToken, SyncCodec.pullRequestMediaType, SyncCodec.encode(PullRequest(replica: khaled.replicaID, version: VersionVector(), maxBatchBytes: 1000)), 403, "forbidden"),
                ("bad pull body", url + "/v1/projects/palmyra/pull", tokens["Khaled"], SyncCodec.pullRequestMediaType, [1, 2, 3], 400, "bad-magic"),
            ]
            for (name, target, token, type, body, status, code) in cases {
                let r = try await rawRequest(target, token: token, contentType: type, body: body)
                #expect(r.status == status, "\(name): got \(r.status) \(r.json)")
                let err = r.json["error"] as? [String: Any]
                #expect(err?["code"] as? String == code, "\(name): \(r.json)")
                #expect((err?["message"] as? String)?.isEmpty == false, "\(name)")
            }
            // A connection cut in the middle of a body.
            try await cutMidBody(url: url, token: tokens["Khaled"]!, body: good)
            // The server still serves, and nothing was applied.
            let health = try await rawRequest(url + "/v1/health", method: .GET)
            #expect(health.status == 200)
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
            // The right token and body still work.
            #expect(try await sync(maria, url, token: tokens["Maria"]!).pushed == 1)
        }
    }

    /// Sends headers promising `body.count` bytes, half the body, then closes.
    func cutMidBody(url: String, token: String, body: [UInt8]) async throws {
        let port = Int(url.split(separator: ":").last!)!
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        var head = "POST /v1/projects/palmyra/push HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head += "Authorization: Bearer \(token)\r\nContent-Type: \(SyncCodec.changeSetMediaType)\r\n"
        head += "Content-Length: \(body.count)\r\n\r\n"
        var buffer = channel.allocator.buffer(capacity: head.utf8.count + body.count)
        buffer.writeString(head)
        buffer.writeBytes(body.prefix(body.count / 2))
        try await channel.writeAndFlush(buffer).get()
        try await channel.close().get()
    }
}
