// strata-bench scenario `incremental-sync` (main.swift runs the scenarios named on the command line).
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

func incrementalScenario() async throws {
    var costs: [(Int, Double, Double)] = []
    let sizes = Array(Set([0, size / 100, size / 10, size])).sorted()
    for n in sizes {
        let notes = makeNotes(n)
        try await withServer(notes: notes) { url, token, _ in
            let reader = try Store.create(at: freshPath("reader.strata"), author: "Maria")
            _ = try await sync(reader, url, token)
            let writer = try Store.create(at: freshPath("writer.strata"), author: "Khaled")
            let push = HTTPTransport(baseURL: url, project: "palmyra", token: token)
            var times: [Double] = []
            var bytes: [Double] = []
            for k in 0..<max(repeats, 5) {
                let note = makeNotes(1, start: size + k)[0]
                let change = try writer.commit(edits(note))!
                _ = try await push.push([change])
                let r = try await sync(reader, url, token)
                precondition(r.pulled == 1, "incremental sync pulled \(r.pulled)")
                times.append(r.seconds)
                bytes.append(Double(r.bytes))
            }
            await push.close()
            costs.append((n, median(times), median(bytes)))
        }
    }
    let base = costs[0]
    for (n, t, b) in costs {
        let last = n == sizes.last!
        report(
            "incremental-sync", "one new note, replica of \(n)", unit: "s", strata: t, baseline: base.1,
            baselineName: "the same into a replica of 0", goal: last ? "ratio <= 1.5" : "", met: last ? t <= 1.5 * base.1 : nil,
            size: n)
        if last {
            report(
                "incremental-sync", "bytes on the wire per new note", unit: "B", strata: b, baseline: Double(zlibSize(jsonExport(makeNotes(1))) ),
                baselineName: "zlib -6 of the note's JSON", size: n)
        }
    }
}
