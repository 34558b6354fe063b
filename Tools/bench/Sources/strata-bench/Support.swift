// strata-bench: results, medians and timing, scratch paths.
import CStrataZlib
import Foundation
import GRDB
import Logging
import StrataCodec
import StrataCore
import StrataServer
import StrataStore
import StrataSync

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("strata-bench: \(message)\n".utf8))
    exit(2)
}

// MARK: results

struct Result: Codable {
    var scenario: String
    var metric: String
    var unit: String
    var strata: Double
    var baseline: Double
    var baselineName: String
    /// strata / baseline.
    var ratio: Double
    var goal: String
    var met: Bool?
    var size: Int
}

func report(
    _ scenario: String, _ metric: String, unit: String, strata: Double, baseline: Double, baselineName: String,
    goal: String = "", met: Bool? = nil, size n: Int = size
) {
    let r = Result(
        scenario: scenario, metric: metric, unit: unit, strata: strata, baseline: baseline, baselineName: baselineName,
        ratio: baseline == 0 ? .nan : strata / baseline, goal: goal, met: met, size: n)
    if opts.json {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        print(String(decoding: try! e.encode(r), as: UTF8.self))
    } else {
        let verdict = met.map { $0 ? "met" : "NOT met" } ?? ""
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        print(
            pad(scenario, 17) + pad(metric, 46) + String(format: "%12.4g ", strata) + pad(unit, 6)
                + pad(baselineName, 38) + String(format: "%12.4g  ratio %8.3f  ", baseline, r.ratio) + goal + " " + verdict)
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}


func freshPath(_ name: String) -> String { "\(work)/\(UUID().uuidString.prefix(8))-\(name)" }
