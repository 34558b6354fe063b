// strata-bench scenario `first-sync` (main.swift runs the scenarios named on the command line).
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

func firstSyncScenario() async throws {
    let notes = makeNotes(size)
    var plainTimes: [Double] = []
    for _ in 0..<repeats { plainTimes.append(try plainInsert(notes, path: freshPath("plainfs.db"))) }
    let plainRate = Double(size) / median(plainTimes)
    let zjson = zlibSize(jsonExport(notes))
    try await withServer(notes: notes) { url, token, _ in
        var rates: [Double] = []
        var bytes = 0
        for _ in 0..<repeats {
            let client = try Store.create(at: freshPath("first.strata"), author: "Maria")
            let r = try await sync(client, url, token)
            precondition(r.pulled == size, "first sync pulled \(r.pulled) of \(size)")
            rates.append(Double(size) / r.seconds)
            bytes = r.bytes
        }
        let rate = median(rates)
        report(
            "first-sync", "records per second", unit: "rec/s", strata: rate, baseline: plainRate,
            baselineName: "plain SQLite insert rate", goal: "ratio >= 0.333", met: rate >= plainRate / 3)
        report(
            "first-sync", "bytes on the wire", unit: "B", strata: Double(bytes), baseline: Double(zjson),
            baselineName: "zlib -6 of JSON lines", goal: "ratio <= 1.1", met: Double(bytes) <= 1.1 * Double(zjson))
    }
}
