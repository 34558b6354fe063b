import ArgumentParser
import Foundation
import StrataCodec
import StrataCore
import StrataJSON
import StrataStore

/// `strata bundle create/apply/info`: exchanging changes as files, for when there is no
/// network at all (a USB stick passed around the camp).
struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Exchange changes with another replica as a file.",
        discussion: """
            A bundle holds the changes another replica lacks, as zlib-compressed change sets \
            (Protocol/SPEC.md), and the bytes of the attachments those changes name that this \
            replica holds (--no-attachments leaves them out). Applying one merges it: all or \
            nothing (a bundle whose attachment bytes do not match their hash is refused whole), \
            and applying it twice changes nothing.
              strata bundle create to-maria.strata-bundle            (everything)
              strata bundle create to-maria.strata-bundle --for maria (only what Maria lacks, \
            as of the last bundle from her)
              strata bundle apply from-khaled.strata-bundle
            """,
        subcommands: [BundleCreate.self, BundleApply.self, BundleInfo.self]
    )
}

/// Peers this replica has received bundles from: what they had when they wrote them (the
/// store's `bundle_peers`, written by `bundle apply` in the apply's transaction).
enum Peers {
    /// Finds a remembered peer by author name (case-insensitive) or replica id prefix.
    static func find(_ name: String, in store: Store) throws -> BundlePeer {
        let peers = try store.bundlePeers()
        func author(_ p: BundlePeer) -> String { p.author.isEmpty ? "?" : p.author }
        let n = name.lowercased()
        let matches = peers.filter { author($0).lowercased() == n || $0.replica.hex.hasPrefix(n) }
        if matches.count == 1 { return matches[0] }
        let known = peers.map { "\(author($0)) (\($0.replica.short))" }.sorted().joined(separator: ", ")
        if matches.isEmpty {
            throw CLIError(
                "no bundle from '\(name)' has been applied here, so what they lack is unknown; "
                    + (known.isEmpty ? "create a full bundle (no --for)" : "known peers: \(known)"))
        }
        throw CLIError("'\(name)' matches several peers: \(known); give a replica id prefix")
    }
}

struct BundleCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Write the changes another replica lacks to a file.")

    @OptionGroup var options: StoreOptions

    @Argument(help: "The bundle file to write.", completion: .file())
    var file: String

    @Option(help: "Only what a replica lacks, given its version vector (see `strata status`).")
    var since: String?

    @Option(help: "Only what the sender of this bundle file lacked when it wrote it.", completion: .file())
    var sinceBundle: String?

    @Option(name: .customLong("for"), help: "Only what this peer lacks (author name or replica id), as of its last bundle applied here.")
    var forPeer: String?

    @Flag(help: "Leave the attachments' bytes out (the changes still name them; they can be fetched later).")
    var noAttachments = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if [since != nil, sinceBundle != nil, forPeer != nil].filter({ $0 }).count > 1 {
            throw ValidationError("give at most one of --since, --since-bundle and --for")
        }
    }

    func run() throws {
        let store = try options.open()
        var base = VersionVector()
        if let since {
            guard let vv = VersionVector(text: since) else {
                throw CLIError("'\(since)' is not a version vector; copy it from `strata status` (replica-hex:seq,...)")
            }
            base = vv
        } else if let sinceBundle {
            base = try readBundle(sinceBundle, refused: "cannot be read").senderVersion
        } else if let forPeer {
            base = try Peers.find(forPeer, in: store).version
        }
        let changes = try store.changes(missingFrom: base)
        let bundle = ChangeBundle(
            sender: store.replicaID, senderAuthor: try store.author(), senderVersion: try store.versionVector(),
            createdAtMillis: Store.wallClockMillis(), changes: changes)
        let referenced = Set(changes.flatMap { c in
            c.operations.compactMap { op -> BlobHash? in
                if case .assign(.attachment(let ref)) = op.action { return ref.hash }
                return nil
            }
        })
        let carried = noAttachments ? [] : store.blobsToCarry(in: changes)
        let size = try store.writeBundle(bundle, blobs: carried, to: Paths.expand(file))
        let blobBytes = carried.reduce(UInt64(0)) { $0 + $1.size }
        let notHere = noAttachments ? 0 : referenced.count - carried.count
        if json {
            printJSON(
                .object([
                    "file": .string(file), "changes": .int(Int64(changes.count)), "bytes": .int(Int64(size)),
                    "attachments": .int(Int64(carried.count)), "attachment_bytes": .int(Int64(blobBytes)),
                    "attachments_left_out": .int(Int64(referenced.count - carried.count)),
                ]))
        } else {
            var line = "wrote \(Output.counted(changes.count, "change"))"
            if !carried.isEmpty { line += " and \(Output.counted(carried.count, "attachment"))" }
            print(line + " to \(file) (\(Output.byteCount(Int(size))) in all)")
            if noAttachments && !referenced.isEmpty {
                print("left out the bytes of \(Output.counted(referenced.count, "attachment")) (--no-attachments)")
            } else if notHere > 0 {
                print("\(Output.counted(notHere, "attachment")) named by these changes \(notHere == 1 ? "is" : "are") not on this machine, so not in the bundle")
            }
        }
    }
}

/// Reads and decodes a bundle file with a clear error; `refused` says what did not happen
/// ("was not applied", "cannot be read").
func readBundle(_ file: String, refused: String = "was not applied") throws -> ChangeBundle {
    try openBundle(file, refused: refused).contents.bundle
}

/// Opens a bundle file and reads its changes and the framing of its blobs (whose bytes stay
/// in the file), with a clear error.
func openBundle(_ file: String, refused: String = "was not applied") throws -> (contents: BundleContents, source: FileByteSource) {
    let path = Paths.expand(file)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw CLIError("cannot read \(file): no such file")
    }
    if isDirectory.boolValue { throw CLIError("cannot read \(file): it is a folder, not a bundle file") }
    let source: FileByteSource
    do { source = try FileByteSource(path: path) } catch { throw CLIError("cannot read \(file): not readable") }
    do {
        return (try BundleCodec.read(source), source)
    } catch let e as CodecError {
        throw CLIError("\(file) \(refused): \(e)")
    } catch {
        throw CLIError("\(file) \(refused): \(Advice.message(for: error))")
    }
}

struct BundleApply: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply", abstract: "Merge a bundle file into this replica (all or nothing).")

    @OptionGroup var options: StoreOptions

    @Argument(help: "The bundle file to apply.", completion: .file())
    var file: String

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() throws {
        let store = try options.open()
        let (contents, source) = try openBundle(file)
        let bundle = contents.bundle
        let applied: BundleApplyResult
        do {
            applied = try store.applyBundle(contents, from: source)
        } catch let e as BundleBlobRefused {
            throw CLIError("\(file) was refused whole, nothing was changed: \(Advice.message(for: e))")
        } catch let e as ClockSkewError {
            let days = Double(e.aheadMillis) / 86_400_000
            let ahead = days >= 1 ? String(format: "%.0f days", days) : String(format: "%.1f hours", days * 24)
            throw CLIError(
                "\(file) was not applied: change \(e.change) is stamped \(Output.iso(e.timestamp)), \(ahead) ahead of "
                    + "this machine's clock (at most \(e.limitMillis / 3_600_000) h accepted); fix the clock of the machine "
                    + "that wrote it (or this one's, if it is behind) and apply again")
        } catch let e as ChangeValidationError {
            throw CLIError("\(file) was not applied: \(e)")
        }
        let result = applied.changes
        let conflicts = try store.status().conflicts
        if json {
            printJSON(
                .object([
                    "applied": .int(Int64(result.applied)), "duplicates": .int(Int64(result.duplicates)),
                    "records": .int(Int64(result.records)), "conflicts": .int(Int64(conflicts)),
                    "sender": .string(bundle.sender.hex), "sender_author": .string(bundle.senderAuthor),
                    "attachments_received": .int(Int64(applied.blobsReceived)),
                    "attachments_already_here": .int(Int64(applied.blobsAlreadyHere)),
                    "attachment_bytes_received": .int(Int64(applied.bytesReceived)),
                ]))
            return
        }
        var line =
            "applied \(result.applied) new change\(result.applied == 1 ? "" : "s") from \(bundle.senderAuthor) "
            + "(replica \(bundle.sender.short)), touching \(result.records) record\(result.records == 1 ? "" : "s")"
        if result.duplicates > 0 { line += "; \(result.duplicates) already here" }
        print(line)
        if applied.blobsReceived > 0 || applied.blobsAlreadyHere > 0 {
            var blobs = "received \(Output.counted(applied.blobsReceived, "attachment")) (\(Output.byteCount(Int(applied.bytesReceived))), verified)"
            if applied.blobsAlreadyHere > 0 { blobs += "; \(applied.blobsAlreadyHere) already here" }
            print(blobs)
        }
        if conflicts > 0 {
            print("\(conflicts) record\(conflicts == 1 ? " has" : "s have") conflicts to review: strata conflicts")
        }
    }
}

struct BundleInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Describe a bundle file without applying it.")

    @OptionGroup var options: StoreOptions

    @Argument(help: "The bundle file.", completion: .file())
    var file: String

    @Flag(help: "Print as JSON.")
    var json = false

    func run() throws {
        let contents = try openBundle(file, refused: "cannot be read").contents
        let bundle = contents.bundle
        let store = try? options.open()
        let vv = try store?.versionVector()
        let new = vv.map { v in bundle.changes.filter { !v.contains($0.id) }.count }
        let authors = Set(bundle.changes.map(\.author)).sorted()
        // The names the bundle's changes give each blob (an attachment may be named on several records).
        var names: [BlobHash: [String]] = [:]
        for c in bundle.changes {
            for op in c.operations {
                if case .assign(.attachment(let ref)) = op.action, !(names[ref.hash] ?? []).contains(ref.name) {
                    names[ref.hash, default: []].append(ref.name)
                }
            }
        }
        if json {
            var o: [String: JSON] = [
                "sender": .string(bundle.sender.hex), "sender_author": .string(bundle.senderAuthor),
                "created": .string(Output.iso(millis: bundle.createdAtMillis)),
                "changes": .int(Int64(bundle.changes.count)), "authors": .array(authors.map(JSON.string)),
                "sender_version": .string(bundle.senderVersion.description),
                "format_version": .int(Int64(contents.version)),
                "attachment_bytes": .int(Int64(contents.blobBytes)),
                "attachments": .array(
                    contents.blobs.map { b in
                        var a: [String: JSON] = [
                            "hash": .string(b.hash.hex), "size": .int(Int64(b.size)),
                            "names": .array((names[b.hash] ?? []).map(JSON.string)),
                        ]
                        if let store { a["here"] = .bool(store.blobs.has(b.hash)) }
                        return .object(a)
                    }),
            ]
            if let new { o["new_here"] = .int(Int64(new)) }
            printJSON(.object(o))
            return
        }
        print("from:     \(bundle.senderAuthor) (replica \(bundle.sender.short))")
        print("written:  \(Output.iso(millis: bundle.createdAtMillis))")
        print("changes:  \(bundle.changes.count) by \(authors.isEmpty ? "nobody" : authors.joined(separator: ", "))")
        if let new { print("new here: \(new) (at most; applying is idempotent)") }
        if contents.blobs.isEmpty {
            if !names.isEmpty { print("attachments: none carried (\(names.count) named by the changes)") }
            return
        }
        print("attachments: \(contents.blobs.count) (\(Output.byteCount(Int(contents.blobBytes)))), verified when applied")
        for b in contents.blobs {
            let shown = (names[b.hash] ?? []).map { Display.quoted($0) }.joined(separator: ", ")
            let here = store.map { $0.blobs.has(b.hash) ? "  (here already)" : "" } ?? ""
            print("  \(b.hash.short)  \(Output.byteCount(Int(b.size)))  \(shown.isEmpty ? "(named by no change here)" : shown)\(here)")
        }
    }
}

extension Output {
    /// "1 record", "3 records".
    static func counted(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }

    /// `812 bytes`, `14 kB`, `3.1 MB`, `1.2 GB`: the words every layer uses (``Display/bytes(_:)``).
    static func byteCount(_ n: Int) -> String { Display.bytes(UInt64(max(0, n))) }
}
