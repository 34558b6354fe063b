// strata-bench scenario `merge` (main.swift runs the scenarios named on the command line).
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

func mergeScenario() throws {
    // Khaled records `size` notes; later he and Maria both retitle the same 10% of them
    // offline (concurrent conflicts). A third replica receives all of it.
    let notes = makeNotes(size)
    let khaled = try storeWith(notes, path: freshPath("khaled.strata"))
    let created = try khaled.changes(missingFrom: VersionVector())
    let maria = try Store.create(at: freshPath("maria.strata"), author: "Maria")
    try apply(created, to: maria, inChunksOf: 5000)
    let conflicted = notes.enumerated().filter { $0.offset % 10 == 0 }.map(\.element)
    try khaled.commit(each: conflicted.map { [.set($0.id, field: "title", .text($0.title + " (checked)"))] })
    try maria.commit(each: conflicted.map { [.set($0.id, field: "title", .text($0.title + " (revised)"))] })
    var all = try khaled.changes(missingFrom: VersionVector())
    all += try maria.changes(missingFrom: try khaled.versionVector())
    var times: [Double] = []
    var plain: [Double] = []
    for _ in 0..<repeats {
        plain.append(try plainInsert(makeNotes(all.count), path: freshPath("plainmerge.db")))
        let third = try Store.create(at: freshPath("omar.strata"), author: "Omar")
        times.append(try seconds { try apply(all, to: third, inChunksOf: 2000) })
        let found = try third.conflicts().count
        precondition(found == conflicted.count, "merge: expected \(conflicted.count) conflicts, found \(found)")
    }
    report(
        "merge", "apply \(all.count) remote changes, 10% conflicting", unit: "s", strata: median(times), baseline: median(plain),
        baselineName: "plain SQLite insert of as many rows", size: all.count)
}
