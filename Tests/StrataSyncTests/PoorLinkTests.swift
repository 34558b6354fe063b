import Foundation
import StrataCodec
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting
import StrataTestSupport
import Testing

@testable import StrataCore

/// What syncing until success took. `pulled` and `pushed` are those of the attempt that
/// completed: batches an interrupted attempt had moved are not counted again.
struct RetriedSync {
    var pulled = 0
    var pushed = 0
    var attempts = 0
    var failures: [String] = []
    var requests = 0
    /// Changes in push requests begun over all attempts (cut ones included).
    var changesSent = 0
    /// Changes in pull responses received whole over all attempts.
    var changesReceived = 0
}

/// Syncs, and after a failure syncs again (as a person would), at most `attempts` times.
func syncUntilDone(
    _ store: Store, _ url: String, token: String, batchBytes: Int, attempts: Int = 8, pause: Duration = .milliseconds(300),
    timeout: Int64 = 120
) async throws -> RetriedSync {
    var out = RetriedSync()
    for _ in 0..<attempts {
        out.attempts += 1
        let t = CountingTransport(HTTPTransport(baseURL: url, project: "palmyra", token: token, timeout: .seconds(timeout)))
        var client = SyncClient(store: store, transport: t)
        client.maxBatchBytes = batchBytes
        do {
            let r = try await client.sync()
            await t.close()
            out.requests += t.requests
            out.changesSent += t.changesSent
            out.changesReceived += t.changesReceived
            out.pulled = r.pulled
            out.pushed = r.pushed
            return out
        } catch {
            await t.close()
            out.requests += t.requests
            out.changesSent += t.changesSent
            out.changesReceived += t.changesReceived
            out.failures.append("\(error)")
            // A cut sync may have moved batches before the cut; the next one skips them.
            try await Task.sleep(for: pause)
        }
    }
    throw SyncClientError("gave up after \(attempts) attempts: \(out.failures)")
}

/// Notes of seeded random words (about `bytes` characters each), so they compress like text
/// rather than like one repeated word.
func addFieldNotes(_ store: Store, count: Int, bytes: Int, seed: UInt64) throws {
    var rng = SeededRandom(seed: seed)
    let letters = Array("abcdefghijklmnopqrstuvwxyz")
    let vocabulary = (0..<600).map { _ in String((0..<Int.random(in: 3...10, using: &rng)).map { _ in letters.randomElement(using: &rng)! }) }
    for i in 0..<count {
        var body = ""
        while body.count < bytes { body += vocabulary.randomElement(using: &rng)! + " " }
        let id = store.newRecordID()
        try store.commit([
            .create(id, kind: .note), .set(id, field: "title", .text("Field note \(i)")), .set(id, field: "body", .text(body)),
        ])
    }
}

@Suite(.serialized) struct PoorLinkTests {
    /// A push and a pull over a slowed loopback link, each cut mid-transfer: the retried sync
    /// completes, moves only what was not acknowledged (counted in bytes through the link),
    /// and every replica ends identical.
    @Test func aCutSyncOverASlowLinkResumesAndConverges() async throws {
        let team = try Team(researchers: ["Khaled", "Maria"])
        let baseline = try Team(researchers: ["Khaled", "Maria"])
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        try addFieldNotes(khaled, count: 80, bytes: 1000, seed: 6)
        let tokens = team.tokens
        let baseTokens = baseline.tokens
        let batch = 4000
        let profile = LinkProfile(oneWayDelay: 0.002, bytesPerSecond: 2_000_000, chunkBytes: 2048)
        // Per-request overhead allowance: HTTP headers, the session and first pull of a retry.
        let slack = batch + 3 * 1024

        // Baselines: the same push and pull over an uncut link, to a second server.
        let (pushBytes, pullBytes): (Int, Int) = try await withServer(baseline.backend) { url in
            let link = try LinkSimulator(targetPort: UInt16(port(of: url)), profile: profile)
            defer { link.stop() }
            let via = "http://127.0.0.1:\(link.port)"
            let up = try await syncUntilDone(khaled, via, token: baseTokens["Khaled"]!, batchBytes: batch, attempts: 1)
            #expect(up.pushed == 80)
            let pushBytes = link.bytesUp
            let other = try Store.create(at: dir.file("baseline-maria.strata"), author: "Maria")
            let down0 = link.bytesDown
            let down = try await syncUntilDone(other, via, token: baseTokens["Maria"]!, batchBytes: batch, attempts: 1)
            #expect(down.pulled == 80)
            return (pushBytes, link.bytesDown - down0)
        }
        #expect(pushBytes > 4 * slack && pullBytes > 4 * slack, "too little data to tell resuming from restarting")

        try await withServer(team.backend) { url in
            let server = try #require(try team.backend.store(for: "palmyra"))
            // Push, cut halfway through the upstream bytes.
            let pushLink = try LinkSimulator(
                targetPort: UInt16(port(of: url)), profile: profile,
                cuts: [LinkCut(.afterBytes(pushBytes / 2, .up), downFor: 0.2)])
            defer { pushLink.stop() }
            let push = try await syncUntilDone(khaled, "http://127.0.0.1:\(pushLink.port)", token: tokens["Khaled"]!, batchBytes: batch)
            #expect(pushLink.cutsDone == 1)
            #expect(push.attempts >= 2, "the cut did not interrupt the push: \(push)")
            // The completing attempt pushed only what the cut one had not.
            #expect(push.pushed > 0 && push.pushed < 80, "\(push)")
            #expect(try server.status().changes == 80)
            // Resumed, not restarted: about one batch more than an uncut push, not half again.
            #expect(pushLink.bytesUp <= pushBytes + slack, "\(pushLink.bytesUp) bytes up against \(pushBytes) uncut")

            // Pull, cut halfway through the downstream bytes.
            let pullLink = try LinkSimulator(
                targetPort: UInt16(port(of: url)), profile: profile,
                cuts: [LinkCut(.afterBytes(pullBytes / 2, .down), downFor: 0.2)])
            defer { pullLink.stop() }
            let pull = try await syncUntilDone(maria, "http://127.0.0.1:\(pullLink.port)", token: tokens["Maria"]!, batchBytes: batch)
            #expect(pullLink.cutsDone == 1)
            #expect(pull.attempts >= 2, "the cut did not interrupt the pull: \(pull)")
            #expect(pull.pulled > 0 && pull.pulled < 80, "\(pull)")
            #expect(try maria.status().changes == 80)
            #expect(pullLink.bytesDown <= pullBytes + slack, "\(pullLink.bytesDown) bytes down against \(pullBytes) uncut")

            #expect(try maria.snapshot() == (try khaled.snapshot()))
            #expect(try server.snapshot() == (try khaled.snapshot()))
            #expect(try maria.versionVector() == (try server.versionVector()))
            #expect(try maria.check() == [])
        }
    }

    /// The link simulator itself: bandwidth and delay shape the transfer, a timed cut resets
    /// the connection, and connections made while the link is down are refused.
    @Test func theLinkSimulatorCutsAndRefusesWhileDown() async throws {
        let team = try Team(researchers: ["Khaled"])
        try await withServer(team.backend) { url in
            let link = try LinkSimulator(
                targetPort: UInt16(port(of: url)), profile: LinkProfile(oneWayDelay: 0.01),
                cuts: [LinkCut(.atSecond(0.3), downFor: 60)])
            defer { link.stop() }
            let via = "http://127.0.0.1:\(link.port)"
            let ok = try await rawRequest(via + "/v1/health", method: .GET)
            #expect(ok.status == 200)
            for _ in 0..<100 where link.cutsDone == 0 { try await Task.sleep(for: .milliseconds(20)) }
            #expect(link.cutsDone == 1)
            await #expect(throws: (any Error).self) { _ = try await rawRequest(via + "/v1/health", method: .GET) }
            #expect(link.refused >= 1)
        }
    }

    /// The long run (opt-in: STRATA_POOR_LINK_LONG=1; Tools/poor-link/run.sh): a field day of
    /// notes over 64 kbit/s with a 600 ms round trip, stalls and cuts, against the physical limit.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STRATA_POOR_LINK_LONG"] == "1"))
    func fieldLinkLongRun() async throws {
        let env = ProcessInfo.processInfo.environment
        let notes = Int(env["STRATA_POOR_LINK_NOTES"] ?? "") ?? 300
        let noteBytes = Int(env["STRATA_POOR_LINK_NOTE_BYTES"] ?? "") ?? 600
        let kbit = Double(env["STRATA_POOR_LINK_KBIT"] ?? "") ?? 64
        let rtt = Double(env["STRATA_POOR_LINK_RTT_MS"] ?? "") ?? 600
        let batchKB = Int(env["STRATA_POOR_LINK_BATCH_KB"] ?? "") ?? 64
        let seed = UInt64(env["STRATA_POOR_LINK_SEED"] ?? "") ?? 2015
        let cutAt = Double(env["STRATA_POOR_LINK_CUT"] ?? "") ?? 0.5
        let team = try Team(researchers: ["Khaled", "Maria"])
        let baseline = try Team(researchers: ["Khaled", "Maria"])
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        try addFieldNotes(khaled, count: notes, bytes: noteBytes, seed: seed)
        let tokens = team.tokens
        let baseTokens = baseline.tokens
        let batch = batchKB * 1024
        let base = LinkProfile.field(kbit: kbit, rttMillis: rtt)
        let bandwidth = base.bytesPerSecond!
        print("poor-link: \(notes) notes of ~\(noteBytes) chars, \(kbit) kbit/s, RTT \(Int(rtt)) ms, batches of \(batchKB) KiB, cut at \(Int(cutAt * 100))% of the bytes, seed \(seed)")

        // Wire bytes of an uncut push and pull, to place the cuts and the stalls.
        let (upBytes, downBytes): (Int, Int) = try await withServer(baseline.backend) { url in
            let link = try LinkSimulator(targetPort: UInt16(port(of: url)))
            defer { link.stop() }
            _ = try await syncUntilDone(khaled, "http://127.0.0.1:\(link.port)", token: baseTokens["Khaled"]!, batchBytes: batch, attempts: 1)
            let up = link.bytesUp
            let other = try Store.create(at: dir.file("baseline-maria.strata"), author: "Maria")
            let d0 = link.bytesDown
            _ = try await syncUntilDone(other, "http://127.0.0.1:\(link.port)", token: baseTokens["Maria"]!, batchBytes: batch, attempts: 1)
            return (up, link.bytesDown - d0)
        }

        try await withServer(team.backend) { url in
            for (phase, store, token, bytes, dir) in [
                ("push", khaled, tokens["Khaled"]!, upBytes, LinkDirection.up),
                ("pull", maria, tokens["Maria"]!, downBytes, LinkDirection.down),
            ] {
                let expected = Double(bytes) / bandwidth
                var field = base
                field.stalls = LinkProfile.seededStalls(
                    seed: seed ^ (dir == .up ? 1 : 2), count: 3, within: max(1, expected), minDuration: 2, maxDuration: 5)
                let downFor = 5.0
                let link = try LinkSimulator(
                    targetPort: UInt16(port(of: url)), profile: field,
                    cuts: [LinkCut(.afterBytes(Int(Double(bytes) * cutAt), dir), downFor: downFor)])
                let pause = Duration.seconds(2)
                let start = ContinuousClock.now
                let r = try await syncUntilDone(
                    store, "http://127.0.0.1:\(link.port)", token: token, batchBytes: batch, attempts: 20, pause: pause, timeout: 300)
                let seconds = (ContinuousClock.now - start) / .seconds(1)
                link.stop()
                let wire = link.bytesUp + link.bytesDown
                let roundTrips = r.requests + link.connections
                let limit = Double(wire) / bandwidth + Double(roundTrips) * rtt / 1000
                let stalled = field.stalls.reduce(0) { $0 + $1.duration }
                let pauses = Double(r.attempts - 1) * 2
                func f(_ x: Double) -> String { String(format: "%.1f", x) }
                let outages = limit + stalled + downFor + pauses
                print(
                    "poor-link \(phase): \(f(seconds)) s; \(link.bytesUp) B up + \(link.bytesDown) B down "
                        + "(uncut: \(bytes) B \(dir == .up ? "up" : "down"), so \((dir == .up ? link.bytesUp : link.bytesDown) - bytes) B more for the cut); \(r.requests) requests, \(link.connections) connections, "
                        + "\(r.attempts) attempts, \(link.cutsDone) cut, \(dir == .up ? "\(r.changesSent) changes sent in push requests" : "\(r.changesReceived) changes received in whole pull responses") for \(notes); physical limit \(f(limit)) s (bytes / bandwidth "
                        + "\(f(Double(wire) / bandwidth)) s + \(roundTrips) round trips x \(Int(rtt)) ms); ratio \(String(format: "%.2f", seconds / limit)); "
                        + "link stalls \(f(stalled)) s, down \(f(downFor)) s, retry pauses \(f(pauses)) s; "
                        + "limit plus every outage (an overestimate: they overlap) \(f(outages)) s")
                #expect(try store.status().changes == notes)
                #expect(link.cutsDone == 1 && r.attempts >= 2)
            }
            let server = try #require(try team.backend.store(for: "palmyra"))
            #expect(try maria.snapshot() == (try khaled.snapshot()))
            #expect(try server.snapshot() == (try khaled.snapshot()))
            #expect(try maria.check() == [])
            print("poor-link: replicas identical (\(try maria.status().changes) changes); nothing lost")
        }
    }
}
