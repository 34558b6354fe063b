import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync
import StrataSyncTesting
import StrataTestSupport
import Testing

/// Attachment bytes over sync (SPEC §11): after the records, each blob moves on its own,
/// resumes to the byte after a cut, and is served only to a project that references it.
@Suite struct BlobSyncTests {
    static func bytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        var out = [UInt8](repeating: 0, count: n)
        var i = 0
        while i < n {
            let w = rng.next()
            for k in 0..<8 where i + k < n { out[i + k] = UInt8(truncatingIfNeeded: w >> (8 * UInt64(k))) }
            i += 8
        }
        return out
    }

    static func sha(_ b: [UInt8]) -> BlobHash { BlobHash(bytes: Array(SHA256.hash(data: b)))! }

    /// A replica with one artefact holding `files` attachments of the given sizes; returns the
    /// store, the record, and each file's bytes.
    static func replica(_ dir: TemporaryDirectory, _ name: String, author: String, files: [Int], seed: UInt64 = 1) throws
        -> (Store, RecordID, [[UInt8]])
    {
        let store = try Store.create(at: dir.file("\(name).strata"), author: author)
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .artefact), .set(id, field: "title", .text("Funerary bust"))])
        var all: [[UInt8]] = []
        var inputs: [AttachmentInput] = []
        for (i, size) in files.enumerated() {
            let b = bytes(size, seed: seed * 100 + UInt64(i))
            let p = dir.file("\(name)-\(i).bin")
            try Data(b).write(to: URL(fileURLWithPath: p))
            all.append(b)
            inputs.append(AttachmentInput(path: p))
        }
        if !inputs.isEmpty { _ = try store.attach(inputs, to: id) }
        return (store, id, all)
    }

    static func held(_ store: Store, _ hash: BlobHash) throws -> [UInt8] {
        var out: [UInt8] = []
        try store.blobs.read(hash) { out.append(contentsOf: $0) }
        return out
    }

    /// Records, then blobs, as `strata sync` does.
    @discardableResult
    static func syncAll(_ store: Store, _ endpoint: SyncEndpoint, token: String, policy: AttachmentPolicy = .all, project: String = "palmyra")
        async throws -> BlobSyncReport
    {
        let report = try await sync(store, endpoint, project: project, token: token)
        let t = endpoint.transport(project: project, token: token) as! any BlobTransport
        defer { Task { [t] in await (t as! any SyncTransport).close() } }
        return try await BlobSync(store: store, transport: t, policy: policy, mayUpload: report.role >= .write).run()
    }

    // MARK: Round trips

    @Test(arguments: TestStorage.all, [true, false])
    func anAttachmentUploadedByOneReplicaDownloadsByteIdenticalToAnother(storage: TestStorage, inProcess: Bool) async throws {
        try await withTeam(storage, researchers: ["Khaled", "Maria"]) { team in try await roundTrip(team, inProcess: inProcess) }
    }

    func roundTrip(_ team: TestTeam, inProcess: Bool) async throws {
        let dir = try TemporaryDirectory()
        let (khaled, _, files) = try Self.replica(dir, "k", author: "Khaled", files: [3_000_000, 1, 70_000])
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        try await withEndpoint(team.backend, inProcess: inProcess) { endpoint in
            let up = try await Self.syncAll(khaled, endpoint, token: team.tokens["Khaled"]!)
            #expect(up.uploaded == 3 && up.failures.isEmpty)
            #expect(up.bytesUploaded == 3_070_001)
            let down = try await Self.syncAll(maria, endpoint, token: team.tokens["Maria"]!)
            #expect(down.downloaded == 3 && down.failures.isEmpty)
            let again = try await Self.syncAll(maria, endpoint, token: team.tokens["Maria"]!)
            #expect(again.downloaded == 0 && again.uploaded == 0)
        }
        for f in files {
            #expect(try Self.held(maria, Self.sha(f)) == f)
            #expect(try await team.serverBlob(Self.sha(f)) == f)
        }
    }

    // MARK: Cuts

    @Test(arguments: TestStorage.all)
    func anUploadCutAt60PercentResumesThereAndSendsOnlyTheRest(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in try await uploadCutAndResumed(team, secondServer: false) }
    }

    /// Several servers on one database (PostgreSQL), or the same files (SQLite): an upload cut
    /// through one continues at the held offset through another.
    @Test(arguments: TestStorage.all)
    func anUploadCutThroughOneServerResumesThroughASecondOneAtTheHeldOffset(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in try await uploadCutAndResumed(team, secondServer: true) }
    }

    /// Polls what the server holds of a blob (at most 10 s) until it has not changed for a
    /// second: the server writes what arrived once it sees the cut, a piece a transaction on
    /// PostgreSQL, which on a busy machine takes longer than one poll.
    static func settled(_ blobs: any ProjectBlobStorage, _ hash: BlobHash) async throws -> BlobPresence {
        var last = try await blobs.blobPresence(of: hash)
        var still = 0
        for _ in 0..<100 where still < 10 {
            try await Task.sleep(for: .milliseconds(100))
            let now = try await blobs.blobPresence(of: hash)
            still = now == last && now != .missing ? still + 1 : 0
            last = now
        }
        return last
    }

    func uploadCutAndResumed(_ team: TestTeam, secondServer: Bool) async throws {
        let dir = try TemporaryDirectory()
        let size = 2_000_000
        let (khaled, _, files) = try Self.replica(dir, "k", author: "Khaled", files: [size])
        let hash = Self.sha(files[0])
        let token = team.tokens["Khaled"]!
        let blobs = try await team.blobs()
        let other = try await team.secondServerStorage()
        try await withServer(team.backend) { url in
            try await sync(khaled, url, token: token)
            let port = UInt16(url.split(separator: ":").last!)!
            let link = try LinkSimulator(
                targetPort: port, profile: LinkProfile(bytesPerSecond: 1_000_000), cuts: [LinkCut(.afterBytes(size * 6 / 10, .up))])
            defer { link.stop() }
            let first = HTTPTransport(baseURL: "http://127.0.0.1:\(link.port)", project: "palmyra", token: token)
            let cut = try await BlobSync(store: khaled, transport: first, policy: .all, mayUpload: true).run()
            await first.close()
            #expect(cut.uploaded == 0 && cut.stopped != nil)
            // The server writes what arrived once it sees the cut, which may be after the
            // client gave up: wait (at most 5 s) until what it holds stops changing.
            let settled = try await Self.settled(blobs, hash)
            guard case .partial(let n) = settled else {
                Issue.record("the server holds no partial after the cut: \(settled)")
                return
            }
            if secondServer {
                // Another process on the same data sees the same partial and takes the rest.
                try await withServer(other) { second in
                    let t = HTTPTransport(baseURL: second, project: "palmyra", token: token)
                    let resumed = try await BlobSync(store: khaled, transport: t, policy: .all, mayUpload: true).run()
                    await t.close()
                    #expect(resumed.uploaded == 1 && resumed.bytesUploaded == UInt64(size) - n)
                }
                return
            }
            // What arrived was kept (the cut falls inside a 1 KiB chunk of the link; the reset
            // also drops what the server's socket held unread: a few milliseconds' worth on a
            // quiet machine, a few hundred KB when the machine is busy).
            let delivered = link.bytesUp
            #expect(n >= UInt64(size / 4) && n <= UInt64(delivered), "held \(n) of \(size), \(delivered) delivered")
            let second = HTTPTransport(baseURL: "http://127.0.0.1:\(link.port)", project: "palmyra", token: token)
            let resumed = try await BlobSync(store: khaled, transport: second, policy: .all, mayUpload: true).run()
            await second.close()
            #expect(resumed.uploaded == 1 && resumed.bytesUploaded == UInt64(size) - n)
            // The second attempt sends the rest and a few requests' headers, not the blob again.
            #expect(link.bytesUp - delivered <= (size - Int(n)) + 4096)
        }
        if secondServer, team.storage == .postgres { await other.close() }
        #expect(try await blobs.blobPresence(of: hash) == .present)
        #expect(try await team.serverBlob(hash) == files[0])
    }

    @Test(arguments: TestStorage.all)
    func aDownloadCutAt60PercentResumesFromTheLocalPartial(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled", "Maria"]) { team in try await downloadCutAndResumed(team) }
    }

    func downloadCutAndResumed(_ team: TestTeam) async throws {
        let dir = try TemporaryDirectory()
        let size = 2_000_000
        let (khaled, _, files) = try Self.replica(dir, "k", author: "Khaled", files: [size])
        let hash = Self.sha(files[0])
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        let token = team.tokens["Maria"]!
        try await withServer(team.backend) { url in
            try await Self.syncAll(khaled, .http(url), token: team.tokens["Khaled"]!)
            try await sync(maria, url, token: token)
            let port = UInt16(url.split(separator: ":").last!)!
            // 1 MB/s, so that what the link delivered was read before the cut: a reset drops what
            // the receiver's socket held unread, which a link at loopback speed leaves to chance.
            let link = try LinkSimulator(
                targetPort: port, profile: LinkProfile(bytesPerSecond: 1_000_000), cuts: [LinkCut(.afterBytes(size * 6 / 10, .down))])
            defer { link.stop() }
            let first = HTTPTransport(baseURL: "http://127.0.0.1:\(link.port)", project: "palmyra", token: token)
            let cut = try await BlobSync(store: maria, transport: first, policy: .all, mayUpload: true).run()
            await first.close()
            #expect(cut.downloaded == 0 && cut.stopped != nil)
            guard case .partial(let n) = maria.blobs.presence(of: hash) else {
                Issue.record("no local partial after the cut: \(maria.blobs.presence(of: hash))")
                return
            }
            let delivered = link.bytesDown
            #expect(n >= UInt64(size / 4) && n <= UInt64(delivered), "held \(n) of \(size), \(delivered) delivered")
            let second = HTTPTransport(baseURL: "http://127.0.0.1:\(link.port)", project: "palmyra", token: token)
            let resumed = try await BlobSync(store: maria, transport: second, policy: .all, mayUpload: true).run()
            await second.close()
            #expect(resumed.downloaded == 1 && resumed.bytesDownloaded == UInt64(size) - n)
            #expect(link.bytesDown - delivered <= (size - Int(n)) + 4096)
        }
        #expect(try Self.held(maria, hash) == files[0])
    }

    /// The field link (opt-in: STRATA_BLOB_FIELD_LINK=1, about 7 minutes; BENCHMARKS.md): a
    /// 3 MB photo uploaded over 64 kbit/s with a 600 ms round trip, the link cut at 60 % of
    /// the photo's bytes and down for 5 s; then the sync is run again, as a person would.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STRATA_BLOB_FIELD_LINK"] == "1"))
    func aPhotoOverTheFieldLinkCutAt60PercentCostsLittleMoreThanThePhoto() async throws {
        let team = try Team(researchers: ["Khaled"])
        let dir = try TemporaryDirectory()
        let size = ProcessInfo.processInfo.environment["STRATA_BLOB_FIELD_LINK_BYTES"].flatMap(Int.init) ?? 3_000_000
        let (khaled, _, files) = try Self.replica(dir, "k", author: "Khaled", files: [size])
        let token = team.tokens["Khaled"]!
        try await withServer(team.backend) { url in
            let port = UInt16(url.split(separator: ":").last!)!
            let link = try LinkSimulator(
                targetPort: port, profile: .field(kbit: 64, rttMillis: 600), cuts: [LinkCut(.afterBytes(size * 6 / 10, .up), downFor: 5)])
            defer { link.stop() }
            let via = "http://127.0.0.1:\(link.port)"
            try await sync(khaled, via, token: token)
            let recordsUp = link.bytesUp
            var attempts = 0
            var moved = false
            for _ in 0..<6 where !moved {
                attempts += 1
                let t = HTTPTransport(baseURL: via, project: "palmyra", token: token)
                do {
                    let r = try await BlobSync(store: khaled, transport: t, policy: .all, mayUpload: true).run()
                    moved = r.uploaded == 1
                    if !moved { print("blob-field-link: attempt \(attempts): \(r.failures.map(\.description))") }
                } catch {
                    // The link is down (the status request is refused): try again, as a person would.
                    print("blob-field-link: attempt \(attempts): \(error)")
                }
                await t.close()
                if !moved { try await Task.sleep(for: .seconds(6)) }
            }
            #expect(moved)
            let blobBytes = link.bytesUp - recordsUp
            let ratio = Double(blobBytes) / Double(size)
            // The physical limit: the photo's bits at 64 kbit/s; the time goal is 1.2x that plus
            // the outage (printed, not asserted: a busy machine stretches any wall time).
            let limit = Double(size) * 8 / 64_000
            print(
                "blob-field-link: \(size) byte photo, 64 kbit/s, RTT 600 ms, cut at 60 % (down 5 s): \(attempts) attempts, \(blobBytes) bytes up for the attachment (\(String(format: "%.3f", ratio))x the photo; goal <= 1.05), \(String(format: "%.0f", link.elapsed)) s on the link against \(String(format: "%.0f", limit)) s for the photo's bits alone + 5 s down (\(String(format: "%.2f", link.elapsed / (limit + 5)))x; goal: <= 1.2x the limit + the outage, \(String(format: "%.0f", limit * 1.2 + 5)) s)")
            #expect(ratio <= 1.05)
        }
        #expect(try Self.held(team.backend.store(for: "palmyra")!, Self.sha(files[0])) == files[0])
    }

    // MARK: The edge's refusals

    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
        var code: String? {
            ((try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any]).flatMap { ($0["error"] as? [String: Any])?["code"] as? String }
        }
    }

    static func request(
        _ url: String, _ method: HTTPMethod, token: String?, headers: [(String, String)] = [], body: [UInt8]? = nil
    ) async throws -> Answer {
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { Task { try? await client.shutdown() } }
        var req = HTTPClientRequest(url: url)
        req.method = method
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (k, v) in headers { req.headers.add(name: k, value: v) }
        if let body { req.body = .bytes(ByteBuffer(bytes: body)) }
        let resp = try await client.execute(req, timeout: .seconds(30))
        let data = try await resp.body.collect(upTo: 16 << 20)
        return Answer(status: Int(resp.status.code), headers: resp.headers, body: Array(data.readableBytesView))
    }

    static func put(_ url: String, token: String, offset: Int, length: Int, _ body: [UInt8]) async throws -> Answer {
        try await request(
            url, .PUT, token: token,
            headers: [("Content-Type", "application/octet-stream"), ("Upload-Offset", "\(offset)"), ("Upload-Length", "\(length)")],
            body: body)
    }

    /// Makes the team's project reference one blob (its records pushed, not its bytes).
    static func referencing(_ team: TestTeam, _ size: Int) async throws -> (TemporaryDirectory, [UInt8]) {
        let dir = try TemporaryDirectory()
        let (khaled, _, files) = try replica(dir, "k", author: "Khaled", files: [size])
        try await sync(khaled, team.endpoint(), token: team.tokens["Khaled"]!)
        return (dir, files[0])
    }

    @Test(arguments: TestStorage.all)
    func bytesThatDoNotHashToTheNameAreRefusedAndNothingIsKept(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in
            let (_, blob) = try await Self.referencing(team, 3_000_000)
            let hash = Self.sha(blob)
            try await withServer(team.backend) { url in
                var wrong = blob
                wrong[2_500_000] ^= 1
                let a = try await Self.put(
                    "\(url)/v1/projects/palmyra/blobs/\(hash.hex)", token: team.tokens["Khaled"]!, offset: 0, length: blob.count, wrong)
                #expect(a.status == 422 && a.code == "hash-mismatch")
                // Nothing is served, and the right bytes are then taken from 0.
                let get = try await Self.request("\(url)/v1/projects/palmyra/blobs/\(hash.hex)", .GET, token: team.tokens["Khaled"]!)
                #expect(get.status == 404)
                let blobs = try await team.blobs()
                #expect(try await blobs.blobPresence(of: hash) == .missing)
                #expect(try await blobs.blobBytesHeld() == 0)
                let right = try await Self.put(
                    "\(url)/v1/projects/palmyra/blobs/\(hash.hex)", token: team.tokens["Khaled"]!, offset: 0, length: blob.count, blob)
                #expect(right.status == 200)
            }
            #expect(try await team.serverBlob(hash) == blob)
        }
    }

    @Test(arguments: TestStorage.all)
    func anUploadFromAnotherOffsetGets409WithTheHeldOffset(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in try await offsets(team) }
    }

    func offsets(_ team: TestTeam) async throws {
        let (_, blob) = try await Self.referencing(team, 100_000)
        let hash = Self.sha(blob)
        let token = team.tokens["Khaled"]!
        try await withServer(team.backend) { url in
            let path = "\(url)/v1/projects/palmyra/blobs/\(hash.hex)"
            let part = try await Self.put(path, token: token, offset: 0, length: blob.count, Array(blob[0..<40_000]))
            #expect(part.status == 200 && part.headers.first(name: "Upload-Offset") == "40000")
            let again = try await Self.put(path, token: token, offset: 0, length: blob.count, Array(blob[0..<10]))
            #expect(again.status == 409 && again.code == "offset-mismatch")
            #expect(again.headers.first(name: "Upload-Offset") == "40000")
            let rest = try await Self.put(path, token: token, offset: 40_000, length: blob.count, Array(blob[40_000...]))
            #expect(rest.status == 200)
            let whole = try await Self.request(path, .GET, token: token)
            #expect(whole.status == 200 && whole.body == blob)
            let tail = try await Self.request(path, .GET, token: token, headers: [("Range", "bytes=99000-")])
            #expect(tail.status == 206 && tail.body == Array(blob[99_000...]))
            #expect(tail.headers.first(name: "Content-Range") == "bytes 99000-99999/100000")
            let past = try await Self.request(path, .GET, token: token, headers: [("Range", "bytes=100000-")])
            #expect(past.status == 416 && past.code == "range-not-satisfiable")
            let length = try await Self.put(path, token: token, offset: 0, length: 5, Array(blob[0..<5]))
            #expect(length.status == 422 && length.code == "size-mismatch")
        }
    }

    @Test(arguments: TestStorage.all)
    func anotherProjectsTokenCannotReadOrFillABlobItsRecordsDoNotReference(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in try await otherProject(team) }
    }

    func otherProject(_ team: TestTeam) async throws {
        let (_, blob) = try await Self.referencing(team, 50_000)
        let hash = Self.sha(blob)
        try await team.backend.addProject("hatra")
        let other = try await team.backend.createToken(project: "hatra", researcher: "Maria", role: .write).token
        try await withServer(team.backend) { url in
            let ok = try await Self.put(
                "\(url)/v1/projects/palmyra/blobs/\(hash.hex)", token: team.tokens["Khaled"]!, offset: 0, length: blob.count, blob)
            #expect(ok.status == 200)
            let get = try await Self.request("\(url)/v1/projects/hatra/blobs/\(hash.hex)", .GET, token: other)
            #expect(get.status == 404 && get.code == "not-found")
            let put = try await Self.put("\(url)/v1/projects/hatra/blobs/\(hash.hex)", token: other, offset: 0, length: blob.count, blob)
            #expect(put.status == 404)
            let status = try await Self.request(
                "\(url)/v1/projects/hatra/blobs/status", .POST, token: other, headers: [("Content-Type", "application/json")],
                body: Array("{\"hashes\":[\"\(hash.hex)\"]}".utf8))
            #expect(status.status == 200 && String(decoding: status.body, as: UTF8.self).contains("\"unreferenced\""))
            let cross = try await Self.request("\(url)/v1/projects/palmyra/blobs/\(hash.hex)", .GET, token: other)
            #expect(cross.status == 403)
        }
        #expect(try await team.blobs("hatra").blobPresence(of: hash) == .missing)
        #expect(try await team.blobs("hatra").blobBytesHeld() == 0)
    }

    @Test(arguments: TestStorage.all)
    func theStatusVectorOfTheSpecIsWhatTheServerAnswers(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in try await statusVector(team) }
    }

    func statusVector(_ team: TestTeam) async throws {
        let dir = try TemporaryDirectory()
        let khaled = try Store.create(at: dir.file("k.strata"), author: "Khaled")
        let id = khaled.newRecordID()
        try khaled.commit([.create(id, kind: .artefact)])
        let p = dir.file("bust")
        try Data("bust".utf8).write(to: URL(fileURLWithPath: p))
        _ = try khaled.attach([AttachmentInput(path: p)], to: id)
        try await sync(khaled, team.endpoint(), token: team.tokens["Khaled"]!)
        let bust = Self.sha(Array("bust".utf8))
        _ = try await team.blobs().receiveBlob(bust, size: 4, offset: 0, bytes: Array("bu".utf8))
        let request = #"{"hashes":["13702c44b92426733d550446f2c6e61d6fce2b76ce49d2fe6e587cfc5188b579","a330395cc0a53ad1207736546afff4735940937564bbf75ce1edad40780d9139"]}"#
        let expected = #"{"blobs":[{"bytes":2,"hash":"13702c44b92426733d550446f2c6e61d6fce2b76ce49d2fe6e587cfc5188b579","state":"partial"},{"bytes":0,"hash":"a330395cc0a53ad1207736546afff4735940937564bbf75ce1edad40780d9139","state":"unreferenced"}]}"#
        try await withServer(team.backend) { url in
            let a = try await Self.request(
                "\(url)/v1/projects/palmyra/blobs/status", .POST, token: team.tokens["Khaled"]!,
                headers: [("Content-Type", "application/json")], body: Array(request.utf8))
            #expect(a.status == 200)
            #expect(String(decoding: a.body, as: UTF8.self) == expected)
        }
    }

    @Test(arguments: TestStorage.all)
    func aReadTokenCannotUpload(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in try await readToken(team) }
    }

    func readToken(_ team: TestTeam) async throws {
        let (_, blob) = try await Self.referencing(team, 10_000)
        let reader = try await team.backend.createToken(project: "palmyra", researcher: "Reader", role: .read).token
        try await withServer(team.backend) { url in
            let a = try await Self.put(
                "\(url)/v1/projects/palmyra/blobs/\(Self.sha(blob).hex)", token: reader, offset: 0, length: blob.count, blob)
            #expect(a.status == 403 && a.code == "forbidden")
        }
    }

    @Test(arguments: TestStorage.all)
    func anAttachmentOverThePerFileOrPerProjectLimitGets413(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled"]) { team in try await limits(team) }
    }

    func limits(_ team: TestTeam) async throws {
        let (_, blob) = try await Self.referencing(team, 10_000)
        let path = "/v1/projects/palmyra/blobs/\(Self.sha(blob).hex)"
        var small = ServerLimits()
        small.maxBlobBytes = 9_999
        try await withServer(team.backend, limits: small) { url in
            let a = try await Self.put(url + path, token: team.tokens["Khaled"]!, offset: 0, length: blob.count, blob)
            #expect(a.status == 413 && a.code == "too-large")
        }
        var full = ServerLimits()
        full.maxProjectBlobBytes = 5_000
        try await withServer(team.backend, limits: full) { url in
            let a = try await Self.put(url + path, token: team.tokens["Khaled"]!, offset: 0, length: blob.count, blob)
            #expect(a.status == 413 && String(decoding: a.body, as: UTF8.self).contains("per project"))
        }
    }

    @Test func aFailingWriteOnTheServerLeavesNothingUnderTheHashAndTheOtherBlobsGoOn() async throws {
        let team = try Team(researchers: ["Khaled"])
        let dir = try TemporaryDirectory()
        let (khaled, _, files) = try Self.replica(dir, "k", author: "Khaled", files: [30_000, 40_000])
        try await sync(khaled, team.endpoint(), token: team.tokens["Khaled"]!)
        let server = try team.backend.store(for: "palmyra")!
        // A folder where the partial file of the first blob would be: every write to it fails,
        // as on a full disk (permissions would not stop a test run as root).
        let bad = Self.sha(files[0])
        try FileManager.default.createDirectory(atPath: server.blobs.root + "/partial/" + bad.hex, withIntermediateDirectories: true)
        let report = try await Self.syncAll(khaled, team.endpoint(), token: team.tokens["Khaled"]!)
        #expect(report.uploaded == 1 && report.failures.map(\.hash) == [bad])
        #expect(report.failures.first?.reason.contains("could not write the attachment") == true)
        #expect(!server.blobs.has(bad) && server.blobs.has(Self.sha(files[1])))
    }

    @Test(arguments: TestStorage.all)
    func aDownloadThatFailsVerificationIsReportedAndTheOthersAndTheRecordsStay(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled", "Maria"]) { team in try await damagedDownload(team) }
    }

    func damagedDownload(_ team: TestTeam) async throws {
        let dir = try TemporaryDirectory()
        let (khaled, id, files) = try Self.replica(dir, "k", author: "Khaled", files: [30_000, 40_000])
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        try await Self.syncAll(khaled, team.endpoint(), token: team.tokens["Khaled"]!)
        // The server's copy of the first blob is damaged after it was verified.
        let bad = Self.sha(files[0])
        switch team.storage {
        case .sqlite:
            var damaged = files[0]
            damaged[7] ^= 0xFF
            let server = try (team.backend as! TeamStorage).store(for: "palmyra")!
            try Data(damaged).write(to: URL(fileURLWithPath: server.blobs.path(of: bad)))
        case .postgres:
            try await TestPostgres.execute(
                "UPDATE strata_blob_chunks SET bytes = set_byte(bytes, 7, get_byte(bytes, 7) # 255) WHERE hash = '\\x\(bad.hex)' AND start = 0",
                on: team.database!)
        }
        let report = try await Self.syncAll(maria, team.endpoint(), token: team.tokens["Maria"]!)
        #expect(report.downloaded == 1 && report.failures.map(\.hash) == [bad])
        #expect(maria.blobs.presence(of: bad) == .missing && maria.blobs.has(Self.sha(files[1])))
        #expect(try maria.record(id)?.attachments.count == 2)
    }

    // MARK: Policy and fetch

    @Test(arguments: TestStorage.all)
    func policiesNoneAndUpToLeaveLargerAttachmentsWaitingAndFetchGetsThem(storage: TestStorage) async throws {
        try await withTeam(storage, researchers: ["Khaled", "Maria"]) { team in try await policies(team) }
    }

    func policies(_ team: TestTeam) async throws {
        let dir = try TemporaryDirectory()
        let (khaled, _, files) = try Self.replica(dir, "k", author: "Khaled", files: [500_000, 3_000_000])
        let maria = try Store.create(at: dir.file("m.strata"), author: "Maria")
        let endpoint = team.endpoint()
        try await Self.syncAll(khaled, endpoint, token: team.tokens["Khaled"]!)
        let none = try await Self.syncAll(maria, endpoint, token: team.tokens["Maria"]!, policy: .none)
        #expect(none.downloaded == 0 && none.waiting == 2 && none.waitingBytes == 3_500_000)
        let upTo = try await Self.syncAll(maria, endpoint, token: team.tokens["Maria"]!, policy: AttachmentPolicy(text: "up-to 2MB")!)
        #expect(upTo.downloaded == 1 && upTo.waiting == 1)
        #expect(maria.blobs.has(Self.sha(files[0])) && !maria.blobs.has(Self.sha(files[1])))
        let t = endpoint.transport(token: team.tokens["Maria"]!) as! InProcessTransport
        let fetched = try await BlobSync(store: maria, transport: t, policy: .none, mayUpload: true).run(only: [Self.sha(files[1])])
        #expect(fetched.downloaded == 1 && fetched.uploaded == 0)
        #expect(try Self.held(maria, Self.sha(files[1])) == files[1])
    }

    @Test func aPeerServesAndAcceptsAttachments() async throws {
        let dir = try TemporaryDirectory()
        let (khaled, _, files) = try Self.replica(dir, "k", author: "Khaled", files: [200_000])
        let (maria, _, mine) = try Self.replica(dir, "m", author: "Maria", files: [120_000], seed: 9)
        let token = PeerStorage.newToken()
        let peer = try PeerStorage(replica: khaled, token: token)
        try await withServer(peer) { url in
            let r = try await Self.syncAll(maria, .http(url), token: token, project: PeerStorage.project)
            #expect(r.downloaded == 1 && r.uploaded == 1)
        }
        #expect(try Self.held(maria, Self.sha(files[0])) == files[0])
        #expect(try Self.held(khaled, Self.sha(mine[0])) == mine[0])
    }

    // MARK: The plan

    @Test func thePlanUploadsWhatTheServerLacksFromItsOffsetAndDownloadsWhatThePolicyWants() {
        func h(_ i: UInt8) -> BlobHash { BlobHash(bytes: [UInt8](repeating: i, count: 32))! }
        let local: [(blob: ReferencedBlob, presence: BlobPresence)] = [
            (ReferencedBlob(hash: h(1), size: 100), .present),  // server partial at 60
            (ReferencedBlob(hash: h(2), size: 100), .present),  // server unreferenced
            (ReferencedBlob(hash: h(3), size: 100), .partial(bytes: 30)),  // server present
            (ReferencedBlob(hash: h(4), size: 5_000), .missing),  // server present, too large
            (ReferencedBlob(hash: h(5), size: 100), .missing),  // nobody has it
        ]
        let remote: [BlobHash: BlobStatus] = [
            h(1): BlobStatus(hash: h(1).hex, state: .partial, bytes: 60),
            h(2): BlobStatus(hash: h(2).hex, state: .unreferenced, bytes: 0),
            h(3): BlobStatus(hash: h(3).hex, state: .present, bytes: 100),
            h(4): BlobStatus(hash: h(4).hex, state: .present, bytes: 5_000),
            h(5): BlobStatus(hash: h(5).hex, state: .missing, bytes: 0),
        ]
        let plan = BlobPlan.make(local: local, remote: remote, policy: .upTo(1_000), mayUpload: true)
        #expect(plan.uploads == [BlobPlan.Transfer(hash: h(1), size: 100, offset: 60)])
        #expect(plan.downloads == [BlobPlan.Transfer(hash: h(3), size: 100, offset: 30)])
        #expect(plan.waiting.map(\.hash) == [h(4)] && plan.unavailable.map(\.hash) == [h(5)])
        #expect(plan.notUploaded.map(\.hash) == [h(2)])
        let reader = BlobPlan.make(local: local, remote: remote, policy: .all, mayUpload: false)
        #expect(reader.uploads.isEmpty && reader.notUploaded.count == 2 && reader.downloads.count == 2)
    }

    @Test func policiesReadAndWriteTheirTextForm() {
        #expect(AttachmentPolicy(text: "up-to 2MB") == .upTo(2_000_000))
        #expect(AttachmentPolicy(text: "UP-TO 1.5gb") == .upTo(1_500_000_000))
        #expect(AttachmentPolicy(text: "none") == AttachmentPolicy.none && AttachmentPolicy(text: "all") == .all)
        #expect(AttachmentPolicy(text: "up-to") == nil && AttachmentPolicy(text: "some") == nil && AttachmentPolicy(text: "up-to -3MB") == nil)
        #expect(AttachmentPolicy.upTo(2_000_000).description == "up-to 2MB")
        #expect(AttachmentPolicy(text: AttachmentPolicy.upTo(1_500_000).description) == .upTo(1_500_000))
    }
}
