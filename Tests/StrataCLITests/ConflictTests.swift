import Foundation
import StrataStore
import Testing

/// Copies every change one replica lacks from another, as a sync would (in-process, so this
/// test does not depend on the bundle command).
func sync(from a: String, to b: String) throws {
    let src = try Store.open(at: a)
    let dst = try Store.open(at: b)
    try dst.apply(try src.changes(missingFrom: try dst.versionVector()))
}

/// True when `strata bundle create` exists (the lead's bundle command).
@Suite("conflicts, seen from the terminal")
struct ConflictTests {
    @Test func concurrentEditsAreShownAndResolvedOnBothReplicas() throws {
        let s = try Sandbox()
        let a = s.path("a.strata")
        let b = s.path("b.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.initStore(author: "Maria", store: b)
        let id = try s.ok("add", "artefact", "Lion of al-Lat", "--set", "state=in-situ", store: a)
        try sync(from: a, to: b)
        #expect(try s.ok("show", id, store: b).contains("Lion of al-Lat"))

        try s.ok("set", id, "state", "damaged", store: a)
        try s.ok("set", id, "state", "moved-for-safekeeping", store: b)
        try sync(from: a, to: b)
        try sync(from: b, to: a)

        for store in [a, b] {
            let list = try #require(try s.run("conflicts", "--json", store: store).json() as? [[String: Any]])
            #expect(list.count == 1)
            let conflicts = try #require(list.first?["conflicts"] as? [[String: Any]])
            #expect(conflicts.first?["field"] as? String == "state")
            let values = try #require(conflicts.first?["values"] as? [[String: Any]])
            #expect(Set(values.compactMap { $0["value"] as? String }) == ["damaged", "moved-for-safekeeping"])
            #expect(Set(values.compactMap { $0["author"] as? String }) == ["Khaled", "Maria"])
            #expect(values.filter { $0["winner"] as? Bool == true }.count == 1)
            let text = try s.ok("conflicts", store: store)
            #expect(text.contains("strata resolve \(id) state --keep N"))
            #expect(try s.ok("list", store: store).contains("!"))
        }
        // Both replicas show the same winner.
        func shown(_ store: String) throws -> String? {
            ((try s.run("show", id, "--json", store: store).json() as? [String: Any])?["fields"] as? [String: Any])?["state"] as? String
        }
        #expect(try shown(a) == shown(b))

        // Keep Maria's value, wherever it is in the list.
        let values = try #require(
            ((try s.run("conflicts", "--json", store: a).json() as? [[String: Any]])?.first?["conflicts"] as? [[String: Any]])?
                .first?["values"] as? [[String: Any]])
        let n = try #require(values.firstIndex { $0["author"] as? String == "Maria" }) + 1
        expectOneLineError(try s.run("resolve", id, "state", "--keep", "9", store: a), containing: "between 1 and 2")
        try s.ok("resolve", id, "state", "--keep", String(n), store: a)
        try sync(from: a, to: b)
        for store in [a, b] {
            #expect(try s.ok("conflicts", store: store) == "no conflicts")
            #expect(try shown(store) == "moved-for-safekeeping")
        }
        let history = try s.ok("history", id, "--field", "state", store: b)
        #expect(history.contains("(resolved 2 values)"))
    }

    @Test func deleteConcurrentWithAnEditIsSurfaced() throws {
        let s = try Sandbox()
        let a = s.path("a.strata")
        let b = s.path("b.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.initStore(author: "Maria", store: b)
        let id = try s.ok("add", "site", "Citadel", store: a)
        try sync(from: a, to: b)
        try s.ok("rm", id, store: a)
        try s.ok("set", id, "condition", "poor", store: b)
        try sync(from: a, to: b)
        try sync(from: b, to: a)
        let list = try #require(try s.run("conflicts", "--json", store: b).json() as? [[String: Any]])
        #expect(list.first?["delete_conflict"] is [String: Any])
        let show = try s.ok("show", id, store: b)
        #expect(show.contains("delete conflict") && show.contains("strata restore \(id)"))
        try s.ok("resolve", id, "deleted", "--keep", "2", store: b)
        try sync(from: b, to: a)
        for store in [a, b] {
            #expect(try s.ok("conflicts", store: store) == "no conflicts")
            #expect(try s.ok("list", store: store).contains(id))
        }
    }

    @Test
    func conflictsThroughBundles() throws {
        let s = try Sandbox()
        let a = s.path("a.strata")
        let b = s.path("b.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.initStore(author: "Maria", store: b)
        let id = try s.ok("add", "artefact", "Bust", "--set", "state=in-situ", store: a)
        let full = s.path("full.bundle")
        try s.ok("bundle", "create", full, store: a)
        try s.ok("bundle", "apply", full, store: b)
        try s.ok("set", id, "state", "looted", store: a)
        try s.ok("set", id, "state", "recovered", store: b)
        let ab = s.path("ab.bundle")
        let ba = s.path("ba.bundle")
        try s.ok("bundle", "create", ab, store: a)
        try s.ok("bundle", "create", ba, store: b)
        try s.ok("bundle", "apply", ab, store: b)
        try s.ok("bundle", "apply", ba, store: a)
        for store in [a, b] {
            let list = try #require(try s.run("conflicts", "--json", store: store).json() as? [[String: Any]])
            let values = (list.first?["conflicts"] as? [[String: Any]])?.first?["values"] as? [[String: Any]]
            #expect(Set(values?.compactMap { $0["value"] as? String } ?? []) == ["looted", "recovered"])
        }
        try s.ok("resolve", id, "state", "--value", "recovered", store: b)
        let back = s.path("back.bundle")
        try s.ok("bundle", "create", back, store: b)
        try s.ok("bundle", "apply", back, store: a)
        for store in [a, b] { #expect(try s.ok("conflicts", store: store) == "no conflicts") }
    }
}
