import Foundation
import StrataCore
import StrataJSON
import StrataStore

/// An error for the person at the terminal: one line, with context.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Writes to standard error.
func printError(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Formatting shared by the commands: the text forms (tables, `show`), on top of the record
/// presentation and JSON the web view shares (``RecordPresenter``).
final class Output: RecordPresenter {
    // MARK: Tables

    /// Left-aligned columns separated by two spaces; the last column is not padded.
    static func table(_ rows: [[String]]) -> String {
        guard let n = rows.map(\.count).max(), n > 0 else { return "" }
        var widths = [Int](repeating: 0, count: n)
        for row in rows { for (i, c) in row.enumerated() where i < n - 1 { widths[i] = max(widths[i], c.count) } }
        return rows.map { row in
            var line = ""
            for (i, c) in row.enumerated() {
                if i > 0 { line += "  " }
                line += i < n - 1 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0) : c
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }.joined(separator: "\n")
    }

    /// One row of `list`/`search`: short id, kind, title, state/condition, tags, markers.
    func row(_ r: RecordState) -> [String] {
        var title = Output.shownTitle(r)
        if title.count > 50 { title = String(title.prefix(49)) + "…" }
        let state = r.text("state") ?? r.text("condition") ?? ""
        let tags = r.tags.map { "#" + $0 }.joined(separator: " ")
        var marks: [String] = []
        if r.hasConflict { marks.append("!") }
        if r.isDeleted { marks.append("(deleted)") }
        return [short(r.id), r.kind ?? "?", title, state, tags, marks.joined(separator: " ")]
    }

    func printList(_ records: [RecordState]) {
        guard !records.isEmpty else { return }
        print(Output.table(records.map(row)))
    }
}

/// Prints JSON followed by a newline.
func printJSON(_ j: JSON) {
    print(j.serialized())
}
