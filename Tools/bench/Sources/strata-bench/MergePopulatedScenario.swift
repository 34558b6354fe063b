// strata-bench scenario `merge-populated` (main.swift runs the scenarios named on the command
// line): issue 14's goal 2, a merge into a replica that already holds the records.
import Foundation
import StrataCore
import StrataStore

func mergePopulatedScenario() throws {
    // Khaled records `size` notes and Omar's replica receives them all (untimed: a backup of it
    // is restored fresh for every run). Then, offline, Khaled retitles 10% of the notes and
    // Maria retitles the same notes and adds a sentence to their bodies (concurrent conflicts
    // on the titles, a text merge into each stored body). Omar receives both sets of changes:
    // that apply is what is timed.
    let notes = makeNotes(size)
    let khaled = try storeWith(notes, path: freshPath("khaled.strata"))
    let created = try khaled.changes(missingFrom: VersionVector())
    let maria = try Store.create(at: freshPath("maria.strata"), author: "Maria")
    let omar = try Store.create(at: freshPath("omar.strata"), author: "Omar")
    try apply(created, to: maria, inChunksOf: 5000)
    try apply(created, to: omar, inChunksOf: 5000)
    let template = freshPath("omar-template.strata")
    try omar.backup(to: template)
    let conflicted = notes.enumerated().filter { $0.offset % 10 == 0 }.map(\.element)
    try khaled.commit(each: conflicted.map { [.set($0.id, field: "title", .text($0.title + " (checked)"))] })
    try maria.commit(
        each: conflicted.map {
            [
                .set($0.id, field: "title", .text($0.title + " (revised)")),
                .set($0.id, field: "body", .text($0.body + " Seen again from the east entrance.")),
            ]
        })
    let base = try omar.versionVector()
    let remote = try khaled.changes(missingFrom: base) + maria.changes(missingFrom: base)
    var times: [Double] = []
    var plain: [Double] = []
    for _ in 0..<repeats {
        plain.append(try plainInsert(makeNotes(remote.count), path: freshPath("plainmergepop.db")))
        let path = freshPath("omar-run.strata")
        try Store.restore(from: template, to: path)
        let replica = try Store.open(at: path)
        times.append(try seconds { try apply(remote, to: replica, inChunksOf: 2000) })
        let found = try replica.conflicts().count
        precondition(found == conflicted.count, "merge-populated: expected \(conflicted.count) conflicts, found \(found)")
        let sample = try replica.record(conflicted[0].id)
        precondition(
            sample?.text("body")?.hasSuffix("Seen again from the east entrance.") == true,
            "merge-populated: the body edit did not arrive")
    }
    report(
        "merge-populated", "apply \(remote.count) remote changes to \(conflicted.count) of \(size) stored records, all conflicting",
        unit: "s", strata: median(times), baseline: median(plain), baselineName: "plain SQLite insert of as many rows",
        goal: "<= 4x (0.25 of the insert rate)", met: median(times) <= 4 * median(plain), size: remote.count)
}
