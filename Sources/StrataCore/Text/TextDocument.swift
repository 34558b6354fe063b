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
    /// Per replica, the buffered operations by the version it must reach (a heap, so buffering
    /// and waking cost O(log n) each whatever the delivery order).
    var waiting: [UInt32: WaitQueue] = [:]

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
