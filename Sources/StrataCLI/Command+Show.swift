import ArgumentParser
import StrataCore
import StrataJSON
import StrataStore

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show a record: fields, tags, relations, provenance and conflicts.")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try options.open()
        let r = try store.find(id)
        let out = try Output(store: store)
        if json {
            printJSON(out.recordJSON(r))
            return
        }
        print(out.describe(r))
    }
}

extension Output {
    /// The full text view of a record.
    func describe(_ r: RecordState) -> String {
        var lines: [String] = []
        let conflicted = Set(r.conflictedKeys.map(\.field))
        lines.append("\(r.kind ?? "?") \(short(r.id))  \(Output.shownTitle(r))\(r.isDeleted ? "  (deleted)" : "")")
        lines.append("id: \(r.id.text)")
        let fields = Output.orderedFields(r)
        let kind = Output.kind(r)
        var long: [(String, FieldValue)] = []
        var rows: [[String]] = []
        for f in fields {
            if kind?.field(named: f.name)?.type == .longText {
                long.append((f.name, f.value))
                continue
            }
            rows.append(["  \(f.name):", Display.escaped(Output.text(f.value)) + (conflicted.contains(f.name) ? "  ! conflict" : "")])
        }
        // Conflicted fields whose winner is a clear still deserve a line.
        for k in r.conflictedKeys where !fields.contains(where: { $0.name == k.field }) && k.field != SystemField.deleted {
            rows.append(["  \(k.field):", "(cleared)  ! conflict"])
        }
        if !rows.isEmpty {
            lines.append("fields:")
            lines.append(Output.table(rows))
        }
        lines.append("tags: \(r.tags.isEmpty ? "(none)" : r.tags.joined(separator: ", "))")
        let rels = Output.relations(r)
        if rels.isEmpty {
            lines.append("relations: (none)")
        } else {
            lines.append("relations:")
            lines.append(
                Output.table(
                    rels.map { rel in
                        if let t = lookup(rel.target) {
                            return ["  \(rel.type)", short(rel.target), t.kind ?? "?", Output.shownTitle(t)]
                        }
                        return ["  \(rel.type)", rel.target.text, "(not on this replica)", ""]
                    }))
        }
        lines += attachmentLines(r)
        if let c = r.creation {
            lines.append("created: \(Output.iso(c.timestamp)) by \(c.author) on \(c.change.replica.short)")
        }
        if let m = r.lastModified { lines.append("modified: \(Output.iso(m))") }
        lines.append("deleted: \(r.isDeleted ? "yes (`strata restore \(short(r.id))` brings it back)" : "no")")
        for (name, value) in long {
            lines.append("")
            lines.append("=== \(name) ===\(conflicted.contains(name) ? "  ! conflict" : "")")
            lines.append(Display.escaped(Output.text(value), keepingLineBreaks: true))
        }
        let c = conflictLines(r)
        if !c.isEmpty {
            lines.append("")
            lines += c
        }
        return lines.joined(separator: "\n")
    }

    /// The conflicts of a record, each value numbered for `--keep N`, with what to run.
    func conflictLines(_ r: RecordState) -> [String] {
        var lines: [String] = []
        let s = short(r.id)
        for key in r.conflictedKeys {
            let live = r.keys[key]?.live ?? []
            lines.append("conflict on \(key.field) (\(live.count) values):")
            for (i, lv) in live.enumerated() {
                lines.append(
                    "  [\(i + 1)] \(Output.oneLine(lv.value).isEmpty ? "(cleared)" : Output.oneLine(lv.value))"
                        + "  — \(lv.author), \(Output.iso(lv.timestamp)), replica \(lv.change.replica.short), change \(lv.change)"
                        + (i == 0 ? "  (shown)" : ""))
            }
            lines.append("  resolve: strata resolve \(s) \(key.field) --keep N   (or --value V)")
        }
        for (n, a) in r.attachments.enumerated() where a.isConflicted {
            lines.append("conflict on the caption of attachment \(n + 1) (\(a.values.count) values):")
            for (i, lv) in a.values.enumerated() {
                guard case .attachment(let ref) = lv.value else { continue }
                lines.append(
                    "  [\(i + 1)] \(ref.caption.isEmpty ? "(no caption)" : Output.oneLine(.text(ref.caption)))"
                        + "  — \(lv.author), \(Output.iso(lv.timestamp)), replica \(lv.change.replica.short)"
                        + (i == 0 ? "  (shown)" : ""))
            }
            lines.append("  resolve: strata caption \(s) \(n + 1) TEXT")
        }
        if let dc = r.deleteConflict {
            lines.append(
                "delete conflict: deleted by \(dc.deletion.author) at \(Output.iso(dc.deletion.timestamp)) on \(dc.deletion.change.replica.short), "
                    + "without seeing \(dc.unseenEdits.count) edit\(dc.unseenEdits.count == 1 ? "" : "s"):")
            for e in dc.unseenEdits {
                let what = e.key.element.isEmpty ? "\(e.key.field) = \(Output.oneLine(e.value.value))" : "\(e.key.field) + \(e.key.element)"
                lines.append(
                    "  \(what)  — \(e.value.author), \(Output.iso(e.value.timestamp)), replica \(e.value.change.replica.short)")
            }
            lines.append(
                "  resolve: strata restore \(s) (keep the record and the edits) or strata rm \(s) (keep it deleted);"
                    + " or strata resolve \(s) deleted --keep 1|2")
        }
        return lines
    }
}
