// strata-bench scenario `load` (main.swift runs the scenarios named on the command line).
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

/// Many researchers syncing at once: each client records a note and syncs, again and again,
/// for a bounded time; then everyone syncs once more and all replicas must be identical.
/// Baseline: the same cycle by one client alone.
func loadScenario() async throws {
    let clients = opts.clients
    try await withServer(notes: makeNotes(min(size, 1000))) { url, token, backend in
        func cycle(_ store: Store, _ k: Int) async throws -> Double {
            let note = makeNotes(1, start: size + k)[0]
            try store.commit(edits(note))
            return try await sync(store, url, token).seconds
        }
        let solo = try Store.create(at: freshPath("solo.strata"), author: "Solo")
        _ = try await sync(solo, url, token)
        var soloTimes: [Double] = []
        for k in 0..<20 { soloTimes.append(try await cycle(solo, 1_000_000 + k)) }
        let stores = try (0..<clients).map { try Store.create(at: freshPath("c\($0).strata"), author: "R\($0)") }
        for s in stores { _ = try await sync(s, url, token) }
        let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(opts.loadSeconds * 1e9)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let outcomes = try await withThrowingTaskGroup(of: ([Double], Int).self) { group in
            for (i, store) in stores.enumerated() {
                group.addTask {
                    var times: [Double] = []
                    var errors = 0
                    var k = 0
                    while DispatchTime.now().uptimeNanoseconds < deadline && k < 10_000 {
                        do { times.append(try await cycle(store, 2_000_000 + i * 10_000 + k)) } catch { errors += 1 }
                        k += 1
                    }
                    return (times, errors)
                }
            }
            var all: [([Double], Int)] = []
            for try await o in group { all.append(o) }
            return all
        }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let times = outcomes.flatMap(\.0).sorted()
        let errors = outcomes.map(\.1).reduce(0, +)
        // Quiescence: two rounds bring everything everywhere; then every replica is identical.
        for _ in 0..<2 { for s in stores { _ = try await sync(s, url, token) } }
        let server = try backend.store(for: "palmyra")!
        let reference = try server.allRecordStates()
        var identical = 0
        for s in stores where try s.allRecordStates() == reference { identical += 1 }
        let written = times.count + soloTimes.count + min(size, 1000)
        let onServer = reference.count
        func pct(_ xs: [Double], _ p: Double) -> Double { xs.isEmpty ? .nan : xs[min(xs.count - 1, Int(Double(xs.count) * p))] }
        let soloSorted = soloTimes.sorted()
        report(
            "load", "\(clients) clients: syncs per second", unit: "1/s", strata: Double(times.count) / elapsed,
            baseline: 1 / median(soloTimes), baselineName: "one client alone", size: clients)
        report(
            "load", "\(clients) clients: p50 sync latency", unit: "s", strata: pct(times, 0.5), baseline: pct(soloSorted, 0.5),
            baselineName: "one client alone, p50", size: clients)
        report(
            "load", "\(clients) clients: p99 sync latency", unit: "s", strata: pct(times, 0.99), baseline: pct(soloSorted, 0.99),
            baselineName: "one client alone, p99", size: clients)
        report(
            "load", "errors; replicas identical at the end", unit: "count", strata: Double(errors), baseline: Double(identical),
            baselineName: "replicas identical (of \(clients))", goal: "0 errors, all identical, none lost",
            met: errors == 0 && identical == clients && onServer == written, size: clients)
        if onServer != written { FileHandle.standardError.write(Data("load: \(written) notes written, \(onServer) on the server\n".utf8)) }
    }
}
