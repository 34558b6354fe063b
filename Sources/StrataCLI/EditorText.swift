import Foundation
import StrataCore
import StrataStore

/// The readable text form of a record for `$EDITOR`, and its parser.
///
/// ```
/// # comments explain each field
/// title: Funerary bust of a woman
/// state: moved-for-safekeeping
/// tags: palmyra, museum
/// rel: origin 0a1b2c3, see-also 9z8y7x6
///
/// === description ===
/// Long text, verbatim (lines starting with # are kept here),
/// up to the next === field === line or the end.
/// ```
///
/// A field whose line is missing is left unchanged; an empty value clears it.
struct Draft: Equatable {
    /// Canonical field name → text as typed (one-line values trimmed, long text verbatim
    /// without leading and trailing blank lines).
    var fields: [String: String] = [:]
    /// Tags as typed, in order; nil when the `tags:` line is missing (leave tags unchanged).
    var tags: [String]? = nil
    /// Relations as `TYPE ID` (id possibly abbreviated); nil when the `rel:` line is missing.
    var relations: [String]? = nil

    /// The draft of an existing record.
    init(record r: RecordState, output: Output) {
        for f in r.fields { fields[f.name] = Output.text(f.value) }
        tags = r.tags
        relations = Output.relations(r).map { "\($0.type) \(output.short($0.target))" }
    }

    init(fields: [String: String] = [:], tags: [String]? = nil, relations: [String]? = nil) {
        self.fields = fields
        self.tags = tags
        self.relations = relations
    }
}

enum EditorText {
    static let sectionMark = "==="

    /// The text a user edits. `record` (when editing) adds conflict notes and related titles.
    static func render(kind: RecordKind, draft: Draft, header: [String], record: RecordState?, output: Output?)
        -> String
    {
        var out: [String] = header.map { "# " + $0 }
        out += [
            "# One field per line as `field: value`. Leave a value empty to clear the field;",
            "# a missing line leaves the field as it is. Lines starting with # are ignored,",
            "# except inside long-text sections (from an `=== field ===` line to the next).",
            "# Save and quit to commit; quit without saving to change nothing.",
            "",
        ]
        let oneLine = kind.fields.filter { $0.type != .longText }
        let long = kind.fields.filter { $0.type == .longText }
        for f in oneLine {
            out.append("# " + help(f))
            if let r = record, let o = output { out += conflictNotes(r, field: f.name, output: o) }
            let v = draft.fields[f.name] ?? ""
            out.append(v.isEmpty ? "\(f.name):" : "\(f.name): \(v)")
        }
        out.append("")
        out.append("# tags, separated by commas")
        let tags = draft.tags ?? []
        out.append(tags.isEmpty ? "tags:" : "tags: " + tags.joined(separator: ", "))
        out.append(
            "# relations to other records, separated by commas, as RELATION ID; relations: "
                + Schema.relationTypes.joined(separator: ", "))
        if let r = record, let o = output {
            for rel in Output.relations(r) {
                let t = o.lookup(rel.target)
                out.append(
                    "#   \(rel.type) \(o.short(rel.target)) = \(t?.kind ?? "missing record") \(t.map(Output.title) ?? "")")
            }
        }
        let rels = draft.relations ?? []
        out.append(rels.isEmpty ? "rel:" : "rel: " + rels.joined(separator: ", "))
        for f in long {
            out.append("")
            out.append("# \(f.name): \(f.help) (long text: everything below the next line, kept verbatim)")
            if let r = record, let o = output { out += conflictNotes(r, field: f.name, output: o) }
            out.append("\(sectionMark) \(f.name) \(sectionMark)")
            if let v = draft.fields[f.name], !v.isEmpty { out.append(v) }
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func help(_ f: FieldSpec) -> String {
        switch f.type {
        case .choice(let allowed): "\(f.name): \(f.help); one of: \(allowed.joined(separator: ", "))"
        case .date: "\(f.name): \(f.help), e.g. 2015-08-30"
        case .url: "\(f.name): \(f.help), starting with https://"
        default: "\(f.name): \(f.help)"
        }
    }

    static func conflictNotes(_ r: RecordState, field: String, output: Output) -> [String] {
        guard let ks = r.keys[FieldKey(field)], ks.isConflicted else { return [] }
        var lines = ["# CONFLICT: \(ks.live.count) values; the first is shown. Change the value to resolve it,"]
        lines.append("#   or run `strata resolve \(output.short(r.id)) \(field) --keep N`:")
        for (i, lv) in ks.live.enumerated() {
            lines.append(
                "#   [\(i + 1)] \(Output.oneLine(lv.value)) (\(lv.author), \(Output.iso(lv.timestamp)), \(lv.change.replica.short))")
        }
        return lines
    }

    /// Parses edited text back into a draft.
    static func parse(_ text: String, kind: RecordKind) throws -> Draft {
        var d = Draft()
        var seen = Set<String>()
        var section: String? = nil
        var sectionLines: [String] = []

        func closeSection() {
            guard let s = section else { return }
            while let f = sectionLines.first, f.trimmed.isEmpty { sectionLines.removeFirst() }
            while let l = sectionLines.last, l.trimmed.isEmpty { sectionLines.removeLast() }
            d.fields[s] = sectionLines.joined(separator: "\n")
            section = nil
            sectionLines = []
        }

        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.hasSuffix("\r") ? String($0.dropLast()) : String($0)
        }
        for (i, line) in lines.enumerated() {
            let n = i + 1
            if let name = sectionName(line, kind: kind) {
                closeSection()
                guard seen.insert(name).inserted else { throw CLIError("line \(n): field \(name) appears twice") }
                section = name
                continue
            }
            if section != nil {
                sectionLines.append(line)
                continue
            }
            let t = line.trimmed
            if t.isEmpty || t.hasPrefix("#") { continue }
            guard let colon = t.firstIndex(of: ":") else {
                throw CLIError("line \(n): expected `field: value`, found '\(t)'")
            }
            let rawKey = String(t[..<colon]).trimmed
            let value = String(t[t.index(after: colon)...]).trimmed
            let key = Schema.canonicalFieldName(rawKey)
            switch key {
            case "tags":
                guard seen.insert("tags").inserted else { throw CLIError("line \(n): tags appear twice") }
                d.tags = value.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
            case "rel", "relations":
                guard seen.insert("rel").inserted else { throw CLIError("line \(n): rel appears twice") }
                d.relations = value.split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
            default:
                guard let spec = kind.field(named: rawKey) else {
                    throw CLIError(
                        "line \(n): \(kind.rawValue) has no field '\(rawKey)'; its fields are: "
                            + kind.fields.map(\.name).joined(separator: ", ") + ", tags, rel")
                }
                guard seen.insert(spec.name).inserted else {
                    throw CLIError("line \(n): field \(spec.name) appears twice")
                }
                d.fields[spec.name] = value
            }
        }
        closeSection()
        return d
    }

    /// `=== body ===` → `body` when it names a long-text field of the kind.
    static func sectionName(_ line: String, kind: RecordKind) -> String? {
        let t = line.trimmed
        guard t.hasPrefix(sectionMark), t.hasSuffix(sectionMark), t.count > 2 * sectionMark.count else { return nil }
        let inner = String(t.dropFirst(sectionMark.count).dropLast(sectionMark.count)).trimmed
        guard let spec = kind.field(named: inner), spec.type == .longText else { return nil }
        return spec.name
    }

    /// The edits that turn `original` into `edited`: only what the user changed.
    /// Values are validated here; the first invalid one is thrown.
    static func edits(
        from original: Draft, to edited: Draft, id: RecordID, kind: RecordKind, store: Store
    ) throws -> [Edit] {
        var edits: [Edit] = []
        for spec in kind.fields {
            guard let new = edited.fields[spec.name] else { continue }
            let old = original.fields[spec.name] ?? ""
            if new == old { continue }
            edits.append(.set(id, field: spec.name, try Schema.parse(new, for: spec, kind: kind)))
        }
        if let newTags = edited.tags {
            let old = Set(try (original.tags ?? []).map { try Schema.tag($0) })
            let new = Set(try newTags.map { try Schema.tag($0) })
            for t in new.subtracting(old).sorted() { edits.append(.add(id, field: SystemField.tags, element: t)) }
            for t in old.subtracting(new).sorted() { edits.append(.remove(id, field: SystemField.tags, element: t)) }
        }
        if let newRels = edited.relations {
            let old = Set(try (original.relations ?? []).map { try Fields.relation($0, store: store) })
            let new = Set(try newRels.map { try Fields.relation($0, store: store) })
            for e in new.subtracting(old).sorted() { edits.append(.add(id, field: SystemField.relations, element: e)) }
            for e in old.subtracting(new).sorted() {
                edits.append(.remove(id, field: SystemField.relations, element: e))
            }
        }
        return edits
    }
}

/// Runs the user's editor on a text.
enum Editor {
    /// `$EDITOR`, else `$VISUAL`, else `vi`.
    static var command: String {
        let env = ProcessInfo.processInfo.environment
        for k in ["EDITOR", "VISUAL"] { if let e = env[k], !e.trimmed.isEmpty { return e } }
        return "vi"
    }

    /// Opens the editor on `text` in a temporary file and returns what was saved.
    /// Throws when the editor exits non-zero (the caller commits nothing).
    static func edit(_ text: String, name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory
        let url = dir.appendingPathComponent("strata-\(name)-\(ProcessInfo.processInfo.processIdentifier).txt")
        try Data(text.utf8).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The editor command may carry arguments (`code -w`), so the shell splits it.
        p.arguments = ["-c", "\(command) \"$1\"", "strata-editor", url.path]
        do {
            try p.run()
        } catch {
            throw CLIError("cannot start the editor '\(command)': \(error); set $EDITOR")
        }
        p.waitUntilExit()
        guard p.terminationReason == .exit, p.terminationStatus == 0 else {
            throw CLIError("the editor '\(command)' exited with status \(p.terminationStatus); nothing was changed")
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CLIError("the edited file \(url.path) is gone; nothing was changed")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Keeps text the user typed that could not be committed; returns the file's path.
    static func saveRecovery(_ text: String, storePath: String, name: String) -> String {
        var path = Paths.recoveryFile(storePath: storePath, name: name)
        if (try? Data(text.utf8).write(to: URL(fileURLWithPath: path))) == nil {
            path = FileManager.default.temporaryDirectory.appendingPathComponent(
                (path as NSString).lastPathComponent
            ).path
            try? Data(text.utf8).write(to: URL(fileURLWithPath: path))
        }
        return path
    }
}
