// strata-bench scenario `write` (main.swift runs the scenarios named on the command line).
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

func writeScenario() throws {
    var strata: [Double] = []
    var plain: [Double] = []
    var floor: [Double] = []
    var same: [Double] = []
    var sameBytes: [Double] = []
    var strataBytes: [Double] = []
    for _ in 0..<repeats {
        let notes = makeNotes(size)
        plain.append(try plainInsert(notes, path: freshPath("plain.db")))
        let baseline = try sameFeatureInsert(notes, path: freshPath("same.db"))
        same.append(baseline.seconds)
        sameBytes.append(Double(baseline.bytes))
        let path = freshPath("write.strata")
        do {
            let s = try Store.create(at: path, author: "Khaled")
            strata.append(try seconds { try s.commit(each: notes.map(edits)) })
        }  // closed here: its WAL is checkpointed, as the baseline's is
        strataBytes.append(Double(storeBytes(path)))
        floor.append(try schemaFloor(copying: path, notes: notes))
    }
    report(
        "write", "record notes, one transaction", unit: "s", strata: median(strata), baseline: median(same),
        baselineName: "same-feature SQLite (tags, FTS5), 1 tx", goal: "ratio <= 1.5", met: median(strata) <= 1.5 * median(same))
    report(
        "write", "record notes, against a bare insert", unit: "s", strata: median(strata), baseline: median(plain),
        baselineName: "plain SQLite insert, 1 tx")
    report(
        "write", "store size after recording", unit: "bytes", strata: median(strataBytes), baseline: median(sameBytes),
        baselineName: "same-feature SQLite (tags, FTS5)", goal: "ratio <= 1.5", met: median(strataBytes) <= 1.5 * median(sameBytes))
    report(
        "write", "Strata's tables by plain SQL (schema floor)", unit: "s", strata: median(floor), baseline: median(plain),
        baselineName: "plain SQLite insert, 1 tx")
    report(
        "write", "record notes, against the schema floor", unit: "s", strata: median(strata), baseline: median(floor),
        baselineName: "Strata's tables by plain SQL, 1 tx")
    // As the CLI records them: one change and one durable transaction per note.
    let n = min(size, 2000)
    var strata1: [Double] = []
    var plain1: [Double] = []
    for _ in 0..<repeats {
        let notes = makeNotes(n)
        plain1.append(try plainInsert(notes, path: freshPath("plain1.db"), transactionPerRow: true))
        let s = try Store.create(at: freshPath("write1.strata"), author: "Khaled")
        strata1.append(try seconds { for note in notes { try s.commit(edits(note)) } })
    }
    report(
        "write", "record notes, a transaction each", unit: "s", strata: median(strata1), baseline: median(plain1),
        baselineName: "plain SQLite, 1 tx per row", size: n)
}
