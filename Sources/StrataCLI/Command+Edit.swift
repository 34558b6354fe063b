import ArgumentParser
import Foundation
import StrataCore
import StrataStore

struct EditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edit",
        abstract: "Edit a whole record in $EDITOR; only the fields you change are written.",
        discussion: """
            The editor is $EDITOR, else $VISUAL, else vi. If a value is invalid, nothing is written \
            and your text is kept in a recovery file; continue with `strata edit ID --from FILE`.
            """)

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Option(help: ArgumentHelp("Start from this text (e.g. a recovery file) instead of the record.", valueName: "file"), completion: .file())
    var from: String?

    func run() throws {
        let store = try options.open()
        let r = try store.findEditable(id)
        let kind = try Fields.kind(of: r)
        let out = try Output(store: store)
        let s = out.short(r.id)
        let original = Draft(record: r, output: out)
        let creation = r.creation.map { " created \(Output.iso($0.timestamp)) by \($0.author)" } ?? ""
        let text = EditorText.render(
            kind: kind, draft: original, header: ["strata: editing \(kind.rawValue) \(s) (\(r.id.text))\(creation)"],
            record: r, output: out)
        var start = text
        if let from {
            guard let data = FileManager.default.contents(atPath: Paths.expand(from)) else {
                throw CLIError("cannot read \(from)")
            }
            start = String(decoding: data, as: UTF8.self)
        }
        let edited = try Editor.edit(start, name: s)
        do {
            let baseline = try EditorText.parse(text, kind: kind)
            let parsed = try EditorText.parse(edited, kind: kind)
            let edits = try EditorText.edits(from: baseline, to: parsed, id: r.id, kind: kind, store: store)
            let change = edits.isEmpty ? nil : try store.commit(edits)
            if change == nil {
                print("nothing changed")
                return
            }
            print("updated \(s)")
        } catch {
            let path = Editor.saveRecovery(edited, storePath: store.path, name: s)
            throw CLIError("\(Advice.message(for: error)); nothing was written, your text is kept in \(path) (continue with `strata edit \(s) --from \(path)`)")
        }
    }
}
