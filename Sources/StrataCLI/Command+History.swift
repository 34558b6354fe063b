import ArgumentParser
import StrataCore
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
        var names: [String: String] = [:]
        for e in entries {
            if case .assign(.attachment(let a)) = e.action { names[e.key.element] = a.name }
        }
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
            printJSON(
                .array(
                    entries.map { e in
                        let (action, value) = describe(e, out: out, attachmentNames: names)
                        return .object([
                            "at": .string(Output.iso(e.timestamp)), "author": .string(e.author),
                            "replica": .string(e.change.replica.hex), "change": .string(e.change.description),
                            "field": .string(e.key.field),
                            "element": e.key.element.isEmpty ? .null : .string(e.key.element),
                            "action": .string(action), "value": value.map { .string($0) } ?? .null,
                            "resolved": .int(Int64(e.preds.count > 1 ? e.preds.count : 0)),
                        ])
                    }))
            return
        }
        let rows = entries.map { e -> [String] in
            let (action, value) = describe(e, out: out, attachmentNames: names)
            var what = action
            if let value { what += action == "set" ? " to \(value)" : " \(value)" }
            if e.preds.count > 1 { what += " (resolved \(e.preds.count) values)" }
            return [Output.iso(e.timestamp), e.author, e.change.replica.short, e.change.description, e.key.field == SystemField.attachments ? "attachment" : e.key.field, what]
        }
        if !rows.isEmpty { print(Output.table(rows)) }
    }

    /// The action word and its value for one operation. `attachmentNames` (hash hex → name)
    /// names what a detach removed, since a retract carries no value.
    func describe(_ e: HistoryEntry, out: Output, attachmentNames: [String: String] = [:]) -> (String, String?) {
        if e.key.field == SystemField.kind, case .assign(let v) = e.action { return ("created as", Output.text(v)) }
        if e.key.field == SystemField.deleted, case .assign(let v) = e.action {
            if case .deletion = v { return ("deleted", nil) }
            return ("restored", nil)
        }
        if e.key.field == SystemField.attachments {
            switch e.action {
            case .assign(.attachment(let a)) where e.preds.isEmpty:
                return ("attached", "\(a.name) (\(Display.bytes(a.size)))" + (a.caption.isEmpty ? "" : ": \(Output.oneLine(.text(a.caption)))"))
            case .assign(.attachment(let a)):
                return ("captioned", "\(a.name): " + (a.caption.isEmpty ? "(no caption)" : Output.oneLine(.text(a.caption))))
            default:
                return ("detached", attachmentNames[e.key.element] ?? String(e.key.element.prefix(12)))
            }
        }
        if !e.key.element.isEmpty {
            var element = e.key.element
            if e.key.field == SystemField.relations, let (t, target) = RelationElement.parse(element) {
                element = "\(t) \(out.short(target))"
            }
            if case .retract = e.action { return ("removed", element) }
            return ("added", element)
        }
        switch e.action {
        case .assign(.null): return ("cleared", nil)
        case .assign(let v): return ("set", Output.oneLine(v))
        case .retract: return ("removed", nil)
        case .editText(let edits): return ("edited", Self.summary(edits))
        }
    }

    /// "+12 −3: “inserted words…”": characters inserted and deleted, and the first insertion.
    static func summary(_ edits: [TextOperation]) -> String {
        var inserted = 0
        var deleted = 0
        var first: String?
        for e in edits {
            switch e {
            case .insert(_, _, _, let t):
                inserted += t.unicodeScalars.count
                if first == nil { first = t }
            case .delete(_, let ranges):
                deleted += ranges.reduce(0) { $0 + Int($1.count) }
            }
        }
        var s = "+\(inserted) −\(deleted)"
        if let first { s += ": “\(Output.oneLine(.text(first), max: 40))”" }
        return s
    }
}
