import ArgumentParser
import Foundation
import StrataCore
import StrataStore

struct AppendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Add a paragraph to a record's long text without an editor.",
        discussion: """
            The paragraph goes at the end of the note's body (an artefact's or site's description, \
            a link's quote), after a blank line. Long texts merge character by character, so a \
            colleague's concurrent edits to the same text are kept too.
            Examples:
              strata append 0a1b2c3 "Satellite images of 31 August confirm the cella is gone."
              strata append 0a1b2c3 - < field-report.txt
            """)

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Argument(help: "The paragraph; - reads it from standard input.") var text: String
    @Option(help: "The long-text field (default: the kind's own: body, description or quote).") var field: String?

    func run() throws {
        let store = try options.open()
        let r = try store.findEditable(id)
        let kind = try Fields.kind(of: r)
        let longTexts = kind.fields.filter { $0.type == .longText }
        let spec: FieldSpec
        if let field {
            spec = try Fields.spec(field, of: kind)
            guard spec.type == .longText else {
                throw CLIError(
                    "\(spec.name) is not a long-text field of a \(kind.rawValue); append adds to \(longTexts.map(\.name).joined(separator: " or ")); use `strata set` for \(spec.name)")
            }
        } else {
            spec = longTexts[0]
        }
        var paragraph = text
        if text == "-" {
            let data = FileHandle.standardInput.readDataToEndOfFile()
            guard let s = String(data: data, encoding: .utf8) else {
                throw CLIError("standard input is not UTF-8 text; nothing was appended")
            }
            paragraph = s
        }
        while let last = paragraph.unicodeScalars.last, CharacterSet.whitespacesAndNewlines.contains(last) {
            paragraph.unicodeScalars.removeLast()
        }
        guard !paragraph.isEmpty else { throw CLIError("the paragraph is empty; nothing was appended") }
        _ = try Schema.parse(paragraph, for: spec, kind: kind)
        let current = r.text(spec.name) ?? ""
        let separator = current.isEmpty || current.hasSuffix("\n\n") ? "" : current.hasSuffix("\n") ? "\n" : "\n\n"
        if try store.commitOrSay([.appendText(r.id, field: spec.name, text: separator + paragraph)]) != nil {
            let s = try store.uniquePrefix(of: r.id)
            print("appended \(paragraph.count) characters to the \(spec.name) of \(s)")
        }
    }
}
