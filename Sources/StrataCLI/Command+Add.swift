import ArgumentParser
import Foundation
import StrataCore
import StrataStore

struct AddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a note, artefact, site or link.",
        discussion: """
            Examples:
              strata add site Palmyra --set location=34.5505,38.2684 --set condition=poor --tag unesco
              strata add artefact "Funerary bust" --set state=moved-for-safekeeping --rel origin:0a1b2c3
              strata add link "Palmyra's Temple of Bel destroyed" --set url=https://example.org/a --set issued=2015-08-31
              strata add note --edit
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "The kind of record: note, artefact, site or link.", completion: .list(RecordKind.allCases.map(\.rawValue)))
    var kind: String

    @Argument(help: "The title (for a site, its name).")
    var title: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Set a field, e.g. --set state=destroyed (repeatable).", valueName: "field=value"))
    var assignments: [String] = []

    @Option(help: "The long text: a note's body, an artefact's or site's description, a link's quote.")
    var body: String?

    @Option(name: .customLong("tag"), help: ArgumentHelp("Add a tag (repeatable).", valueName: "tag"))
    var tags: [String] = []

    @Option(name: .customLong("rel"), help: ArgumentHelp("Relate to a record, e.g. --rel about:0a1b2c3 (repeatable).", valueName: "relation:id"))
    var relations: [String] = []

    @Flag(name: [.short, .long], help: "Write the record in $EDITOR (the default on a terminal when no title or field is given).")
    var edit = false

    func run() throws {
        let store = try options.open()
        let kind = try Fields.kind(named: self.kind)
        var draft = Draft(tags: tags, relations: relations)
        if let title { draft.fields[kind.titleField] = title }
        for a in assignments {
            guard let eq = a.firstIndex(of: "=") else {
                throw CLIError("'\(a)' is not FIELD=VALUE, e.g. --set state=destroyed")
            }
            let spec = try Fields.spec(String(a[..<eq]).trimmed, of: kind)
            draft.fields[spec.name] = String(a[a.index(after: eq)...])
        }
        if let body {
            guard let long = kind.fields.first(where: { $0.type == .longText }) else {
                throw CLIError("\(kind.rawValue) has no long-text field for --body")
            }
            draft.fields[long.name] = body
        }
        let id = store.newRecordID()
        let interactive = isatty(0) == 1 && isatty(1) == 1
        let useEditor = edit || (interactive && title == nil && assignments.isEmpty && body == nil)
        var edits: [Edit] = [.create(id, kind: kind)]
        if useEditor {
            let text = EditorText.render(
                kind: kind, draft: draft, header: ["strata: new \(kind.rawValue)"], record: nil, output: nil)
            let edited = try Editor.edit(text, name: "new-\(kind.rawValue)")
            do {
                let parsed = try EditorText.parse(edited, kind: kind)
                edits += try EditorText.edits(from: Draft(), to: parsed, id: id, kind: kind, store: store)
                if edits.count == 1 {
                    print("nothing entered; no record added")
                    return
                }
                try store.commit(edits)
            } catch {
                let path = Editor.saveRecovery(edited, storePath: store.path, name: "new-\(kind.rawValue)")
                throw CLIError("\(Advice.message(for: error)); your text is kept in \(path)")
            }
        } else {
            edits += try EditorText.edits(from: Draft(), to: draft, id: id, kind: kind, store: store)
            try store.commit(edits)
        }
        print(try store.uniquePrefix(of: id))
    }
}
