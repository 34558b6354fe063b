import ArgumentParser
import StrataStore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check the store's integrity against its change log, and every attachment's bytes.",
        discussion: """
            Reads every attachment held here and checks it hashes to its name. Attachments \
            that records name but that are not on this machine (not downloaded yet) are listed; \
            they are not a problem. Blobs no record references (an attach that was stopped, \
            or detached everywhere) are listed; --prune removes them.
            """)

    @OptionGroup var options: StoreOptions

    @Flag(help: "Remove the blobs no record references and the files a stopped attach or bundle left (those older than 10 minutes).")
    var prune = false

    func run() throws {
        let store = try options.open()
        var problems = try store.check()
        let blobs = try store.checkBlobs()
        for h in blobs.damaged {
            problems.append("attachment \(h.short) is damaged: its bytes did not hash to its name; moved out of the way, it counts as not on this machine")
        }
        if !blobs.setAside.isEmpty {
            print("\(blobs.setAside.count) damaged cop\(blobs.setAside.count == 1 ? "y" : "ies") set aside in \(store.blobs.root)/damaged (kept for inspection; nothing reads them; delete them once looked at)")
        }
        if blobs.verified > 0 {
            print("\(Output.counted(blobs.verified, "attachment")) (\(Output.byteCount(Int(blobs.verifiedBytes)))) verified")
        }
        if !blobs.notHere.isEmpty {
            let bytes = blobs.notHere.reduce(UInt64(0)) { $0 + $1.size }
            print("\(Output.counted(blobs.notHere.count, "attachment")) (\(Output.byteCount(Int(bytes)))) named by records \(blobs.notHere.count == 1 ? "is" : "are") not on this machine (not downloaded yet)")
        }
        if prune {
            let removed = try store.pruneBlobs(blobs)
            if removed.blobs + removed.files > 0 {
                print("removed \(Output.counted(removed.blobs, "unreferenced blob")) and \(Output.counted(removed.files, "leftover file")) (\(Output.byteCount(Int(removed.bytes))))")
            }
            let left = blobs.unreferenced.count + blobs.strayFiles.count - removed.blobs - removed.files
            if left > 0 { print("kept \(left) changed in the last 10 minutes (an attach may be in progress); prune again later") }
        } else if !blobs.unreferenced.isEmpty || !blobs.strayFiles.isEmpty {
            var parts: [String] = []
            if !blobs.unreferenced.isEmpty {
                parts.append("\(Output.counted(blobs.unreferenced.count, "blob")) (\(Output.byteCount(Int(blobs.unreferencedBytes)))) no record references")
            }
            if !blobs.strayFiles.isEmpty { parts.append("\(Output.counted(blobs.strayFiles.count, "file")) left by a stopped attach or bundle") }
            print(parts.joined(separator: ", ") + "; strata check --prune removes them")
        }
        if problems.isEmpty {
            print("ok")
            return
        }
        for p in problems { printError(p) }
        var advice = ""
        if !blobs.damaged.isEmpty { advice = "; `strata fetch --all` downloads damaged attachments again from a remote, or attach their original files again" }
        throw CLIError("\(problems.count) problem\(problems.count == 1 ? "" : "s") found in \(store.path)\(advice)")
    }
}
