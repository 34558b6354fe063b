import ArgumentParser
import StrataCore
import StrataJSON
import StrataStore

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history", abstract: "Who changed what, when, on which machine: every operation on a record.")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Option(help: "Only this field (or tags, rel, attachments, deleted).") var field: String?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try options.open()
        let r = try store.find(id)
        let out = try Output(store: store)
        var entries = try store.history(of: r.id)
        let names = Output.attachmentNames(entries)
        if let field {
            let f = Schema.canonicalFieldName(field)
            let name = f == "relations" ? SystemField.relations : (f == "attachments" || f == "attachment") ? SystemField.attachments : f
            if let kind = Output.kind(r), kind.field(named: name) == nil,
                ![SystemField.tags, SystemField.relations, SystemField.deleted, SystemField.kind, SystemField.attachments].contains(name)
            {
                _ = try Fields.spec(field, of: kind)
            }
            entries = entries.filter { $0.key.field == name }
        }
        if json {
            printJSON(.array(entries.map { out.historyJSON($0, attachmentNames: names) }))
            return
        }
        let rows = entries.map { e -> [String] in
            let (action, value) = out.historyAction(e, attachmentNames: names)
            var what = action
            if let value { what += action == "set" ? " to \(value)" : " \(value)" }
            if e.preds.count > 1 { what += " (resolved \(e.preds.count) values)" }
            return [Output.iso(e.timestamp), e.author, e.change.replica.short, e.change.description, e.key.field == SystemField.attachments ? "attachment" : e.key.field, what]
        }
        if !rows.isEmpty { print(Output.table(rows)) }
    }
}
