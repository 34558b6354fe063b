// strata-bench scenario `attach`: attaching photos against `cp` of the same files, and the
// layout decision of ARCHITECTURE.md (blobs as files beside the store, or as rows inside it).
import Crypto
import Foundation
import GRDB
import StrataCore
import StrataStore

/// `--photos N` files of 3-5 MB (random bytes behind a JPEG signature, so nothing compresses).
func makePhotos(_ n: Int, in dir: String) throws -> [String] {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var rng = SystemRandomNumberGenerator()
    var paths: [String] = []
    for i in 0..<n {
        let size = opts.photoBytes ?? Int.random(in: 3_000_000...5_000_000, using: &rng)
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for j in words.indices { words[j] = rng.next() }
        }
        bytes[0] = 0xFF
        bytes[1] = 0xD8
        bytes[2] = 0xFF
        let p = "\(dir)/photo-\(i).jpg"
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        paths.append(p)
    }
    return paths
}

func run(_ tool: String, _ args: [String]) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = args
    try p.run()
    p.waitUntilExit()
    if p.terminationStatus != 0 { fail("\(tool) \(args.joined(separator: " ")) exited \(p.terminationStatus)") }
}

/// The other layout, for the decision: each blob as 1 MiB rows of a table in the store's own
/// SQLite file (WAL, synchronous = FULL as the store uses), hashed on the way, a transaction per
/// file. Returns seconds.
func attachAsRows(_ photos: [String], path: String) throws -> Double {
    let q = try DatabaseQueue(path: path, configuration: {
        var c = Configuration()
        c.journalMode = .wal
        c.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        return c
    }())
    try q.write { db in
        try db.execute(sql: "CREATE TABLE blob_rows(hash BLOB NOT NULL, offset INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY(hash, offset))")
    }
    return try seconds {
        for p in photos {
            let h = FileHandle(forReadingAtPath: p)!
            defer { try? h.close() }
            try q.write { db in
                var hasher = SHA256()
                var offset: Int64 = 0
                var pieces: [(Int64, Data)] = []
                while let chunk = try h.read(upToCount: 1 << 20), !chunk.isEmpty {
                    hasher.update(data: chunk)
                    pieces.append((offset, chunk))
                    offset += Int64(chunk.count)
                }
                let hash = Data(hasher.finalize())
                for (o, d) in pieces {
                    try db.execute(sql: "INSERT INTO blob_rows(hash, offset, data) VALUES (?, ?, ?)", arguments: [hash, o, d])
                }
            }
        }
    }
}

func attachScenario() throws {
    let n = opts.photos
    let src = freshPath("photos")
    let photos = try makePhotos(n, in: src)
    let total = photos.reduce(0) { $0 + (FileSystemSize.of($1)) }
    var cpTimes: [Double] = []
    var cpSyncTimes: [Double] = []
    var strataTimes: [Double] = []
    var oneCallTimes: [Double] = []
    var rowTimes: [Double] = []
    var readTimes: [Double] = []
    var catTimes: [Double] = []
    for _ in 0..<repeats {
        let dst = freshPath("cp")
        cpTimes.append(try seconds { try run("/bin/cp", ["-r", src, dst]) })
        let dst2 = freshPath("cp-sync")
        cpSyncTimes.append(try seconds { try run("/bin/cp", ["-r", src, dst2]); try run("/bin/sync", []) })
        let store = try Store.create(at: freshPath("attach.strata"), author: "Khaled")
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .artefact), .set(id, field: "title", .text("Funerary bust"))])
        // As `strata attach` does for one file: one change per photo.
        strataTimes.append(try seconds { for p in photos { _ = try store.attach([AttachmentInput(path: p)], to: id) } })
        // As `strata attach ID *.jpg` does: one change for all of them.
        let store2 = try Store.create(at: freshPath("attach-one.strata"), author: "Khaled")
        let id2 = store2.newRecordID()
        try store2.commit([.create(id2, kind: .artefact), .set(id2, field: "title", .text("Funerary bust"))])
        oneCallTimes.append(try seconds { _ = try store2.attach(photos.map { AttachmentInput(path: $0) }, to: id2) })
        let rowsPath = freshPath("rows.db")
        rowTimes.append(try attachAsRows(photos, path: rowsPath))
        let hashes = try requireAll(try store.record(id)?.attachments.map(\.ref.hash))
        readTimes.append(try seconds { for h in hashes { try store.blobs.read(h) { _ in } } })
        catTimes.append(try seconds { try run("/bin/sh", ["-c", "cat \(src)/*.jpg > /dev/null"]) })
        // Every copy goes, Strata's too: the next run's copies then all draw on the pages these
        // free (on a VM, pages the guest never touched cost a fault each on first write, and
        // `cp` alone reusing freed ones made it look faster than it is).
        for p in [dst, dst2, store.path, store2.path, rowsPath] {
            for suffix in ["", ".blobs", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: p + suffix) }
        }
    }
    let mb = Double(total) / 1e6
    report(
        "attach", "attach \(n) photos (\(Int(mb)) MB), a change each", unit: "s", strata: median(strataTimes),
        baseline: median(cpTimes), baselineName: "cp -r of the same files", goal: "ratio <= 2 (>= 0.5x cp's rate)",
        met: median(strataTimes) <= 2 * median(cpTimes), size: n)
    report(
        "attach", "attach \(n) photos, against a durable copy", unit: "s", strata: median(strataTimes),
        baseline: median(cpSyncTimes), baselineName: "cp -r then sync", size: n)
    report(
        "attach", "attach \(n) photos in one command (one change)", unit: "s", strata: median(oneCallTimes),
        baseline: median(cpTimes), baselineName: "cp -r of the same files", size: n)
    report(
        "attach", "the other layout: blobs as 1 MiB SQLite rows", unit: "s", strata: median(rowTimes),
        baseline: median(cpTimes), baselineName: "cp -r of the same files", size: n)
    report(
        "attach", "read every photo back, verified (SHA-256)", unit: "s", strata: median(readTimes),
        baseline: median(catTimes), baselineName: "cat of the same files", size: n)
}

enum FileSystemSize {
    static func of(_ path: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0 }
}

/// `x ?? fail`, for bench code where a nil is a bug.
func requireAll<T>(_ x: T?) throws -> T {
    guard let x else { fail("unexpected nil") }
    return x
}
