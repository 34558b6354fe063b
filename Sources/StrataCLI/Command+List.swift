import ArgumentParser
import StrataCore
import StrataJSON
import StrataStore

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List records, newest first. `!` marks a conflict to resolve.")

    @OptionGroup var options: StoreOptions

    @Option(help: "Only this kind: note, artefact, site or link.", completion: .list(RecordKind.allCases.map(\.rawValue)))
    var kind: String?
    @Option(help: "Only records with this tag.") var tag: String?
    @Option(help: "Only records whose text matches (full-text search).") var text: String?
    @Option(help: ArgumentHelp("Only records related to this record (e.g. notes about a site), and the record itself.", valueName: "id"))
    var site: String?
    @Option(help: ArgumentHelp("Only artefacts in this state, e.g. destroyed.", valueName: "state")) var state: String?
    @Flag(help: "Only deleted records.") var deleted = false
    @Flag(help: "Include deleted records.") var all = false
    @Flag(help: "Only records with a conflict.") var conflicts = false
    @Option(help: "At most this many records.") var limit: Int?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try options.open()
        var f = RecordFilter()
        if let kind { f.kind = try Fields.kind(named: kind) }
        if let tag { f.tag = try Schema.tag(tag) }
        if let text, !text.trimmed.isEmpty { f.text = text }
        if let site { f.relatedTo = try store.resolve(prefix: site) }
        if let state {
            let c = Schema.canonicalChoice(state)
            guard Schema.artefactStates.contains(c) else {
                throw CLIError("'\(state)' is not an artefact state; allowed values: \(Schema.artefactStates.joined(separator: ", "))")
            }
            f.state = c
        }
        if let limit, limit < 0 { throw CLIError("--limit must be 0 or more") }
        f.onlyDeleted = deleted
        f.includeDeleted = all
        f.onlyConflicts = conflicts
        f.limit = limit
        let records = try store.list(f)
        let out = try Output(store: store)
        if json {
            printJSON(.array(records.map(out.recordJSON)))
        } else {
            out.printList(records)
        }
    }
}

struct SearchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search", abstract: "Full-text search over every text field, best match first.")

    @OptionGroup var options: StoreOptions
    @Argument(help: "Words to find (all of them), or an FTS5 query with quotes, OR, NOT, *.") var query: [String]
    @Flag(help: "Include deleted records.") var all = false
    @Option(help: "At most this many results.") var limit = 50
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try options.open()
        let q = query.joined(separator: " ")
        guard !q.trimmed.isEmpty else { throw CLIError("give words to search for") }
        let records = try store.search(q, includeDeleted: all, limit: max(0, limit))
        let out = try Output(store: store)
        if json {
            printJSON(.array(records.map(out.recordJSON)))
        } else if records.isEmpty && limit > 0 {
            // On stderr, so a script reading the list still reads an empty one.
            printError("no records match '\(q)'" + (all ? "" : " (deleted records too: --all)"))
        } else {
            out.printList(records)
        }
    }
}
