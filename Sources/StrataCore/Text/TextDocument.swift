/// The text CRDT: one replica of one text (a note body, a description).
///
/// ## Algorithm: FugueMax, list form
/// The order of characters is FugueMax (Weidner & Kleppmann, "The Art of the Fugue", 2023; the
/// algorithm Loro uses), implemented on a flat list with two origins per character, the form
/// Joseph Gentle calls "YjsMod" and showed equivalent to FugueMax. Why Fugue over YATA or RGA:
/// two runs typed concurrently at the same place never interleave (forward *and* backward
/// typing), which RGA does not guarantee for backward typing and YATA does not for some
/// origin-right patterns; and the two-origin list form keeps integration local (a remote insert
/// only scans the characters inserted concurrently between its origins).
///
/// ## Data structure
/// Characters live in **runs**: a run is a block of characters of one replica with consecutive
/// counters, each one inserted immediately right of the previous one with the same
/// origin-right, and the same deleted flag (typing extends the last run in O(1)). Runs are split
/// on demand (an insert or delete in the middle) and re-merged when a delete makes neighbours
/// compatible again. Runs sit in **chunks** of at most `maxRunsPerChunk`, each caching its
/// visible length; a cursor remembers the last chunk used and its position, so editing near the
/// last edit (what editors do) costs O(1) chunks plus one chunk's runs. Content is stored once
/// per replica, indexed by counter, so a run holds no text. An id index (per replica, counter
/// ranges → the chunk they were created in; runs only ever move to chunks created *after* their
/// chunk) finds a character by id for remote operations; it is built lazily.
///
/// ## Delivery
/// `apply` accepts operations in any order, with duplicates and overlaps: an operation whose
/// dependencies (its replica's earlier counters, its origins, the characters it deletes) have
/// not all arrived is buffered and applied when they do. The document is therefore a function of
/// the *set* of operations received, and `==` (same visible text and same canonical structure)
/// holds between replicas that received the same set.
public struct TextDocument: Sendable {
    // MARK: Storage

    /// Replica table (internal indices; order of first sight, not canonical).
    var replicas: [ReplicaID] = []
    var replicaIndex: [ReplicaID: UInt32] = [:]
    /// Per replica index: counters applied (the version).
    var next: [UInt32] = []
    /// Per replica index: its characters by counter (delete counters take no storage).
    var arena: [TextArena] = []
    /// Per replica index: delete log, sorted by counter (one entry per target range).
    var deletes: [[DeleteEntry]] = []
    /// The runs, in document order.
    var chunks: [Chunk] = [Chunk(runs: [], visible: 0, id: 0)]
    /// Chunk id → index in `chunks`.
    var chunkPosition: [Int] = [0]
    /// Per replica index: counter ranges → chunk id (see type doc). Valid when `indexValid`.
    var idIndex: [[IndexEntry]] = []
    var indexValid = true
    /// Visible scalars.
    public internal(set) var count = 0
    /// Cursor cache: a chunk index and the visible position of its start.
    var cursorChunk = 0
    var cursorStart = 0
    /// Operations waiting for dependencies, and by the replica whose counters they wait for.
    var pendingSet: Set<TextOperation> = []
    /// Per replica, sorted by the version it must reach: (needed `next`, operation).
    var waiting: [UInt32: [(need: UInt32, op: TextOperation)]] = [:]

    static let maxRunsPerChunk = 64
    static let none = UInt32.max

    public init() {}

    // MARK: Public reading

    /// The visible text.
    public var string: String {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for chunk in chunks {
            for run in chunk.runs where !run.deleted {
                let start = Int(run.counter)
                UTF8Sink.append(arena[Int(run.replica)][start..<start + Int(run.length)], to: &out)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The visible scalars, in order (what `string` holds, without building a String).
    func visibleScalars() -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(count)
        for chunk in chunks {
            for run in chunk.runs where !run.deleted {
                let start = Int(run.counter)
                out.append(contentsOf: arena[Int(run.replica)][start..<start + Int(run.length)])
            }
        }
        return out
    }

    /// The operations applied so far, per replica.
    public var version: TextVersion {
        var v = TextVersion()
        for (i, r) in replicas.enumerated() where next[i] > 0 { v[r] = UInt64(next[i]) }
        return v
    }

    /// True when nothing has been applied or buffered.
    var isPristine: Bool { pendingSet.isEmpty && next.allSatisfy { $0 == 0 } }

    /// Operations received whose dependencies are still missing.
    public var pendingOperations: [TextOperation] { pendingSet.sorted(by: TextDocument.operationOrder) }

    /// The id of the visible character at `position`, for cursors that survive merges.
    public func id(at position: Int) -> TextID? {
        guard position >= 0 && position < count else { return nil }
        var p = position
        for chunk in chunks {
            if p >= chunk.visible { p -= chunk.visible; continue }
            for run in chunk.runs where !run.deleted {
                if p < Int(run.length) { return TextID(replica: replicas[Int(run.replica)], counter: UInt64(run.counter) + UInt64(p)) }
                p -= Int(run.length)
            }
        }
        return nil
    }

    // MARK: Local edits

    /// Inserts `text` before the visible scalar at `position` (0...count) as `replica`, and
    /// returns the operation to send (nil when `text` is empty).
    @discardableResult
    public mutating func insert(_ text: String, at position: Int, replica: ReplicaID) -> TextOperation? {
        precondition(position >= 0 && position <= count, "text position \(position) out of 0...\(count)")
        let scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { return nil }
        let r = intern(replica)
        let n = UInt32(scalars.count)
        let ctr = next[Int(r)]
        precondition(UInt64(ctr) + UInt64(n) < UInt64(UInt32.max), "text counter overflow")

        var left = OriginID.none
        var right = OriginID.none
        var c: Int
        var i: Int
        var extended = false
        if position == 0 {
            c = 0
            i = 0
            if let (fc, fi) = firstRun(fromChunk: 0, index: 0) {
                let first = chunks[fc].runs[fi]
                right = OriginID(first.replica, first.counter)
            }
        } else {
            let (lc, li, o) = locateVisible(position - 1)
            c = lc
            let run = chunks[lc].runs[li]
            left = OriginID(run.replica, run.counter + UInt32(o))
            if UInt32(o) + 1 < run.length {
                right = OriginID(run.replica, run.counter + UInt32(o) + 1)
                split(chunk: lc, run: li, at: UInt32(o) + 1)
                i = li + 1
            } else {
                if let (nc, ni) = firstRun(fromChunk: lc, index: li + 1) {
                    let nr = chunks[nc].runs[ni]
                    right = OriginID(nr.replica, nr.counter)
                }
                if run.replica == r && run.counter + run.length == ctr && run.right == right {
                    chunks[lc].runs[li].length += n
                    extended = true
                }
                i = li + 1
            }
        }
        if !extended {
            chunks[c].runs.insert(Run(replica: r, counter: ctr, length: n, left: left, right: right), at: i)
        }
        adjustVisible(chunk: c, by: Int(n))
        arena[Int(r)].append(scalars, at: ctr)
        noteInserted(replica: r, counter: ctr, chunk: c)
        next[Int(r)] = ctr + n
        splitChunkIfNeeded(c)
        return .insert(
            id: TextID(replica: replica, counter: UInt64(ctr)), originLeft: publicID(left), originRight: publicID(right),
            text: text)
    }

    /// Deletes the visible scalars in `range` as `replica`; returns the operation to send (nil
    /// when the range is empty).
    @discardableResult
    public mutating func delete(range: Range<Int>, replica: ReplicaID) -> TextOperation? {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "text range \(range) out of 0..<\(count)")
        guard !range.isEmpty else { return nil }
        let r = intern(replica)
        let ctr = next[Int(r)]
        precondition(UInt64(ctr) + UInt64(range.count) < UInt64(UInt32.max), "text counter overflow")
        var targets: [(UInt32, UInt32, UInt32)] = []
        var remaining = range.count
        var (c, i, o) = locateVisible(range.lowerBound)
        let firstChunk = c
        while true {
            let run = chunks[c].runs[i]
            let take = min(remaining, Int(run.length) - o)
            let idx = markDeleted(chunk: c, run: i, offset: UInt32(o), count: UInt32(take))
            if let last = targets.last, last.0 == run.replica, last.1 + last.2 == run.counter + UInt32(o) {
                targets[targets.count - 1].2 += UInt32(take)
            } else {
                targets.append((run.replica, run.counter + UInt32(o), UInt32(take)))
            }
            remaining -= take
            if remaining == 0 { break }
            // Advance to the next visible run.
            i = idx + 1
            o = 0
            while true {
                if i >= chunks[c].runs.count {
                    c += 1
                    i = 0
                    continue
                }
                if chunks[c].runs[i].deleted {
                    i += 1
                    continue
                }
                break
            }
        }
        var counter = ctr
        for t in targets {
            deletes[Int(r)].append(DeleteEntry(counter: counter, replica: t.0, start: t.1, length: t.2))
            counter += t.2
        }
        next[Int(r)] = counter
        splitChunkIfNeeded(c)
        if c != firstChunk { splitChunkIfNeeded(firstChunk) }
        return .delete(
            id: TextID(replica: replica, counter: UInt64(ctr)),
            ranges: targets.map { TextIDRange(replica: replicas[Int($0.0)], start: UInt64($0.1), count: UInt64($0.2)) })
    }

    // MARK: Remote operations

    /// Applies an operation from any replica (or our own, again). Idempotent; operations whose
    /// dependencies are missing are buffered and applied when those arrive. Throws (changing
    /// nothing) only for a structurally invalid operation.
    public mutating func apply(_ op: TextOperation) throws(TextError) {
        try Self.validate(op)
        var queue = [op]
        var first = true
        while let op = queue.popLast() {
            let outcome: Outcome
            do {
                outcome = try applyOne(op)
            } catch {
                if first { throw error }
                continue  // a buffered operation that turned out invalid is dropped
            }
            first = false
            switch outcome {
            case .duplicate:
                break
            case .applied(let r):
                if let list = waiting[r], let first = list.first, first.need <= next[Int(r)] {
                    let k = list.firstIndex { $0.need > next[Int(r)] } ?? list.count
                    let woken = list[..<k]
                    waiting[r] = k == list.count ? nil : Array(list[k...])
                    for w in woken { pendingSet.remove(w.op) }
                    queue.append(contentsOf: woken.reversed().map(\.op))
                }
            case .blocked(let r, let need):
                if pendingSet.insert(op).inserted {
                    var list = waiting[r] ?? []
                    var lo = 0
                    var hi = list.count
                    while lo < hi {
                        let mid = (lo + hi) / 2
                        if list[mid].need <= need { lo = mid + 1 } else { hi = mid }
                    }
                    list.insert((need, op), at: lo)
                    waiting[r] = list
                }
            }
        }
    }

    /// Applies several operations (any order).
    public mutating func apply(_ ops: some Sequence<TextOperation>) throws(TextError) {
        for op in ops { try apply(op) }
    }

    /// The operations a replica at `version` lacks, in an order in which each operation's
    /// dependencies come before it (buffered operations last). Runs of characters come out
    /// merged, so the list may be shorter than the one originally sent.
    public func operations(since version: TextVersion = TextVersion()) -> [TextOperation] {
        let since = replicas.map { UInt32(clamping: version[$0]) }
        // Units per replica, sorted by counter.
        var units = [[Unit]](repeating: [], count: replicas.count)
        for chunk in chunks {
            for run in chunk.runs {
                let r = Int(run.replica)
                let end = run.counter + run.length
                guard end > since[r] else { continue }
                var u = run
                if u.counter < since[r] {
                    u.left = OriginID(run.replica, since[r] - 1)
                    u.length = end - since[r]
                    u.counter = since[r]
                }
                units[r].append(.insert(u))
            }
        }
        for r in replicas.indices {
            for d in deletes[r] where d.counter + d.length > since[r] {
                var e = d
                if e.counter < since[r] {
                    let k = since[r] - e.counter
                    e = DeleteEntry(counter: since[r], replica: d.replica, start: d.start + k, length: d.length - k)
                }
                units[r].append(.delete(e))
            }
            units[r].sort { $0.counter < $1.counter }
            // Merge runs that continue one another (split by later inserts or deletes).
            var merged: [Unit] = []
            for u in units[r] {
                if case .insert(let b) = u, case .insert(let a)? = merged.last, a.counter + a.length == b.counter,
                    b.left == OriginID(a.replica, b.counter - 1), a.right == b.right
                {
                    var m = a
                    m.length += b.length
                    m.packed = m.packed & ~Run.deletedBit
                    merged[merged.count - 1] = .insert(m)
                } else {
                    merged.append(u)
                }
            }
            units[r] = merged
        }
        // Emit in a causal order: round-robin over replicas, each unit once its dependencies are
        // known to the receiver or emitted.
        var frontier = since
        for r in replicas.indices where frontier[r] < since[r] { frontier[r] = since[r] }
        var cursor = [Int](repeating: 0, count: replicas.count)
        var out: [TextOperation] = []
        func ready(_ o: OriginID) -> Bool { o.isNone || o.counter < frontier[Int(o.replica)] }
        var remaining = units.reduce(0) { $0 + $1.count }
        let order = replicas.indices.sorted { replicas[$0] < replicas[$1] }
        var force = false
        while remaining > 0 {
            var progress = false
            for r in order {
                while cursor[r] < units[r].count {
                    let u = units[r][cursor[r]]
                    var ok = true
                    switch u {
                    case .insert(let run): ok = ready(run.left) && ready(run.right)
                    case .delete(let d): ok = d.start + d.length <= frontier[Int(d.replica)]
                    }
                    if !ok && !force { break }
                    force = false
                    // Coalesce consecutive delete entries into one operation.
                    switch u {
                    case .insert(let run):
                        out.append(publicInsert(run))
                        frontier[r] = run.counter + run.length
                        cursor[r] += 1
                        remaining -= 1
                    case .delete(let d):
                        var ranges = [publicRange(d)]
                        frontier[r] = d.counter + d.length
                        cursor[r] += 1
                        remaining -= 1
                        while cursor[r] < units[r].count, case .delete(let e) = units[r][cursor[r]],
                            e.counter == frontier[r], e.start + e.length <= frontier[Int(e.replica)]
                        {
                            ranges.append(publicRange(e))
                            frontier[r] = e.counter + e.length
                            cursor[r] += 1
                            remaining -= 1
                        }
                        out.append(.delete(id: TextID(replica: replicas[r], counter: UInt64(d.counter)), ranges: ranges))
                    }
                    progress = true
                }
            }
            if !progress { force = true }  // impossible for a consistent document
        }
        for op in pendingOperations where op.id.counter + op.length > version[op.id.replica] {
            out.append(op)
        }
        return out
    }

    // MARK: Internals: types

    struct OriginID: Hashable, Sendable {
        var replica: UInt32
        var counter: UInt32
        init(_ replica: UInt32, _ counter: UInt32) {
            self.replica = replica
            self.counter = counter
        }
        static let none = OriginID(TextDocument.none, 0)
        var isNone: Bool { replica == TextDocument.none }
    }

    struct Run: Hashable, Sendable {
        var replica: UInt32
        var counter: UInt32
        /// Length in the low 31 bits, deleted flag in the top bit.
        var packed: UInt32
        var left: OriginID
        var right: OriginID

        static let deletedBit: UInt32 = 1 << 31

        init(replica: UInt32, counter: UInt32, length: UInt32, left: OriginID, right: OriginID, deleted: Bool = false) {
            self.replica = replica
            self.counter = counter
            self.packed = length | (deleted ? Run.deletedBit : 0)
            self.left = left
            self.right = right
        }

        var length: UInt32 {
            get { packed & ~Run.deletedBit }
            set { packed = (packed & Run.deletedBit) | newValue }
        }
        var deleted: Bool {
            get { packed & Run.deletedBit != 0 }
            set { packed = newValue ? packed | Run.deletedBit : packed & ~Run.deletedBit }
        }
        var visibleLength: Int { deleted ? 0 : Int(length) }

        func contains(_ r: UInt32, _ c: UInt32) -> Bool { replica == r && c >= counter && c - counter < length }

        /// Whether `b` (right after `self` in the list) continues `self`.
        func continues(into b: Run) -> Bool {
            b.replica == replica && b.counter == counter + length && b.left == OriginID(replica, b.counter - 1)
                && b.right == right && b.deleted == deleted
        }
    }

    struct Chunk: Sendable {
        var runs: [Run]
        var visible: Int
        var id: Int
    }

    struct IndexEntry: Sendable {
        var start: UInt32
        var chunk: Int32
    }

    struct DeleteEntry: Hashable, Sendable {
        var counter: UInt32
        var replica: UInt32
        var start: UInt32
        var length: UInt32
    }

    enum Unit {
        case insert(Run)
        case delete(DeleteEntry)
        var counter: UInt32 {
            switch self {
            case .insert(let r): return r.counter
            case .delete(let d): return d.counter
            }
        }
    }

    enum Outcome {
        case applied(UInt32)
        case duplicate
        /// Waiting until replica `r` has `need` counters.
        case blocked(UInt32, UInt32)
    }

    // MARK: Internals: helpers

    mutating func intern(_ replica: ReplicaID) -> UInt32 {
        if let i = replicaIndex[replica] { return i }
        let i = UInt32(replicas.count)
        replicas.append(replica)
        replicaIndex[replica] = i
        next.append(0)
        arena.append(TextArena())
        deletes.append([])
        idIndex.append([])
        return i
    }

    func publicID(_ o: OriginID) -> TextID? {
        o.isNone ? nil : TextID(replica: replicas[Int(o.replica)], counter: UInt64(o.counter))
    }

    func publicRange(_ d: DeleteEntry) -> TextIDRange {
        TextIDRange(replica: replicas[Int(d.replica)], start: UInt64(d.start), count: UInt64(d.length))
    }

    func publicInsert(_ run: Run) -> TextOperation {
        let r = Int(run.replica)
        let s = Int(run.counter)
        var text: [UInt8] = []
        text.reserveCapacity(Int(run.length))
        UTF8Sink.append(arena[r][s..<s + Int(run.length)], to: &text)
        return .insert(
            id: TextID(replica: replicas[r], counter: UInt64(run.counter)), originLeft: publicID(run.left),
            originRight: publicID(run.right), text: String(decoding: text, as: UTF8.self))
    }

    static func operationOrder(_ a: TextOperation, _ b: TextOperation) -> Bool {
        if a.id != b.id { return a.id < b.id }
        return a.description < b.description
    }

    /// Finds the visible scalar at `p` (0..<count): chunk, run and offset in the run.
    mutating func locateVisible(_ p: Int) -> (Int, Int, Int) {
        var c = cursorChunk
        var start = cursorStart
        if c >= chunks.count {
            c = 0
            start = 0
        }
        while p < start {
            c -= 1
            start -= chunks[c].visible
        }
        while p >= start + chunks[c].visible {
            start += chunks[c].visible
            c += 1
        }
        cursorChunk = c
        cursorStart = start
        var rem = p - start
        return chunks[c].runs.withUnsafeBufferPointer { runs in
            for i in runs.indices {
                let len = runs[i].visibleLength
                if rem < len { return (c, i, rem) }
                rem -= len
            }
            fatalError("text chunk visible count out of sync")
        }
    }

    /// The first run at or after (chunk, index), or nil at the end of the text.
    func firstRun(fromChunk c0: Int, index i0: Int) -> (Int, Int)? {
        var c = c0
        var i = i0
        while c < chunks.count {
            if i < chunks[c].runs.count { return (c, i) }
            c += 1
            i = 0
        }
        return nil
    }

    mutating func adjustVisible(chunk c: Int, by delta: Int) {
        chunks[c].visible += delta
        count += delta
        if c < cursorChunk { cursorStart += delta }
    }

    /// Splits run `i` of chunk `c` so that its first `offset` characters stay and the rest form
    /// run `i + 1`.
    mutating func split(chunk c: Int, run i: Int, at offset: UInt32) {
        let a = chunks[c].runs[i]
        var b = a
        b.counter = a.counter + offset
        b.length = a.length - offset
        b.left = OriginID(a.replica, a.counter + offset - 1)
        chunks[c].runs[i].length = offset
        chunks[c].runs.insert(b, at: i + 1)
    }

    /// Marks `count` characters from `offset` of run `i` in chunk `c` deleted (the run must be
    /// visible), merging with deleted neighbours. Returns the index of the run now holding them.
    mutating func markDeleted(chunk c: Int, run i0: Int, offset: UInt32, count n: UInt32) -> Int {
        var i = i0
        if offset > 0 {
            split(chunk: c, run: i, at: offset)
            i += 1
        }
        if n < chunks[c].runs[i].length { split(chunk: c, run: i, at: n) }
        chunks[c].runs[i].deleted = true
        adjustVisible(chunk: c, by: -Int(n))
        if i + 1 < chunks[c].runs.count, chunks[c].runs[i].continues(into: chunks[c].runs[i + 1]) {
            chunks[c].runs[i].length += chunks[c].runs[i + 1].length
            chunks[c].runs.remove(at: i + 1)
        }
        if i > 0, chunks[c].runs[i - 1].continues(into: chunks[c].runs[i]) {
            chunks[c].runs[i - 1].length += chunks[c].runs[i].length
            chunks[c].runs.remove(at: i)
            i -= 1
        }
        return i
    }

    /// Records that counters from `counter` of replica `r` were put in chunk `c`.
    mutating func noteInserted(replica r: UInt32, counter: UInt32, chunk c: Int) {
        guard indexValid else { return }
        let id = Int32(chunks[c].id)
        if idIndex[Int(r)].last?.chunk != id { idIndex[Int(r)].append(IndexEntry(start: counter, chunk: id)) }
    }

    mutating func splitChunkIfNeeded(_ c: Int) {
        let n = chunks[c].runs.count
        guard n > Self.maxRunsPerChunk else { return }
        let half = n / 2
        let tail = Array(chunks[c].runs[half...])
        chunks[c].runs.removeSubrange(half...)
        let tailVisible = tail.reduce(0) { $0 + $1.visibleLength }
        chunks[c].visible -= tailVisible
        let id = chunkPosition.count
        chunks.insert(Chunk(runs: tail, visible: tailVisible, id: id), at: c + 1)
        chunkPosition.append(c + 1)
        for k in (c + 1)..<chunks.count { chunkPosition[chunks[k].id] = k }
        if cursorChunk > c { cursorChunk += 1 }
    }

    mutating func rebuildIndex() {
        var entries: [(UInt32, UInt32, Int32)] = []
        for chunk in chunks {
            for run in chunk.runs { entries.append((run.replica, run.counter, Int32(chunk.id))) }
        }
        entries.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        idIndex = [[IndexEntry]](repeating: [], count: replicas.count)
        for e in entries {
            if idIndex[Int(e.0)].last?.chunk != e.2 { idIndex[Int(e.0)].append(IndexEntry(start: e.1, chunk: e.2)) }
        }
        indexValid = true
    }

    /// Whether counter `c` of replica `r` is a delete's counter (not a character).
    func isDeleteCounter(_ r: UInt32, _ c: UInt32) -> Bool {
        let log = deletes[Int(r)]
        var lo = 0
        var hi = log.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if log[mid].counter + log[mid].length <= c { lo = mid + 1 } else { hi = mid }
        }
        return lo < log.count && log[lo].counter <= c
    }

    /// Finds the run holding character (r, c), which must have been applied and be a character.
    mutating func locateID(_ r: UInt32, _ c: UInt32) -> (Int, Int) {
        if !indexValid { rebuildIndex() }
        let entries = idIndex[Int(r)]
        var lo = 0
        var hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].start <= c { lo = mid + 1 } else { hi = mid }
        }
        let k = lo - 1
        precondition(k >= 0, "text id index: character not found")
        let hint = chunkPosition[Int(entries[k].chunk)]
        var chunk = hint
        while chunk < chunks.count {
            let found: Int? = chunks[chunk].runs.withUnsafeBufferPointer { runs in
                for i in runs.indices where runs[i].contains(r, c) { return i }
                return nil
            }
            if let i = found {
                if chunk != hint {
                    // Point the part of entry k that this run holds at its current chunk.
                    let run = chunks[chunk].runs[i]
                    let s = entries[k].start
                    let e = k + 1 < entries.count ? entries[k + 1].start : UInt32.max
                    let lo = max(s, run.counter)
                    let hi = min(e, run.counter + run.length)
                    var repl: [IndexEntry] = []
                    if s < lo { repl.append(entries[k]) }
                    repl.append(IndexEntry(start: lo, chunk: Int32(chunks[chunk].id)))
                    if hi < e { repl.append(IndexEntry(start: hi, chunk: entries[k].chunk)) }
                    idIndex[Int(r)].replaceSubrange(k...k, with: repl)
                }
                return (chunk, i)
            }
            chunk += 1
        }
        preconditionFailure("text id index: character not found")
    }

    static func validate(_ op: TextOperation) throws(TextError) {
        let limit = UInt64(UInt32.max / 2)
        switch op {
        case .insert(let id, let l, let r, let text):
            let n = UInt64(text.unicodeScalars.count)
            guard n > 0 else { throw .invalidOperation("empty insert \(id)") }
            guard id.counter < limit && n < limit && id.counter + n < limit else {
                throw .invalidOperation("counter overflow in \(id)")
            }
            if let l, l.counter >= limit { throw .invalidOperation("counter overflow in origin \(l)") }
            if let r, r.counter >= limit { throw .invalidOperation("counter overflow in origin \(r)") }
            if let l, l.replica == id.replica, l.counter >= id.counter {
                throw .invalidOperation("insert \(id) has origin-left \(l) that is not earlier")
            }
            if let r, r.replica == id.replica, r.counter >= id.counter {
                throw .invalidOperation("insert \(id) has origin-right \(r) that is not earlier")
            }
        case .delete(let id, let ranges):
            guard !ranges.isEmpty else { throw .invalidOperation("empty delete \(id)") }
            var total: UInt64 = 0
            for range in ranges {
                guard range.count > 0 else { throw .invalidOperation("empty range in delete \(id)") }
                guard range.start < limit && range.count < limit && range.start + range.count < limit else {
                    throw .invalidOperation("counter overflow in delete \(id)")
                }
                if range.replica == id.replica && range.start + range.count > id.counter {
                    throw .invalidOperation("delete \(id) names its own or later counters")
                }
                total += range.count
            }
            guard id.counter < limit && id.counter + total < limit else { throw .invalidOperation("counter overflow in \(id)") }
        }
    }

    mutating func applyOne(_ op: TextOperation) throws(TextError) -> Outcome {
        switch op {
        case .insert(let id, let originLeft, let originRight, let text):
            let r = intern(id.replica)
            var c = UInt32(id.counter)
            var scalars = Array(text.unicodeScalars)
            let have = next[Int(r)]
            if UInt64(c) + UInt64(scalars.count) <= UInt64(have) { return .duplicate }
            if c > have { return .blocked(r, c) }
            var left = originLeft.map { OriginID(intern($0.replica), UInt32($0.counter)) } ?? .none
            let right = originRight.map { OriginID(intern($0.replica), UInt32($0.counter)) } ?? .none
            if c < have {
                scalars.removeFirst(Int(have - c))
                c = have
                left = OriginID(r, c - 1)
            }
            for o in [left, right] where !o.isNone {
                if o.counter >= next[Int(o.replica)] { return .blocked(o.replica, o.counter + 1) }
                if isDeleteCounter(o.replica, o.counter) {
                    throw .invalidOperation("insert \(id) has an origin \(publicID(o)!) that is a delete")
                }
            }
            integrate(replica: r, counter: c, scalars: scalars, left: left, right: right)
            return .applied(r)

        case .delete(let id, let ranges):
            let r = intern(id.replica)
            var c = UInt32(id.counter)
            let have = next[Int(r)]
            var targets = ranges.map { DeleteEntry(counter: 0, replica: intern($0.replica), start: UInt32($0.start), length: UInt32($0.count)) }
            let total = targets.reduce(0) { $0 + $1.length }
            if UInt64(c) + UInt64(total) <= UInt64(have) { return .duplicate }
            if c > have { return .blocked(r, c) }
            if c < have {
                var skip = have - c
                while skip > 0 {
                    if targets[0].length <= skip {
                        skip -= targets[0].length
                        targets.removeFirst()
                    } else {
                        targets[0].start += skip
                        targets[0].length -= skip
                        skip = 0
                    }
                }
                c = have
            }
            for t in targets {
                if t.start + t.length > next[Int(t.replica)] { return .blocked(t.replica, t.start + t.length) }
            }
            for t in targets {
                // A delete counter inside the range?
                let log = deletes[Int(t.replica)]
                var lo = 0
                var hi = log.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if log[mid].counter + log[mid].length <= t.start { lo = mid + 1 } else { hi = mid }
                }
                if lo < log.count && log[lo].counter < t.start + t.length {
                    throw .invalidOperation("delete \(id) names counters of a delete")
                }
            }
            var counter = c
            for var t in targets {
                t.counter = counter
                counter += t.length
                deletes[Int(r)].append(t)
                var s = t.start
                var left = t.length
                while left > 0 {
                    let (ch, i) = locateID(t.replica, s)
                    let run = chunks[ch].runs[i]
                    let o = s - run.counter
                    let take = min(left, run.length - o)
                    if !run.deleted {
                        _ = markDeleted(chunk: ch, run: i, offset: o, count: take)
                        splitChunkIfNeeded(ch)
                    }
                    s += take
                    left -= take
                }
            }
            next[Int(r)] = counter
            return .applied(r)
        }
    }

    /// Places a remote run (FugueMax / YjsMod rule) and records it.
    mutating func integrate(replica r: UInt32, counter ctr: UInt32, scalars: [Unicode.Scalar], left: OriginID, right: OriginID) {
        let n = UInt32(scalars.count)
        // Scan start: right after the origin-left character.
        var sc = 0
        var si = 0
        if !left.isNone {
            let (lc, li) = locateID(left.replica, left.counter)
            let run = chunks[lc].runs[li]
            let o = left.counter - run.counter
            if o + 1 < run.length { split(chunk: lc, run: li, at: o + 1) }
            sc = lc
            si = li + 1
        }
        if !right.isNone {
            let (rc, ri) = locateID(right.replica, right.counter)
            let o = right.counter - chunks[rc].runs[ri].counter
            if o > 0 { split(chunk: rc, run: ri, at: o) }
        }
        // The runs between the origins: inserted concurrently (or after, by ops that saw them).
        var pieces: [(c: Int, i: Int, run: Run)] = []
        var c = sc
        var i = si
        while true {
            while c < chunks.count && i >= chunks[c].runs.count {
                c += 1
                i = 0
            }
            if c == chunks.count {
                c = chunks.count - 1
                i = chunks[c].runs.count
                break
            }
            let run = chunks[c].runs[i]
            if !right.isNone && run.replica == right.replica && run.counter == right.counter { break }
            pieces.append((c, i, run))
            i += 1
        }
        var dest = 0
        if !pieces.isEmpty {
            let me = replicas[Int(r)]
            var scanning = false
            var broke = false
            for k in pieces.indices {
                if !scanning { dest = k }
                let other = pieces[k].run
                let oleft = other.left
                let leftOrder: Int
                if oleft == left {
                    leftOrder = 0
                } else if !oleft.isNone && pieces[..<k].contains(where: { $0.run.contains(oleft.replica, oleft.counter) }) {
                    leftOrder = 1
                } else {
                    leftOrder = -1
                }
                if leftOrder < 0 {
                    broke = true
                    break
                }
                if leftOrder == 0 {
                    let oright = other.right
                    if oright == right {
                        if me < replicas[Int(other.replica)] {
                            broke = true
                            break
                        }
                        scanning = false
                    } else {
                        let before = !oright.isNone && pieces[k...].contains(where: { $0.run.contains(oright.replica, oright.counter) })
                        scanning = before
                    }
                }
            }
            if !broke && !scanning { dest = pieces.count }
        }
        if dest < pieces.count {
            c = pieces[dest].c
            i = pieces[dest].i
        }
        let newRun = Run(replica: r, counter: ctr, length: n, left: left, right: right)
        if i > 0 && chunks[c].runs[i - 1].continues(into: newRun) {
            chunks[c].runs[i - 1].length += n
        } else {
            chunks[c].runs.insert(newRun, at: i)
        }
        adjustVisible(chunk: c, by: Int(n))
        arena[Int(r)].append(scalars, at: ctr)
        noteInserted(replica: r, counter: ctr, chunk: c)
        next[Int(r)] = ctr + n
        // Splits at the origins may have grown other chunks too.
        for k in stride(from: chunks.count - 1, through: 0, by: -1) where k == c || k == sc {
            splitChunkIfNeeded(k)
        }
        if !right.isNone {
            // The right origin's chunk, if different, may also have grown by one run.
            let (rc, _) = locateID(right.replica, right.counter)
            splitChunkIfNeeded(rc)
        }
    }
}

/// Scalars to UTF-8 bytes, without going through `String.UnicodeScalarView` one scalar at a
/// time (the document's text and its encoding are built this way).
enum UTF8Sink {
    @inline(__always)
    static func append(_ scalars: ArraySlice<Unicode.Scalar>, to out: inout [UInt8]) {
        for s in scalars {
            let v = s.value
            if v < 0x80 {
                out.append(UInt8(v))
            } else if v < 0x800 {
                out.append(UInt8(0xC0 | (v >> 6)))
                out.append(UInt8(0x80 | (v & 0x3F)))
            } else if v < 0x10000 {
                out.append(UInt8(0xE0 | (v >> 12)))
                out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (v & 0x3F)))
            } else {
                out.append(UInt8(0xF0 | (v >> 18)))
                out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
                out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (v & 0x3F)))
            }
        }
    }
}
