import ArgumentParser
import StrataCore
import StrataJSON
import StrataStore

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show this replica: id, author, counts, version vector.")

    @OptionGroup var options: StoreOptions
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Print only the version vector, as `bundle create --since` reads it.") var versionVector = false

    func run() throws {
        let store = try options.open()
        let s = try store.status()
        if versionVector {
            print(s.versionVector.description)
            return
        }
        let remotes = try Remote.all(store)
        /// Local changes a remote has not acknowledged (local sequence numbers are contiguous).
        func unsynced(_ r: Remote) -> Int { max(0, s.localChanges - Int(r.serverVersion?[s.replica] ?? 0)) }
        if json {
            printJSON(
                .object([
                    "replica": .string(s.replica.hex), "author": .string(s.author), "store": .string(s.path),
                    "records": .int(Int64(s.records)), "deleted": .int(Int64(s.deleted)),
                    "conflicts": .int(Int64(s.conflicts)), "changes": .int(Int64(s.changes)),
                    "local_changes": .int(Int64(s.localChanges)),
                    "version_vector": .object(
                        Dictionary(uniqueKeysWithValues: s.versionVector.sorted.map { ($0.replica.hex, JSON.int(Int64($0.seq))) })),
                    "remotes": .array(
                        remotes.map { r in
                            .object([
                                "name": .string(r.name), "url": .string(r.url), "project": .string(r.project),
                                "attachments": .string(r.config.attachments.description),
                                "last_sync": r.lastSyncMillis.map { .string(Output.iso(millis: $0)) } ?? .null,
                                "unsynced_local_changes": .int(Int64(unsynced(r))),
                                "last_failure": r.state.lastFailure.map {
                                    .object(["at": .string(Output.iso(millis: $0.atMillis)), "reason": .string($0.reason)])
                                } ?? .null,
                            ])
                        }),
                ]))
            return
        }
        print("replica:   \(s.replica.hex)")
        print("author:    \(s.author)")
        print("store:     \(s.path)")
        print("records:   \(s.records) (\(s.deleted) deleted)")
        print("conflicts: \(s.conflicts)\(s.conflicts > 0 ? "  (see `strata conflicts`)" : "")")
        print("changes:   \(s.changes) (\(s.localChanges) made here)")
        for r in remotes {
            let last = r.lastSyncMillis.map { Output.iso(millis: $0) } ?? "never"
            let n = unsynced(r)
            let failed = r.state.lastFailure.map { "; the sync of \(Output.iso(millis: $0.atMillis)) stopped: \($0.reason)" } ?? ""
            print(
                "remote:    \(r.name) (\(r.url), project \(r.project), attachments \(r.config.attachments)): last sync \(last); \(n) local change\(n == 1 ? "" : "s") not yet sent\(failed)")
        }
        let lacking = try store.referencedBlobs().filter { store.blobs.presence(of: $0.hash) != .present }
        if !lacking.isEmpty {
            let bytes = lacking.reduce(0) { $0 + $1.size }
            print(
                "attachments: \(lacking.count) not downloaded here (\(Display.bytes(bytes))); strata fetch --all gets them")
        }
        print("version vector:")
        if s.versionVector.sorted.isEmpty { print("  (empty)") }
        for e in s.versionVector.sorted {
            print("  \(e.replica.hex)  \(e.seq)\(e.replica == s.replica ? "  (this replica)" : "")")
        }
    }
}
