// strata-bench scenario `cli` (main.swift runs the scenarios named on the command line).
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

func cliScenario() throws {
    guard FileManager.default.isExecutableFile(atPath: opts.strataBinary) else {
        fail("no strata binary at \(opts.strataBinary): build it (swift build -c release) or pass --strata PATH")
    }
    let sqlite = ["/usr/bin/sqlite3", "/usr/local/bin/sqlite3"].first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let sqlite else { fail("the cli scenario needs the sqlite3 shell: apt-get install -y sqlite3") }
    let notes = makeNotes(size)
    let storePath = freshPath("cli.strata")
    _ = try storeWith(notes, path: storePath)
    let plainPath = freshPath("cli.db")
    _ = try plainInsert(notes, path: plainPath)
    func run(_ exe: String, _ args: [String], env: [String: String] = [:]) throws -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
        p.standardOutput = FileHandle.nullDevice
        let t = try seconds {
            try p.run()
            p.waitUntilExit()
        }
        guard p.terminationStatus == 0 else { fail("\(exe) \(args.first ?? "") ... exited with \(p.terminationStatus)") }
        return t
    }
    var strata: [Double] = []
    var plain: [Double] = []
    for k in 0..<max(repeats, 7) {
        let note = makeNotes(1, start: size + k)[0]
        strata.append(
            try run(opts.strataBinary, ["add", "note", note.title, "--body", note.body, "--tag", "palmyra"], env: ["STRATA_STORE": storePath]))
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
        let sql = "PRAGMA journal_mode=WAL; INSERT INTO notes VALUES (x'\(note.id.bytes.map { String(format: "%02x", $0) }.joined())', \(quoted(note.title)), \(quoted(note.body)), 'palmyra');"
        plain.append(try run(sqlite, [plainPath, sql]))
    }
    report(
        "cli", "add one note to a replica of \(size)", unit: "s", strata: median(strata), baseline: median(plain),
        baselineName: "sqlite3 shell, one INSERT")
}
