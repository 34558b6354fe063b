/// A text document as plain values, and back: what `StrataCodec`'s `STXT` layout
/// (Protocol/SPEC.md §4.3) holds, without any bytes. `snapshot()` gives the canonical form
/// (equal documents give equal snapshots); `init(validating:)` checks every structural
/// invariant of a snapshot before building the document from it.
extension TextDocument {
    /// A document's full history as plain values, in canonical form: replicas ascending,
    /// runs in document order and maximally merged, each replica's delete log in counter order.
    public struct Snapshot: Hashable, Sendable {
        /// A character named by its replica's index in `replicas` and its counter.
        public struct Origin: Hashable, Sendable {
            public var replica: Int
            public var counter: UInt32

            public init(replica: Int, counter: UInt32) {
                self.replica = replica
                self.counter = counter
            }
        }

        /// Characters `counter ..< counter + length` of `replicas[replica]`, in document order;
        /// character k > 0 has origin-left character k − 1, all have `right` and `deleted`.
        public struct Run: Hashable, Sendable {
            public var replica: Int
            public var counter: UInt32
            public var length: UInt32
            /// Nil: the start of the text.
            public var left: Origin?
            /// Nil: the end of the text.
            public var right: Origin?
            public var deleted: Bool

            public init(replica: Int, counter: UInt32, length: UInt32, left: Origin?, right: Origin?, deleted: Bool) {
                self.replica = replica
                self.counter = counter
                self.length = length
                self.left = left
                self.right = right
                self.deleted = deleted
            }
        }

        /// A delete entry: it hides characters `start ..< start + length` of `replicas[target]`.
        /// Its own counters are implicit: a replica's counters that no run holds, taken in order
        /// by its entries.
        public struct Delete: Hashable, Sendable {
            public var target: Int
            public var start: UInt32
            public var length: UInt32

            public init(target: Int, start: UInt32, length: UInt32) {
                self.target = target
                self.start = start
                self.length = length
            }
        }

        /// The replicas with counters, strictly ascending.
        public var replicas: [ReplicaID]
        /// Per replica: counters applied (its version), 1 ... 2^31 − 2.
        public var versions: [UInt32]
        /// Every run, tombstones included, in document order.
        public var runs: [Run]
        /// Every run's characters (deleted ones too), in document order.
        public var text: String
        /// Per replica: its delete entries, in the order of their own counters.
        public var deletes: [[Delete]]
        /// Operations received whose dependencies are missing.
        public var pending: [TextOperation]

        public init(
            replicas: [ReplicaID], versions: [UInt32], runs: [Run], text: String, deletes: [[Delete]],
            pending: [TextOperation]
        ) {
            self.replicas = replicas
            self.versions = versions
            self.runs = runs
            self.text = text
            self.deletes = deletes
            self.pending = pending
        }
    }

    /// Runs in document order, maximally merged.
    func canonicalRuns() -> [Run] {
        var out: [Run] = []
        out.reserveCapacity(chunks.reduce(0) { $0 + $1.runs.count })
        for chunk in chunks {
            for run in chunk.runs {
                if let last = out.last, last.continues(into: run) {
                    out[out.count - 1].length += run.length
                } else {
                    out.append(run)
                }
            }
        }
        return out
    }

    /// Replica `r`'s delete log with consecutive entries merged (the canonical log).
    func canonicalDeletes(_ r: Int) -> [DeleteEntry] {
        var merged: [DeleteEntry] = []
        for d in deletes[r] {
            if let l = merged.last, l.counter + l.length == d.counter, l.replica == d.replica, l.start + l.length == d.start {
                merged[merged.count - 1].length += d.length
            } else {
                merged.append(d)
            }
        }
        return merged
    }

    /// The document as plain values, in canonical form (equal documents, equal snapshots).
    public func snapshot() -> Snapshot {
        // Canonical replica order: ascending ids, only replicas with counters.
        let used = replicas.indices.filter { next[$0] > 0 }.sorted { replicas[$0] < replicas[$1] }
        var map = [Int](repeating: -1, count: replicas.count)
        for (k, r) in used.enumerated() { map[r] = k }
        func origin(_ o: OriginID) -> Snapshot.Origin? {
            o.isNone ? nil : Snapshot.Origin(replica: map[Int(o.replica)], counter: o.counter)
        }
        let runs = canonicalRuns()
        var out: [Snapshot.Run] = []
        out.reserveCapacity(runs.count)
        var content: [UInt8] = []
        for run in runs {
            let r = Int(run.replica)
            out.append(
                Snapshot.Run(
                    replica: map[r], counter: run.counter, length: run.length, left: origin(run.left), right: origin(run.right),
                    deleted: run.deleted))
            let s = Int(run.counter)
            UTF8Sink.append(arena[r][s..<s + Int(run.length)], to: &content)
        }
        let logs = used.map { r in
            canonicalDeletes(r).map { Snapshot.Delete(target: map[Int($0.replica)], start: $0.start, length: $0.length) }
        }
        return Snapshot(
            replicas: used.map { replicas[$0] }, versions: used.map { next[$0] }, runs: out,
            text: String(decoding: content, as: UTF8.self), deletes: logs, pending: pendingOperations)
    }

    /// Builds the document a snapshot describes, checking every structural invariant first:
    /// replicas ascending, versions in range and within `limits`, runs within their versions and
    /// not overlapping, origins naming characters, the text as long as the runs, delete entries
    /// filling exactly the counters no run holds and naming characters, deleted flags agreeing
    /// with the deletes, buffered operations that `apply` accepts. Its memory follows the
    /// snapshot's runs, characters and entries, never the counters its versions claim.
    public init(validating snapshot: Snapshot, limits: TextLimits = .decoding) throws(TextSnapshotError) {
        var reserved = 0
        try self.init(validating: snapshot, limits: limits, reserved: &reserved)
    }

    /// `init(validating:limits:)`, adding to `reserved` the elements of storage it reserves
    /// (rather than grows as it reads), for the memory tests of issue 6.
    @_spi(Stats)
    public init(validating s: Snapshot, limits: TextLimits, reserved stats: inout Int) throws(TextSnapshotError) {
        self.init()
        let rCount = s.replicas.count
        guard rCount <= limits.maxReplicas else { throw TextSnapshotError(.tooManyReplicas(limit: limits.maxReplicas)) }
        guard s.versions.count == rCount else { throw TextSnapshotError(.versionCount) }
        guard s.deletes.count == rCount else { throw TextSnapshotError(.deleteLogCount) }
        for k in s.replicas.indices.dropFirst() where !(s.replicas[k - 1] < s.replicas[k]) {
            throw TextSnapshotError(.replicasNotAscending(index: k))
        }
        var total = 0
        for (r, n) in s.versions.enumerated() {
            guard n > 0 && n < UInt32.max / 2 else { throw TextSnapshotError(.versionOutOfRange(replica: r)) }
            total += Int(n)
            guard total <= limits.maxCounters else { throw TextSnapshotError(.tooManyCounters(limit: limits.maxCounters)) }
        }
        let nexts = s.versions
        for id in s.replicas { _ = intern(id) }
        next = nexts

        // Runs, in document order.
        func origin(_ o: Snapshot.Origin?, run k: Int) throws(TextSnapshotError) -> OriginID {
            guard let o else { return .none }
            guard o.replica >= 0 && o.replica < rCount && o.counter < nexts[o.replica] else {
                throw TextSnapshotError(.originOutOfRange(run: k))
            }
            return OriginID(UInt32(o.replica), o.counter)
        }
        var runs: [Run] = []
        runs.reserveCapacity(s.runs.count)
        stats += s.runs.count
        for (k, run) in s.runs.enumerated() {
            guard run.replica >= 0 && run.replica < rCount else { throw TextSnapshotError(.runReplicaOutOfRange(run: k)) }
            guard run.length > 0, UInt64(run.counter) + UInt64(run.length) <= UInt64(nexts[run.replica]) else {
                throw TextSnapshotError(.runOutOfRange(run: k))
            }
            runs.append(
                Run(
                    replica: UInt32(run.replica), counter: run.counter, length: run.length, left: try origin(run.left, run: k),
                    right: try origin(run.right, run: k), deleted: run.deleted))
        }

        // The characters: runs sorted by (replica, counter), replica r's at byReplica[first[r]..<first[r + 1]].
        // Sorted on one packed key (replica, counter), and the counters and lengths kept in
        // that order, so the searches below read contiguous memory.
        var order = runs.indices.map { (UInt64(runs[$0].replica) << 32 | UInt64(runs[$0].counter), $0) }
        order.sort { $0.0 < $1.0 }
        let byReplica = order.map(\.1)
        let sortedCounter = order.map { UInt32(truncatingIfNeeded: $0.0) }
        let sortedLength = byReplica.map { runs[$0].length }
        order = []
        var firstOf = [Int](repeating: runs.count, count: rCount + 1)
        stats += rCount + 1
        for j in byReplica.indices.reversed() { firstOf[Int(runs[byReplica[j]].replica)] = j }
        for r in stride(from: rCount - 1, through: 0, by: -1) where firstOf[r] > firstOf[r + 1] { firstOf[r] = firstOf[r + 1] }
        let first = firstOf  // a constant from here on (no exclusivity checks in the searches)
        // Runs must not overlap; stretchEnd[j]: where the stretch of consecutive characters
        // holding byReplica[j] ends.
        var stretchEnd = [UInt32](repeating: 0, count: runs.count)
        for r in 0..<rCount where first[r] < first[r + 1] {
            for j in first[r] + 1..<first[r + 1] {
                let p = runs[byReplica[j - 1]]
                let run = runs[byReplica[j]]
                guard run.counter >= p.counter + p.length else {
                    throw TextSnapshotError(.characterTwice(run: byReplica[j], replica: r, counter: run.counter))
                }
            }
            var end: UInt32 = 0
            for j in stride(from: first[r + 1] - 1, through: first[r], by: -1) {
                let run = runs[byReplica[j]]
                if j == first[r + 1] - 1 || run.counter + run.length != runs[byReplica[j + 1]].counter { end = run.counter + run.length }
                stretchEnd[j] = end
            }
        }
        /// The position in `byReplica` of the run holding character (r, c), or nil for a delete's
        /// counter. `hint`, the position the previous call found, is tried first with its two
        /// neighbours: a replica's deletes in counter order mostly name neighbouring characters
        /// (backspacing), so most calls skip the binary search.
        func characterRun(_ r: Int, _ c: UInt32, hint: inout Int) -> Int? {
            let lower = first[r]
            let upper = first[r + 1]
            let found: Int? = sortedCounter.withUnsafeBufferPointer { counters in
                sortedLength.withUnsafeBufferPointer { lengths in
                    for j in hint - 1...hint + 1 where j >= lower && j < upper {
                        if counters[j] <= c && c - counters[j] < lengths[j] { return j }
                    }
                    var lo = lower
                    var hi = upper
                    while lo < hi {  // first run starting after c
                        let mid = (lo + hi) / 2
                        if counters[mid] <= c { lo = mid + 1 } else { hi = mid }
                    }
                    guard lo > lower else { return nil }
                    return c - counters[lo - 1] < lengths[lo - 1] ? lo - 1 : nil
                }
            }
            if let found { hint = found }
            return found
        }
        // Origins must name characters: sorted, they are checked in one sweep along the sorted
        // runs. An origin that is the last character of the run before (or the first of the run
        // after) names a character by construction and is not collected.
        var origins: [UInt64] = []
        origins.reserveCapacity(2 * runs.count)
        for (k, run) in runs.enumerated() {
            let lastBefore = k > 0 ? OriginID(runs[k - 1].replica, runs[k - 1].counter + runs[k - 1].length - 1) : .none
            let firstAfter = k + 1 < runs.count ? OriginID(runs[k + 1].replica, runs[k + 1].counter) : .none
            if !run.left.isNone && run.left != lastBefore {
                origins.append(UInt64(run.left.replica) << 32 | UInt64(run.left.counter))
            }
            if !run.right.isNone && run.right != firstAfter {
                origins.append(UInt64(run.right.replica) << 32 | UInt64(run.right.counter))
            }
        }
        origins.sort()
        var at = 0  // index into the runs sorted by (replica, counter)
        for key in origins {
            let r = Int(key >> 32)
            let c = UInt32(truncatingIfNeeded: key)
            if at < first[r] { at = first[r] }
            while at < first[r + 1] && sortedCounter[at] + sortedLength[at] <= c { at += 1 }
            guard at < first[r + 1] && sortedCounter[at] <= c else {
                throw TextSnapshotError(.originNotCharacter(replica: r, counter: c))
            }
        }
        origins = []
        // Content. Laid out by (replica, counter), every replica's characters are one stretch of
        // `characters`: the run at sorted position j holds characters[charStart[j] ..< charStart[j + 1]].
        // The text is read once, in document order, each run's characters written to their place.
        var charStart = [Int](repeating: 0, count: runs.count + 1)
        stats += runs.count + 1
        for j in byReplica.indices { charStart[j + 1] = charStart[j] + Int(sortedLength[j]) }
        let characterCount = charStart[runs.count]
        // Each character takes at least one byte of the text: more characters than bytes is a
        // text shorter than the runs, found before anything is sized by the runs' lengths.
        guard characterCount <= s.text.utf8.count else { throw TextSnapshotError(.textShorterThanRuns) }
        var sortedPosition = [Int](repeating: 0, count: runs.count)
        stats += runs.count
        for (j, k) in byReplica.enumerated() { sortedPosition[k] = j }
        var characters = [Unicode.Scalar](repeating: Unicode.Scalar(0), count: characterCount)
        stats += characterCount
        var shorter = false
        var longer = false
        characters.withUnsafeMutableBufferPointer { out in
            var it = s.text.unicodeScalars.makeIterator()
            for k in runs.indices {
                var p = charStart[sortedPosition[k]]
                for _ in 0..<runs[k].length {
                    guard let c = it.next() else {
                        shorter = true
                        return
                    }
                    out[p] = c
                    p += 1
                }
            }
            longer = it.next() != nil
        }
        if shorter { throw TextSnapshotError(.textShorterThanRuns) }
        if longer { throw TextSnapshotError(.textLongerThanRuns) }
        sortedPosition = []
        var arenas: [TextArena] = []
        arenas.reserveCapacity(rCount)
        stats += rCount
        for r in 0..<rCount {
            arenas.append(
                TextArena(
                    scalars: characters[charStart[first[r]]..<charStart[first[r + 1]]],
                    runs: (first[r]..<first[r + 1]).lazy.map { (sortedCounter[$0], sortedLength[$0]) }))
        }
        characters = []
        arena = arenas

        // Deletes. A replica's counters that no run holds are its deletes' counters: its entries
        // fill them in ascending order, each within one stretch of them. Each entry also marks
        // the characters it names, as +1 at the first and -1 after the last in `named` (indexed
        // like `characters`: a stretch of consecutive counters is consecutive there).
        var named = [Int32](repeating: 0, count: characterCount + 1)
        stats += characterCount + 1
        var hint = 0
        for r in 0..<rCount {
            var j = first[r]  // the next run of r, by counter
            var gap: UInt32 = 0  // the next counter of r to fill
            func skipCharacters() {
                while j < first[r + 1] && sortedCounter[j] == gap {
                    gap += sortedLength[j]
                    j += 1
                }
            }
            var log: [DeleteEntry] = []
            log.reserveCapacity(s.deletes[r].count)
            stats += s.deletes[r].count
            for (i, d) in s.deletes[r].enumerated() {
                let tr = d.target
                guard tr >= 0 && tr < rCount, d.length > 0, UInt64(d.start) + UInt64(d.length) <= UInt64(nexts[tr]) else {
                    throw TextSnapshotError(.deleteOutOfRange(replica: r, entry: i))
                }
                let len = d.length
                skipCharacters()
                guard UInt64(gap) + UInt64(len) <= UInt64(nexts[r]) else {
                    throw TextSnapshotError(.moreDeletesThanCounters(replica: r, entry: i))
                }
                let gapEnd = j < first[r + 1] ? sortedCounter[j] : nexts[r]
                guard gap + len <= gapEnd else { throw TextSnapshotError(.deleteOverlapsCharacters(replica: r, entry: i)) }
                guard let t = characterRun(tr, d.start, hint: &hint), UInt64(stretchEnd[t]) >= UInt64(d.start) + UInt64(len) else {
                    throw TextSnapshotError(.deleteNamesDeleteCounter(replica: r, entry: i))
                }
                let p = charStart[t] + Int(d.start - sortedCounter[t])
                named[p] += 1
                named[p + Int(len)] -= 1
                log.append(DeleteEntry(counter: gap, replica: UInt32(tr), start: d.start, length: len))
                gap += len
            }
            skipCharacters()
            guard gap == nexts[r] else { throw TextSnapshotError(.countersUncovered(replica: r)) }
            deletes[r] = log
        }
        // A character is flagged deleted exactly when a delete names it: one sweep of the
        // characters by (replica, counter), counting the entries that name each.
        let disagreement: (replica: Int, counter: UInt32)? = named.withUnsafeBufferPointer { named in
            var covering: Int32 = 0
            for r in 0..<rCount {
                for j in first[r]..<first[r + 1] {
                    let deleted = runs[byReplica[j]].deleted
                    for p in charStart[j]..<charStart[j + 1] {
                        covering += named[p]
                        if (covering > 0) != deleted { return (r, sortedCounter[j] + UInt32(p - charStart[j])) }
                    }
                }
            }
            return nil
        }
        if let (r, c) = disagreement { throw TextSnapshotError(.deletedFlagDisagrees(replica: r, counter: c)) }
        named = []
        // Chunks.
        chunks = []
        chunkPosition = []
        let per = TextDocument.maxRunsPerChunk * 3 / 4
        var k = 0
        repeat {
            let slice = Array(runs[k..<min(k + per, runs.count)])
            let vis = slice.reduce(0) { $0 + $1.visibleLength }
            chunks.append(Chunk(runs: slice, visible: vis, id: chunks.count))
            chunkPosition.append(chunks.count - 1)
            count += vis
            k += per
        } while k < runs.count
        indexValid = false
        idIndex = [[IndexEntry]](repeating: [], count: replicas.count)
        // Buffered operations.
        for (i, op) in s.pending.enumerated() {
            do { try apply(op) } catch { throw TextSnapshotError(.pendingRefused(index: i, error)) }
        }
    }
}

extension TextDocument: Equatable {
    /// Same structure: the same characters (ids, origins, content, deleted flags) in the same
    /// order, the same delete log, version and buffered operations. Compares the documents
    /// themselves, run by run (nothing is encoded).
    public static func == (a: TextDocument, b: TextDocument) -> Bool {
        guard a.count == b.count, a.version == b.version, a.pendingSet == b.pendingSet else { return false }
        let ra = a.canonicalRuns()
        let rb = b.canonicalRuns()
        guard ra.count == rb.count else { return false }
        for (x, y) in zip(ra, rb) {
            guard x.counter == y.counter, x.length == y.length, x.deleted == y.deleted,
                a.replicas[Int(x.replica)] == b.replicas[Int(y.replica)], a.publicID(x.left) == b.publicID(y.left),
                a.publicID(x.right) == b.publicID(y.right)
            else { return false }
            let s = Int(x.counter)
            let range = s..<s + Int(x.length)
            guard a.arena[Int(x.replica)][range].elementsEqual(b.arena[Int(y.replica)][range]) else { return false }
        }
        // The same version means the same replicas with counters; compare their delete logs.
        for (r, id) in a.replicas.enumerated() where a.next[r] > 0 {
            guard let rb = b.replicaIndex[id] else { return false }
            let la = a.canonicalDeletes(r)
            let lb = b.canonicalDeletes(Int(rb))
            guard la.count == lb.count else { return false }
            for (d, e) in zip(la, lb) {
                guard d.counter == e.counter, d.start == e.start, d.length == e.length,
                    a.replicas[Int(d.replica)] == b.replicas[Int(e.replica)]
                else { return false }
            }
        }
        return true
    }
}

extension TextOperation {
    /// Checks the operation's structure (Protocol/SPEC.md §2.3): non-empty text or ranges,
    /// counters below 2^31 − 1, origins and deleted characters of its own replica earlier
    /// than itself. `TextDocument.apply` checks the same.
    public func validate() throws(TextError) { try TextDocument.validate(self) }
}

/// Why a `TextDocument.Snapshot` does not describe a document (`TextDocument(validating:)`).
/// Messages name positions (run k, replica index, counters), never the text.
public struct TextSnapshotError: Error, Hashable, Sendable, CustomStringConvertible {
    enum Kind: Hashable, Sendable {
        case tooManyReplicas(limit: Int)
        case tooManyCounters(limit: Int)
        case versionCount
        case deleteLogCount
        case replicasNotAscending(index: Int)
        case versionOutOfRange(replica: Int)
        case runReplicaOutOfRange(run: Int)
        case runOutOfRange(run: Int)
        case originOutOfRange(run: Int)
        case characterTwice(run: Int, replica: Int, counter: UInt32)
        case originNotCharacter(replica: Int, counter: UInt32)
        case textShorterThanRuns
        case textLongerThanRuns
        case deleteOutOfRange(replica: Int, entry: Int)
        case moreDeletesThanCounters(replica: Int, entry: Int)
        case deleteOverlapsCharacters(replica: Int, entry: Int)
        case deleteNamesDeleteCounter(replica: Int, entry: Int)
        case countersUncovered(replica: Int)
        case deletedFlagDisagrees(replica: Int, counter: UInt32)
        case pendingRefused(index: Int, TextError)
    }

    let kind: Kind

    init(_ kind: Kind) { self.kind = kind }

    /// Which part of the snapshot is wrong, for a decoder to say where in its bytes.
    public enum Part: Hashable, Sendable {
        case replicas, versions, runs, text, deletes, pending
    }

    /// The part of the snapshot the error is in.
    public var part: Part {
        switch kind {
        case .tooManyReplicas, .replicasNotAscending: .replicas
        case .tooManyCounters, .versionCount, .versionOutOfRange: .versions
        case .runReplicaOutOfRange, .runOutOfRange, .originOutOfRange, .characterTwice, .originNotCharacter: .runs
        case .textShorterThanRuns, .textLongerThanRuns: .text
        case .deleteLogCount, .deleteOutOfRange, .moreDeletesThanCounters, .deleteOverlapsCharacters, .deleteNamesDeleteCounter,
            .countersUncovered, .deletedFlagDisagrees:
            .deletes
        case .pendingRefused: .pending
        }
    }

    /// The run (index in `Snapshot.runs`) the error is about, when it is about one.
    public var run: Int? {
        switch kind {
        case .runReplicaOutOfRange(let k), .runOutOfRange(let k), .originOutOfRange(let k), .characterTwice(let k, _, _): k
        default: nil
        }
    }

    /// True when the snapshot is within its structure but past a `TextLimits` cap.
    public var isLimit: Bool {
        switch kind {
        case .tooManyReplicas, .tooManyCounters: true
        default: false
        }
    }

    public var description: String {
        switch kind {
        case .tooManyReplicas(let limit): "more than \(limit) replicas"
        case .tooManyCounters(let limit): "more than \(limit) counters"
        case .versionCount: "not one version per replica"
        case .deleteLogCount: "not one delete log per replica"
        case .replicasNotAscending(let k): "replica ids not strictly ascending (replica \(k))"
        case .versionOutOfRange(let r): "the version of replica \(r) is out of range"
        case .runReplicaOutOfRange(let k): "run \(k) names a replica out of range"
        case .runOutOfRange(let k): "run \(k) counters out of range"
        case .originOutOfRange(let k): "an origin of run \(k) is beyond its replica's version"
        case .characterTwice(_, let r, let c): "character \(r)@\(c) appears twice"
        case .originNotCharacter(let r, let c): "an origin (\(r)@\(c)) names a delete's counter"
        case .textShorterThanRuns: "content shorter than the runs"
        case .textLongerThanRuns: "content longer than the runs"
        case .deleteOutOfRange(let r, let i): "delete target out of range (replica \(r), entry \(i))"
        case .moreDeletesThanCounters(let r, let i): "more deletes than counters (replica \(r), entry \(i))"
        case .deleteOverlapsCharacters(let r, let i): "a delete entry overlaps characters (replica \(r), entry \(i))"
        case .deleteNamesDeleteCounter(let r, let i): "a delete names a delete's counter (replica \(r), entry \(i))"
        case .countersUncovered(let r): "counters of replica \(r) neither characters nor deletes"
        case .deletedFlagDisagrees(let r, let c): "deleted flag of \(r)@\(c) disagrees with the deletes"
        case .pendingRefused(let i, let e): "pending operation \(i): \(e)"
        }
    }
}
