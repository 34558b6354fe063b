import Foundation
import StrataCore
import StrataServer
import StrataStore
import StrataSyncTesting
import StrataTestSupport
import Testing

/// A storage that answers nothing: its data is out of reach (a removed disk, a database down).
struct UnreachableStorage: ServerStorage {
    struct Down: Error {}
    func authenticate(_ token: String) throws -> Grant? { throw Down() }
    func project(_ name: String) throws -> (any ProjectStorage)? { throw Down() }
    func checkReady() throws { throw Down() }
}

/// What an operator's load balancer and monitoring ask, over real HTTP: the process is up
/// (`/healthz`), its storage can be read (`/readyz`, 503 with Retry-After when not).
@Suite(.serialized) struct OperatorEndpointTests {
    @Test func healthAndReadinessOfATeamServer() async throws {
        let team = try Team(researchers: ["Khaled"])
        try await withServer(team.backend) { url in
            let health = try await rawRequest(url + "/healthz", method: .GET)
            #expect(health.status == 200 && health.json["status"] as? String == "ok")
            let ready = try await rawRequestWithHeaders(url + "/readyz", token: "")
            #expect(ready.status == 200 && ready.json["status"] as? String == "ready")
        }
    }

    @Test func aServerWhoseStorageCannotBeReadIsUpButNotReady() async throws {
        try await withServer(UnreachableStorage()) { url in
            let health = try await rawRequest(url + "/healthz", method: .GET)
            #expect(health.status == 200)
            let ready = try await rawRequestWithHeaders(url + "/readyz", token: "")
            #expect(ready.status == 503)
            #expect(ready.headers.first(name: "Retry-After") == "5")
            #expect(ready.json["status"] as? String == "unavailable")
            // A sync request says the same in its own words: the server could not read its data.
            let session = try await rawRequestWithHeaders(url + "/v1/projects/palmyra/session", token: "stk_x")
            #expect(session.status == 503)
            #expect(session.headers.first(name: "Retry-After") == "5")
            #expect((session.json["error"] as? [String: Any])?["code"] as? String == "unavailable")
        }
    }
}
