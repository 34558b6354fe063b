import Foundation
import Testing

/// Runs the built `strata` binary as a user would.
struct Run {
    let status: Int32
    let stdout: String
    let stderr: String

    /// The output as JSON (Foundation objects).
    func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(stdout.utf8), options: [.fragmentsAllowed])
    }

    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
}

/// A temporary directory with one store path, removed at the end of the test.
final class Sandbox {
    let dir: URL
    var store: String { dir.appendingPathComponent("replica.strata").path }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("strata-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// Runs `strata args...` against this sandbox's store (through `STRATA_STORE`).
    @discardableResult
    func run(_ args: String..., store: String? = nil, env: [String: String] = [:]) throws -> Run {
        try strata(args, env: ["STRATA_STORE": store ?? self.store].merging(env) { $1 }, cwd: dir)
    }

    /// Like ``run`` but expects success and returns trimmed standard output.
    @discardableResult
    func ok(_ args: String..., store: String? = nil, env: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation)
        throws -> String
    {
        let r = try strata(args, env: ["STRATA_STORE": store ?? self.store].merging(env) { $1 }, cwd: dir)
        #expect(r.status == 0, "strata \(args.joined(separator: " ")) failed: \(r.stderr)", sourceLocation: sourceLocation)
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A shell script usable as `$EDITOR`.
    func editorScript(_ name: String, _ body: String) throws -> String {
        let p = path(name)
        try Data(("#!/bin/sh\n" + body + "\n").utf8).write(to: URL(fileURLWithPath: p))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: p)
        return p
    }

    /// `init` with an author.
    func initStore(author: String = "Khaled", store: String? = nil) throws {
        try ok("init", "--author", author, store: store)
    }
}

/// The `strata` binary: `$STRATA_BIN`, else next to the test bundle, else under `.build`.
let strataBinary: String = {
    let fm = FileManager.default
    if let b = ProcessInfo.processInfo.environment["STRATA_BIN"], fm.isExecutableFile(atPath: b) { return b }
    var candidates: [String] = []
    let arg0 = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).resolvingSymlinksInPath()
    var dir = arg0.deletingLastPathComponent()
    for _ in 0..<4 {
        candidates.append(dir.appendingPathComponent("strata").path)
        dir = dir.deletingLastPathComponent()
    }
    candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("strata").path)
    var root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while root.path != "/" && !fm.fileExists(atPath: root.appendingPathComponent("Package.swift").path) {
        root = root.deletingLastPathComponent()
    }
    for scratch in [".build-cli", ".build"] {
        candidates.append(root.appendingPathComponent("\(scratch)/debug/strata").path)
    }
    return candidates.first { fm.isExecutableFile(atPath: $0) && !$0.hasSuffix(".xctest") } ?? "strata"
}()

func strata(_ args: [String], env: [String: String], cwd: URL, stdin: String? = nil) throws -> Run {
    var environment = ProcessInfo.processInfo.environment
    environment["EDITOR"] = "false"  // never open a real editor from a test
    environment.removeValue(forKey: "VISUAL")
    for (k, v) in env { environment[k] = v }
    return try runProgram(strataBinary, args, environment: environment, cwd: cwd, stdin: stdin)
}

/// Runs a program to completion; output goes to files, not pipes, so large outputs cannot block it.
func runProgram(
    _ path: String, _ args: [String], environment: [String: String] = ProcessInfo.processInfo.environment,
    cwd: URL = FileManager.default.temporaryDirectory, stdin: String? = nil
) throws -> Run {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    p.environment = environment
    p.currentDirectoryURL = cwd
    let id = UUID().uuidString
    let outURL = cwd.appendingPathComponent(".out-\(id)")
    let errURL = cwd.appendingPathComponent(".err-\(id)")
    let inURL = cwd.appendingPathComponent(".in-\(id)")
    defer {
        for url in [outURL, errURL, inURL] { try? FileManager.default.removeItem(at: url) }
    }
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL)
    let err = try FileHandle(forWritingTo: errURL)
    p.standardOutput = out
    p.standardError = err
    if let stdin {
        try Data(stdin.utf8).write(to: inURL)
        p.standardInput = try FileHandle(forReadingFrom: inURL)
    } else {
        p.standardInput = FileHandle.nullDevice
    }
    try p.run()
    p.waitUntilExit()
    try out.close()
    try err.close()
    let o = String(decoding: try Data(contentsOf: outURL), as: UTF8.self)
    let e = String(decoding: try Data(contentsOf: errURL), as: UTF8.self)
    return Run(status: p.terminationStatus, stdout: o, stderr: e)
}

/// Expects a failure with one clear line on standard error.
func expectOneLineError(_ r: Run, containing needle: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status != 0, "expected failure, got success: \(r.stdout)", sourceLocation: sourceLocation)
    let lines = r.stderr.split(separator: "\n")
    #expect(lines.count == 1, "expected one line on stderr, got: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.contains(needle), "stderr lacks '\(needle)': \(r.stderr)", sourceLocation: sourceLocation)
}

/// A stand-in photo in the sandbox: a JPEG signature and `bytes` seeded bytes (not an image
/// any viewer opens; the real geotagged photos are in Tests/StrataCodecTests/Fixtures).
func photo(_ s: Sandbox, _ name: String, bytes: Int = 30_000, seed: UInt8 = 1) throws -> String {
    var b: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0]
    var x = seed
    for _ in 0..<bytes {
        x = x &* 73 &+ 41
        b.append(x)
    }
    let p = s.path(name)
    try Data(b).write(to: URL(fileURLWithPath: p))
    return p
}
