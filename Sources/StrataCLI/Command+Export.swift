import ArgumentParser
import Foundation
import StrataCore
import StrataJSON
import StrataStore

enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case json, csv, geojson, markdown, zip
}

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export records as JSON, CSV, GeoJSON (for QGIS) or Markdown, or with their attachments as a zip.",
        discussion: """
            JSON export is the format `strata import` reads. Output is deterministic (records by id).
            --format zip -o FILE writes records.json, records.geojson (records with a location and \
            photos with a position, as points), attachments.json and every attachment held here, \
            under attachments/<record>/, named by its number and caption.
            Positions are sensitive (looters read them): --no-locations leaves out site and record \
            coordinates and photos' positions; in a zip it also leaves out the photos' files, \
            whose EXIF may hold a GPS position.
            """)

    @OptionGroup var options: StoreOptions
    @Option(help: "json, csv, geojson, markdown or zip.") var format: ExportFormat = .json
    @Option(help: "Only this kind.", completion: .list(RecordKind.allCases.map(\.rawValue))) var kind: String?
    @Flag(help: "Include deleted records.") var all = false
    @Option(name: [.short, .customLong("output")], help: "Write to this file instead of standard output.", completion: .file())
    var output: String?
    @Flag(help: "Leave positions out: locations of records and photos (and, in a zip, the photo files themselves).")
    var noLocations = false

    func validate() throws {
        if format == .geojson && noLocations {
            throw ValidationError("a GeoJSON export is made of positions, and --no-locations leaves them all out; export json or csv instead")
        }
    }

    func run() throws {
        let store = try options.open()
        var f = RecordFilter(includeDeleted: all)
        if let kind { f.kind = try Fields.kind(named: kind) }
        let records = try store.list(f).sorted { $0.id < $1.id }
        let out = try Output(store: store)
        if format == .zip {
            guard let output else { throw CLIError("an archive is a file, not text for the terminal: give -o FILE.zip") }
            let path = Paths.expand(output)
            let s = try Exporter.zip(records, store: store, out: out, to: path, locations: !noLocations)
            var line = "exported \(Output.counted(s.records, "record")) and \(Output.counted(s.attachments, "attachment")) (\(Output.byteCount(Int(s.attachmentBytes)))) to \(path)"
            if noLocations { line += ", without positions" }
            printError(line)
            if s.notHere > 0 { printError("\(Output.counted(s.notHere, "attachment")) not on this machine, listed in attachments.json but not in the archive") }
            if s.leftOutForPosition > 0 {
                printError("\(Output.counted(s.leftOutForPosition, "photo")) left out: \(s.leftOutForPosition == 1 ? "its file" : "their files") may hold a GPS position (listed in attachments.json)")
            }
            return
        }
        let recordsOut = noLocations ? records.map(Exporter.withoutLocations) : records
        let text: String
        switch format {
        case .json:
            let json = JSON.array(recordsOut.map(out.recordJSON))
            text = (noLocations ? Exporter.withoutPositions(json) : json).serialized() + "\n"
        case .csv: text = Exporter.csv(recordsOut)
        case .geojson: text = Exporter.geojson(records, out: out).serialized() + "\n"
        case .markdown: text = Exporter.markdown(recordsOut, out: out)
        case .zip: text = ""  // handled above
        }
        if let output {
            let path = Paths.expand(output)
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            } catch {
                throw CLIError("cannot write \(path): \(error.localizedDescription)")
            }
            printError("exported \(records.count) record\(records.count == 1 ? "" : "s") to \(path)")
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}

enum Exporter {
    /// One row per record: id, kind, title, every field of the kinds present, tags, relations.
    /// RFC 4180: CRLF line ends, fields with commas, quotes or line breaks quoted.
    static func csv(_ records: [RecordState]) -> String {
        let kinds = RecordKind.allCases.filter { k in records.contains { $0.kind == k.rawValue } }
        var columns: [String] = []
        // `title` is the title column already (a site's is its `name`, kept as a field column).
        for k in kinds { for f in k.fields where f.name != "title" && !columns.contains(f.name) { columns.append(f.name) } }
        let header = ["id", "kind", "title"] + columns + ["tags", "relations", "deleted"]
        var lines = [header.map(quote).joined(separator: ",")]
        for r in records {
            var row = [r.id.text, r.kind ?? "", Output.title(r)]
            for c in columns { row.append(r.value(c).map(Output.text) ?? "") }
            row.append(r.tags.joined(separator: ";"))
            row.append(Output.relations(r).map { "\($0.type):\($0.target.text)" }.joined(separator: ";"))
            row.append(r.isDeleted ? "true" : "false")
            lines.append(row.map(quote).joined(separator: ","))
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    static func quote(_ s: String) -> String {
        if s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    /// A FeatureCollection of the records with a location (``RecordPresenter/geojson(_:)``).
    static func geojson(_ records: [RecordState], out: Output) -> JSON { out.geojson(records) }

    /// A heading per record, fields as a list, long text as paragraphs.
    static func markdown(_ records: [RecordState], out: Output) -> String {
        var md: [String] = []
        for r in records {
            let kind = Output.kind(r)
            md.append("## \(escape(Output.title(r)))")
            md.append("")
            md.append("- **id**: `\(r.id.text)`")
            md.append("- **kind**: \(r.kind ?? "")")
            var long: [(String, String)] = []
            for f in Output.orderedFields(r) {
                if kind?.field(named: f.name)?.type == .longText {
                    long.append((f.name, Output.text(f.value)))
                } else if f.name != kind?.titleField {
                    md.append("- **\(f.name)**: \(escape(Output.text(f.value)))")
                }
            }
            if !r.tags.isEmpty { md.append("- **tags**: \(r.tags.joined(separator: ", "))") }
            for rel in Output.relations(r) {
                let t = out.lookup(rel.target)
                md.append("- **\(rel.type)**: \(t.map { escape(Output.title($0)) + " " } ?? "")(`\(out.short(rel.target))`)")
            }
            if let c = r.creation {
                md.append("- **created**: \(Output.iso(c.timestamp)) by \(escape(c.author))")
            }
            if r.isDeleted { md.append("- **deleted**: yes") }
            for (name, text) in long {
                md.append("")
                md.append("### \(name)")
                md.append("")
                md.append(text.trimmed)
            }
            md.append("")
        }
        return md.joined(separator: "\n")
    }

    /// Keeps values from turning into Markdown structure where it matters most.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\n", with: " ")
    }
}
