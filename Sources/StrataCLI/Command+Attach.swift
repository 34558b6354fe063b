import ArgumentParser
import Foundation
import StrataCore
import StrataStore

struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attach", abstract: "Attach photos or documents to a record.",
        discussion: """
            Any kind of file. A photo's EXIF time, position, orientation and camera are read and shown. \
            The bytes are stored once (by their SHA-256) beside the store and sync after the records. \
            Example: strata attach 0a1b2c3 bust-east.jpg --caption "The bust from the east, before"
            """)

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Argument(help: "The files.", completion: .file()) var files: [String]
    @Option(help: "What it shows (for every file given; a file attached already keeps its caption unless this is given).")
    var caption: String?
    @Flag(help: "Leave the photo's GPS position out of the stored copy (site coordinates are sensitive).")
    var stripLocation = false

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one file to attach") }
    }

    func run() throws {
        let store = try options.open()
        let r = try store.findEditable(id)
        let inputs = files.map { AttachmentInput(path: Paths.expand($0), caption: caption, stripLocation: stripLocation) }
        let before = Set(r.attachments.map(\.ref.hash))
        let attached = try store.attach(inputs, to: r.id)
        let now = try store.record(r.id)?.attachments ?? []
        for f in attached {
            let n = (now.firstIndex { $0.ref.hash == f.ref.hash } ?? 0) + 1
            var line = "attached [\(n)] \(f.ref.name)  \(f.ref.mediaType), \(Display.bytes(f.ref.size))"
            if before.contains(f.ref.hash) { line += caption == nil ? "  (already attached)" : "  (already attached; caption written)" }
            print(line)
            var facts: [String] = []
            if let t = f.ref.photo.takenAt { facts.append("taken \(t)") }
            if let l = f.ref.photo.location { facts.append("at \(Output.text(.location(l)))") }
            if let c = f.ref.photo.camera { facts.append("with \(c)") }
            if !facts.isEmpty { print("    \(facts.joined(separator: " "))") }
            if f.locationStripped { print("    position removed from the stored copy") }
            if let p = f.metadataProblem { print("    \(p); attached without its photo metadata") }
        }
    }
}

/// Finds attachment N (1-based, in `show` order) of a record.
func attachment(_ number: Int, of r: RecordState, store: Store) throws -> AttachmentState {
    let all = r.attachments
    guard number >= 1, number <= all.count else {
        throw StoreError(.noAttachment(record: try store.uniquePrefix(of: r.id), number: number, count: all.count))
    }
    return all[number - 1]
}

struct DetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detach", abstract: "Detach attachment N from a record (reversible: attach the file again).")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Argument(help: "The attachment's number, as `strata show` lists it.") var number: Int

    func run() throws {
        let store = try options.open()
        let r = try store.findEditable(id)
        let a = try attachment(number, of: r, store: store)
        if try store.detach(a.ref.hash, from: r.id) == nil {
            print("nothing changed")
        } else {
            print("detached \(a.ref.name)")
        }
    }
}

struct CaptionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption", abstract: "Write the caption of attachment N (also resolves a caption conflict).")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Argument(help: "The attachment's number, as `strata show` lists it.") var number: Int
    @Argument(help: "The caption; empty clears it.") var caption: String

    func run() throws {
        let store = try options.open()
        let r = try store.findEditable(id)
        let a = try attachment(number, of: r, store: store)
        if try store.setCaption(caption, of: a.ref.hash, on: r.id) == nil {
            print("nothing changed")
        } else {
            print(caption.isEmpty ? "caption of [\(number)] cleared" : "caption of [\(number)]: \(Output.oneLine(.text(caption)))")
        }
    }
}

struct GetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Write a copy of attachment N to a file (its bytes verified first).")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Argument(help: "The attachment's number, as `strata show` lists it.") var number: Int
    @Option(name: .shortAndLong, help: "The file to write (`-` for standard output).", completion: .file()) var output: String
    @Flag(help: "Replace the file if it exists.") var force = false

    func run() throws {
        let store = try options.open()
        let r = try store.find(id)
        let a = try attachment(number, of: r, store: store)
        if output == "-" {
            try store.blobs.read(a.ref.hash) { FileHandle.standardOutput.write(Data($0)) }
            return
        }
        let path = Paths.expand(output)
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            if isDir.boolValue { throw CLIError("\(output) is a folder; give a file name, e.g. -o \(output)/\(a.ref.name)") }
            if !force { throw CLIError("\(output) exists; choose another name or pass --force to replace it") }
        }
        try store.blobs.export(a.ref.hash, to: path)
        print("wrote \(output) (\(Display.bytes(a.ref.size)), \(a.ref.mediaType))")
    }
}

struct OpenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "open", abstract: "Open attachment N (default 1) with $STRATA_OPENER, else xdg-open.",
        discussion: "A verified copy is written to a private temporary folder and opened from there, so the stored copy cannot be changed.")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Argument(help: "The attachment's number, as `strata show` lists it.") var number: Int = 1

    func run() throws {
        let store = try options.open()
        let r = try store.find(id)
        let a = try attachment(number, of: r, store: store)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("strata-open-\(a.ref.hash.short)").path
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let path = "\(dir)/\(a.ref.name)"
        try store.blobs.export(a.ref.hash, to: path)
        let env = ProcessInfo.processInfo.environment
        let opener = env["STRATA_OPENER"].flatMap { $0.isEmpty ? nil : $0 } ?? "xdg-open"
        guard let program = Self.executable(opener, path: env["PATH"] ?? "/usr/bin:/bin") else {
            throw CLIError("\(opener) was not found; set STRATA_OPENER to a program that opens files, or use `strata get \(id) \(number) -o FILE`")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: program)
        p.arguments = [path]
        do { try p.run() } catch { throw CLIError("cannot run \(opener): \(error.localizedDescription); set STRATA_OPENER to a program that opens files") }
        p.waitUntilExit()
        if p.terminationStatus != 0 {
            throw CLIError("\(opener) could not open \(path) (exit \(p.terminationStatus)); the copy stays there")
        }
        print("opened \(a.ref.name) with \(opener)")
    }

    /// `name` as the shell finds it: itself when it holds a `/`, else the first executable of
    /// that name on `path`.
    static func executable(_ name: String, path: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        for dir in path.split(separator: ":") where !dir.isEmpty {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
