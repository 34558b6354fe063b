import Foundation
import Testing

/// The benchmark suite is built with everything else and run at a tiny size, so it cannot rot.
/// (Its figures mean nothing at this size and in a debug build: no timing is asserted.)
@Suite("benchmarks, tiny")
struct BenchSmokeTests {
    @Test func everyScenarioRunsAndReportsARatio() throws {
        let bench = URL(fileURLWithPath: strataBinary).deletingLastPathComponent().appendingPathComponent("strata-bench").path
        try #require(FileManager.default.isExecutableFile(atPath: bench), "no strata-bench next to \(strataBinary)")
        var scenarios = ["write", "merge", "merge-populated", "first-sync", "incremental-sync", "load", "attach", "server-storage"]
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") { scenarios.append("cli") }
        let r = try runProgram(bench, ["--size", "40", "--repeat", "1", "--clients", "3", "--seconds", "1", "--photos", "3", "--photo-bytes", "20000", "--json", "--strata", strataBinary] + scenarios)
        #expect(r.status == 0, "\(r.stderr)")
        let rows = r.lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(rows.count == r.lines.count, "every line is a JSON result")
        #expect(Set(rows.compactMap { $0["scenario"] as? String }) == Set(scenarios))
        for row in rows {
            let strata = try #require(row["strata"] as? Double)
            let baseline = try #require(row["baseline"] as? Double)
            #expect(strata >= 0 && baseline >= 0, "\(row)")
            if let met = row["met"] as? Bool, row["scenario"] as? String == "load" { #expect(met, "load: errors or lost changes: \(row)") }
        }
        let bad = try runProgram(bench, ["--size", "x"])
        #expect(bad.status == 2 && bad.stderr.contains("--size takes a number"))
        let unknown = try runProgram(bench, ["fly"])
        #expect(unknown.status == 2 && unknown.stderr.contains("scenarios: write"))
    }
}
