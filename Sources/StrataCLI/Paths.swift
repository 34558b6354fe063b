import ArgumentParser
import Foundation
import StrataStore

/// Where the replica lives: `--store PATH`, else `$STRATA_STORE`, else
/// `$XDG_DATA_HOME/strata/replica.strata` (`XDG_DATA_HOME` defaults to `~/.local/share`).
struct StoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The store file (default: $STRATA_STORE, else $XDG_DATA_HOME/strata/replica.strata).",
            valueName: "path"),
        completion: .file())
    var store: String?

    /// The store path after applying the fallbacks.
    var path: String { Paths.storePath(explicit: store) }

    /// Opens the store, with a clear error when there is none.
    func open() throws -> Store {
        try Store.open(at: path)
    }
}

enum Paths {
    static func storePath(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        -> String
    {
        if let s = explicit, !s.isEmpty { return expand(s) }
        if let s = environment["STRATA_STORE"], !s.isEmpty { return expand(s) }
        let data: String
        if let x = environment["XDG_DATA_HOME"], !x.isEmpty, x.hasPrefix("/") {
            data = x
        } else {
            data = home(environment) + "/.local/share"
        }
        return data + "/strata/replica.strata"
    }

    static func home(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let h = environment["HOME"], !h.isEmpty { return h }
        return NSHomeDirectory()
    }

    /// `~/x` → `$HOME/x`; relative paths stay relative to the working directory.
    static func expand(_ path: String) -> String {
        if path == "~" { return home() }
        if path.hasPrefix("~/") { return home() + String(path.dropFirst()) }
        return path
    }

    /// A file next to the store for text that must not be lost (a failed edit).
    static func recoveryFile(storePath: String, name: String) -> String {
        let dir = (storePath as NSString).deletingLastPathComponent
        let base = dir.isEmpty ? "." : dir
        let stamp = Int(Date().timeIntervalSince1970)
        return "\(base)/strata-recovery-\(name)-\(stamp).txt"
    }
}
