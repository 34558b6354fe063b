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

struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync", abstract: "Pull and push until this replica and a remote hold the same changes.",
        discussion: """
            Safe to interrupt: every batch is applied whole or not at all, and the next sync resumes \
            where this one stopped.
            """)

    @OptionGroup var options: StoreOptions
    @Argument(help: "The remote (default: the only one).") var remote: String?
    @Flag(help: "Print the result as JSON.") var json = false
    @Option(help: "Largest batch, in kilobytes of changes.") var batchKB = 1024

    func run() async throws {
        let store = try options.open()
        let r = try Remote.pick(remote, from: store)
        let transport = HTTPTransport(baseURL: r.url, project: r.project, token: r.token, notice: { printError($0) })
        var client = SyncClient(store: store, transport: transport)
        client.maxBatchBytes = max(1, batchKB) * 1024
        client.remote = r.name
        let bar = ProgressBar(enabled: !json && isatty(2) == 1)
        let report: SyncReport
        do {
            report = try await client.sync { p in bar.update(p) }
        } catch {
            await transport.close()
            bar.finish()
            try? r.recordFailure("\(error)", in: store)
            throw CLIError("sync with \(r.name) stopped: \(Advice.message(for: error))")
        }
        bar.finish()
        try r.recordSync(version: report.serverVersion, pulled: report.pulled, pushed: report.pushed, in: store)
        // The bytes move after the records, so notes are never held up by a photo; a blob
        // failure is reported and never undoes the records' sync.
        var blobs = BlobSyncReport()
        var blobProblem: String? = nil
        do {
            blobs = try await runBlobPhase(store: store, remote: r, json: json, transport: transport, role: report.role)
        } catch {
            blobProblem = "\(error)"
        }
        await transport.close()
        let conflicts = try store.status().conflicts
        if json {
            printJSON(
                .object([
                    "remote": .string(r.name), "pulled": .int(Int64(report.pulled)), "pushed": .int(Int64(report.pushed)),
                    "pull_batches": .int(Int64(report.pullBatches)), "push_batches": .int(Int64(report.pushBatches)),
                    "not_relayed": .int(Int64(report.notRelayed)), "conflicts": .int(Int64(conflicts)),
                    "researcher": .string(report.researcher), "role": .string(report.role.rawValue),
                    "attachments": blobJSON(blobs),
                ]))
            if let blobProblem { printError("strata: \(blobProblem)") }
            return
        }
        func n(_ k: Int) -> String { "\(k) change\(k == 1 ? "" : "s")" }
        print("synced with \(r.name) as \(report.researcher) (\(report.role)): pulled \(n(report.pulled)), pushed \(n(report.pushed))")
        if report.notRelayed > 0 {
            if report.role == .read {
                print("\(n(report.notRelayed)) \(report.notRelayed == 1 ? "stays" : "stay") here: a read token only pulls")
            } else {
                print(
                    "\(n(report.notRelayed)) by other researchers \(report.notRelayed == 1 ? "stays" : "stay") here: a \(report.role) token pushes only \(report.researcher)'s own changes")
            }
        }
        if let blobProblem {
            printError("strata: \(blobProblem); the records are synced, the next sync moves the attachments")
        } else if blobs != BlobSyncReport() {
            print(blobSummary(blobs, remote: r))
        }
        if conflicts > 0 {
            print("\(conflicts) record\(conflicts == 1 ? " has" : "s have") conflicts to review: strata conflicts")
        }
    }
}

/// A one-line progress bar on standard error, only on a terminal.
final class ProgressBar: @unchecked Sendable {
    let enabled: Bool
    private var shown = false
    private let lock = NSLock()

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: SyncProgress) {
        guard enabled, p.total > 0 else { return }
        lock.lock()
        defer { lock.unlock() }
        let width = 30
        let filled = min(width, p.done * width / max(1, p.total))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(p.phase.rawValue) [\(bar)] \(p.done)/\(p.total)   ".utf8))
        shown = true
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        shown = false
    }
}
