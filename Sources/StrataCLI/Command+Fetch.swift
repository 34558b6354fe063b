import ArgumentParser
import Foundation
import StrataCodec
import StrataCore
import StrataJSON
import StrataStore
import StrataSync

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch", abstract: "Download attachments a sync left on the server (whatever the remote's policy).",
        discussion: """
            A download that stops resumes where it stopped.
              strata fetch 01HX7Q2          every attachment of the record
              strata fetch 01HX7Q2 2        its second attachment, as `strata show` lists it
              strata fetch --all            every attachment this replica lacks
            """)

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String?
    @Argument(help: "The attachment's number, as `strata show` lists it (default: all of the record's).") var number: Int?
    @Flag(help: "Every attachment this replica's records reference and it lacks.") var all = false
    @Option(help: "The remote to download from (default: the only one).") var remote: String?
    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws {
        if all && id != nil { throw ValidationError("give a record id or --all, not both") }
        if !all && id == nil { throw ValidationError("say what to fetch: a record id (and a number), or --all") }
    }

    func run() async throws {
        let store = try options.open()
        var only: Set<BlobHash>? = nil
        if let id {
            let r = try store.find(id)
            if let number {
                only = [try attachment(number, of: r, store: store).ref.hash]
            } else {
                only = Set(r.attachments.map(\.ref.hash))
                if only!.isEmpty { throw CLIError("record \(id) has no attachments") }
            }
        }
        let r = try Remote.pick(remote, from: store)
        // A fetch of a record's attachments reads the copies here first: a damaged one is set
        // aside and downloaded again. `--all` checks only their lengths (`check` reads all).
        let report = try await runBlobPhase(
            store: store, remote: r, only: only ?? Set(try store.referencedBlobs().map(\.hash)), json: json, verifying: only != nil)
        if json {
            printJSON(blobJSON(report))
            return
        }
        if report.downloaded == 0 && report.failures.isEmpty && report.unavailable == 0 {
            print("nothing to fetch: every attachment asked for is here")
            return
        }
        print(blobSummary(report, remote: r))
    }
}

/// Runs the blob phase with a remote (after a records sync, or on demand with `only`) and
/// prints a progress line on a terminal and one line per attachment that failed.
func runBlobPhase(
    store: Store, remote r: Remote, only: Set<BlobHash>? = nil, json: Bool, transport given: HTTPTransport? = nil,
    role known: Role? = nil, verifying: Bool = false
) async throws -> BlobSyncReport {
    let transport = given ?? HTTPTransport(baseURL: r.url, project: r.project, token: r.token, notice: { printError($0) })
    let role: Role
    do {
        if let known { role = known } else { role = try await transport.session().role }
    } catch {
        await transport.close()
        throw CLIError("cannot reach \(r.name): \(Advice.message(for: error))")
    }
    let line = TransferLine(enabled: !json && isatty(2) == 1)
    var sync = BlobSync(store: store, transport: transport, policy: r.config.attachments, mayUpload: role >= .write)
    sync.verifyingHeld = verifying
    let report: BlobSyncReport
    do {
        report = try await sync.run(only: only) { line.update($0) }
    } catch {
        line.finish()
        if given == nil { await transport.close() }
        throw CLIError("attachments with \(r.name) stopped: \(Advice.message(for: error))")
    }
    line.finish()
    if given == nil { await transport.close() }
    for f in report.failures { printError("strata: \(f)") }
    return report
}

/// `attachments: 2 uploaded, 1 downloaded (3.1 MB); 4 wait (policy up-to 2MB)`.
func blobSummary(_ b: BlobSyncReport, remote r: Remote) -> String {
    func n(_ k: Int) -> String { "\(k) attachment\(k == 1 ? "" : "s")" }
    var parts: [String] = []
    if b.uploaded > 0 { parts.append("uploaded \(n(b.uploaded)) (\(Display.bytes(b.bytesUploaded)))") }
    if b.downloaded > 0 { parts.append("downloaded \(n(b.downloaded)) (\(Display.bytes(b.bytesDownloaded)))") }
    if parts.isEmpty { parts.append("no attachments moved") }
    var out = "attachments: " + parts.joined(separator: ", ")
    if b.waiting > 0 {
        out += "; \(n(b.waiting)) (\(Display.bytes(b.waitingBytes))) \(b.waiting == 1 ? "waits" : "wait") on \(r.name), not downloaded by its policy '\(r.config.attachments)': strata fetch --all"
    }
    if b.unavailable > 0 { out += "; \(n(b.unavailable)) not on \(r.name) yet" }
    if !b.failures.isEmpty { out += "; \(b.failures.count) failed (see above), the next sync tries again" }
    if let s = b.stopped { out += "; stopped: \(s)" }
    return out
}

func blobJSON(_ b: BlobSyncReport) -> JSON {
    .object([
        "uploaded": .int(Int64(b.uploaded)), "downloaded": .int(Int64(b.downloaded)),
        "bytes_uploaded": .int(Int64(b.bytesUploaded)), "bytes_downloaded": .int(Int64(b.bytesDownloaded)),
        "waiting": .int(Int64(b.waiting)), "unavailable": .int(Int64(b.unavailable)),
        "not_uploaded": .int(Int64(b.notUploaded)), "failed": .int(Int64(b.failures.count)),
    ])
}

/// One line on standard error, only on a terminal: direction, bytes, percent, time left.
final class TransferLine: @unchecked Sendable {
    let enabled: Bool
    private let lock = NSLock()
    private var shown = false
    private var started: ContinuousClock.Instant? = nil
    private var lastDrawn: ContinuousClock.Instant? = nil
    private var direction: BlobProgress.Direction? = nil

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: BlobProgress) {
        guard enabled, p.total > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = ContinuousClock.now
        if direction != p.direction {
            direction = p.direction
            started = now
        }
        if let last = lastDrawn, now - last < .milliseconds(200), p.done < p.total { return }
        lastDrawn = now
        let elapsed = started.map { Double(($0.duration(to: now)) / .milliseconds(1)) / 1000 } ?? 0
        var left = ""
        if elapsed > 1, p.done > 0, p.done < p.total {
            let seconds = Int(Double(p.total - p.done) / (Double(p.done) / elapsed))
            left = String(format: ", %d:%02d left", seconds / 60, seconds % 60)
        }
        let percent = Int(p.done * 100 / max(1, p.total))
        let text = "\r\(p.direction == .upload ? "uploading" : "downloading") \(p.filesDone + (p.done < p.total ? 1 : 0))/\(p.files): \(Display.bytes(p.done)) of \(Display.bytes(p.total)) (\(percent)%\(left))\u{1B}[K"
        FileHandle.standardError.write(Data(text.utf8))
        shown = true
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        shown = false
    }
}
