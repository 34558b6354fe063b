/// Byte layouts of the text CRDT: a document's full history, and a list of operations.
///
/// All integers are unsigned LEB128 varints ("varint") unless said otherwise; "zigzag" is a
/// signed value mapped to unsigned ((n << 1) ^ (n >> 63)) then written as a varint. A "column"
/// is a varint byte length followed by that many bytes. No compression here: the store and the
/// change-set codec zlib what they keep or send (the columns are laid out so zlib finds
/// repeats).
///
/// ## Document (`TextDocument.encode()`), format version 1
/// ```
/// magic        "STXT" (53 54 58 54), version byte 01
/// R            varint; then R replica ids, 16 bytes each, strictly ascending
/// next[R]      varint each: counters applied per replica (the version)
/// N            varint: number of runs, in document order (tombstones included), maximally
///              merged (a run continues the previous one when same replica, consecutive
///              counters, origin-left = the previous character, same origin-right, same flag)
/// flags        column, N bytes:  0x01 deleted
///                                0x02 origin-left = last character of the previous run
///                                0x04 origin-left = start of text (none)
///                                0x08 origin-right = first character of the next run
///                                0x10 origin-right = end of text (none)
///                                0x20 replica = previous run's replica
///                                0x40 counter = end of the previous run of the same replica
///                                (in document order; 0 for its first run)
/// replicas     column: varint replica index, for runs without 0x20
/// counters     column, runs without 0x40: zigzag(counter − origin-left's counter − 1) when the
///              origin-left is given by 0x02 or by a distance (below) and is of the run's
///              replica; otherwise zigzag(counter − end of the previous run of that replica)
/// lengths      column: varint length (≥ 1), every run
/// lefts        column, for runs with neither 0x02 nor 0x04: varint d; d > 0: origin-left is
///              the last character of the run d + 1 runs before this one; d = 0: then varint
///              replica index, then zigzag(counter − the run's counter) if same replica as the
///              run, else varint counter
/// rights       column, for runs with neither 0x08 nor 0x10: varint d; d > 0: origin-right is
///              the first character of the run d + 1 runs after this one; d = 0: explicit as
///              for lefts
/// content      column: UTF-8 of every run's characters (deleted ones too), in document order
///              (interleaved, deleted typos sit next to their corrections: zlib likes that)
/// D[R]         varint each: number of delete entries per replica
/// targets      three columns, one value per delete entry (replica by replica, counter order):
///              varint target replica index; zigzag(start − previous entry's start, 0 first);
///              varint length
/// pending      column: an operation list (below) of buffered operations, or empty
/// ```
/// A delete entry's own counters are implicit: for each replica, the counters below `next` that
/// no run covers are its deletes' counters; the entries fill them in ascending order, one counter
/// per character named. The decoder checks: ids in range, runs not overlapping, deletes filling
/// exactly the gaps, deleted flags matching the delete entries, origins naming characters, UTF-8
/// length matching the runs, the `TextLimits` it is given, nothing after the end. Its memory is
/// bounded by the input's size: it reserves nothing for the counters the header claims (they are
/// checked as ranges, and a delete's counters take no storage, see `TextArena`), only for runs,
/// replicas and characters whose bytes are present.
///
/// ## Operation list (`TextOperation.encode(_:)`), format version 1
/// ```
/// magic "STXO" (53 54 58 4F), version byte 01
/// R varint; R replica ids, 16 bytes each (order of first use)
/// K varint: operations; each starts with a tag byte:
///   insert: 0x00 | 0x01 has-left | 0x02 has-right; varint replica index, varint counter,
///           [left: varint replica index, varint counter], [right: same],
///           varint UTF-8 byte length, bytes
///   delete: 0x10; varint replica index, varint counter, varint range count,
///           per range: varint replica index, varint start, varint count
/// ```

extension TextDocument: Equatable {
    /// Same visible text and same structure: the same characters (ids, origins, content,
    /// deleted flags) in the same order, the same delete log, version and buffered operations.
    public static func == (a: TextDocument, b: TextDocument) -> Bool { a.encode() == b.encode() }
}

extension TextDocument {
    static let magic: [UInt8] = [0x53, 0x54, 0x58, 0x54]
    static let formatVersion: UInt8 = 1

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

    /// The document's full history (see the layout above). Equal documents encode equally.
    public func encode() -> [UInt8] {
        // Canonical replica order: ascending ids, only replicas with counters.
        let used = replicas.indices.filter { next[$0] > 0 }.sorted { replicas[$0] < replicas[$1] }
        var map = [UInt32](repeating: TextDocument.none, count: replicas.count)
        for (k, r) in used.enumerated() { map[r] = UInt32(k) }
        var w = ByteSink()
        w.bytes.append(contentsOf: TextDocument.magic)
        w.bytes.append(TextDocument.formatVersion)
        w.varint(UInt64(used.count))
        for r in used { w.bytes.append(contentsOf: replicas[r].bytes) }
        for r in used { w.varint(UInt64(next[r])) }

        let runs = canonicalRuns()
        w.varint(UInt64(runs.count))
        var flags = [UInt8]()
        flags.reserveCapacity(runs.count)
        var repCol = ByteSink()
        var ctrCol = ByteSink()
        var lenCol = ByteSink()
        var leftCol = ByteSink()
        var rightCol = ByteSink()
        var content: [UInt8] = []
        var lastEnd = [UInt32](repeating: 0, count: replicas.count)
        func origin(_ o: OriginID, _ run: Run, _ sink: inout ByteSink) {
            sink.varint(UInt64(map[Int(o.replica)]))
            if o.replica == run.replica {
                sink.varint(zigzag(Int64(o.counter) - Int64(run.counter)))
            } else {
                sink.varint(UInt64(o.counter))
            }
        }
        var endsAt: [OriginID: Int] = [:]
        var startsAt: [OriginID: Int] = [:]
        endsAt.reserveCapacity(runs.count)
        startsAt.reserveCapacity(runs.count)
        for (k, run) in runs.enumerated() {
            endsAt[OriginID(run.replica, run.counter + run.length - 1)] = k
            startsAt[OriginID(run.replica, run.counter)] = k
        }
        for (k, run) in runs.enumerated() {
            var f: UInt8 = run.deleted ? 0x01 : 0
            let prev: Run? = k > 0 ? runs[k - 1] : nil
            // The origin-left, when given without the run's counter, predicts the counter.
            let leftBase: Int64? = run.left.replica == run.replica ? Int64(run.left.counter) : nil
            var predicted = false
            if run.left.isNone {
                f |= 0x04
            } else if let p = prev, run.left == OriginID(p.replica, p.counter + p.length - 1) {
                f |= 0x02
                predicted = leftBase != nil
            } else if let j = endsAt[run.left], j < k - 1 {
                leftCol.varint(UInt64(k - j - 1))
                predicted = leftBase != nil
            } else {
                leftCol.varint(0)
                origin(run.left, run, &leftCol)
            }
            if run.right.isNone {
                f |= 0x10
            } else if k + 1 < runs.count, run.right == OriginID(runs[k + 1].replica, runs[k + 1].counter) {
                f |= 0x08
            } else if let j = startsAt[run.right], j > k + 1 {
                rightCol.varint(UInt64(j - k - 1))
            } else {
                rightCol.varint(0)
                origin(run.right, run, &rightCol)
            }
            if let p = prev, p.replica == run.replica {
                f |= 0x20
            } else {
                repCol.varint(UInt64(map[Int(run.replica)]))
            }
            let r = Int(run.replica)
            if run.counter == lastEnd[r] {
                f |= 0x40
            } else if predicted, let base = leftBase {
                ctrCol.varint(zigzag(Int64(run.counter) - base - 1))
            } else {
                ctrCol.varint(zigzag(Int64(run.counter) - Int64(lastEnd[r])))
            }
            lastEnd[r] = run.counter + run.length
            lenCol.varint(UInt64(run.length))
            flags.append(f)
            let s = Int(run.counter)
            UTF8Sink.append(arena[r][s..<s + Int(run.length)], to: &content)
        }
        w.column(flags)
        w.column(repCol.bytes)
        w.column(ctrCol.bytes)
        w.column(lenCol.bytes)
        w.column(leftCol.bytes)
        w.column(rightCol.bytes)
        w.column(content)

        // Deletes, merged where consecutive.
        var targets = ByteSink()
        var targetStarts = ByteSink()
        var targetLengths = ByteSink()
        var lastStart: Int64 = 0
        var counts: [Int] = []
        for r in used {
            var merged: [DeleteEntry] = []
            for d in deletes[r] {
                if let l = merged.last, l.counter + l.length == d.counter, l.replica == d.replica, l.start + l.length == d.start {
                    merged[merged.count - 1].length += d.length
                } else {
                    merged.append(d)
                }
            }
            counts.append(merged.count)
            for d in merged {
                targets.varint(UInt64(map[Int(d.replica)]))
                targetStarts.varint(zigzag(Int64(d.start) - lastStart))
                lastStart = Int64(d.start)
                targetLengths.varint(UInt64(d.length))
            }
        }
        for c in counts { w.varint(UInt64(c)) }
        w.column(targets.bytes)
        w.column(targetStarts.bytes)
        w.column(targetLengths.bytes)
        let pending = pendingOperations
        w.column(pending.isEmpty ? [] : TextOperation.encode(pending))
        return w.bytes
    }

    /// What a decode reserved, for tests: elements of storage sized by counts the input claims
    /// (rather than grown as its bytes are read).
    struct DecodeStats {
        var reservedElements = 0
    }

    /// Loads a document from `encode()`'s bytes, checking them (see the layout above).
    public init(decoding bytes: [UInt8], limits: TextLimits = .decoding) throws(TextError) {
        var stats = DecodeStats()
        try self.init(decoding: bytes, limits: limits, stats: &stats)
    }

    init(decoding bytes: [UInt8], limits: TextLimits, stats: inout DecodeStats) throws(TextError) {
        self.init()
        var rd = ByteSource(bytes)
        guard bytes.count >= 5 else { throw .truncated(expected: "header", offset: bytes.count) }
        guard Array(bytes[0..<4]) == TextDocument.magic else { throw .badMagic }
        guard bytes[4] == TextDocument.formatVersion else { throw .unsupportedVersion(bytes[4]) }
        rd.offset = 5
        let rCount = try rd.count("replica count", limit: limits.maxReplicas, unit: 16)
        var ids: [ReplicaID] = []
        ids.reserveCapacity(rCount)
        stats.reservedElements += rCount
        for _ in 0..<rCount {
            let at = rd.offset
            let b = try rd.take(16, "replica id")
            let id = ReplicaID(bytes: b)!
            if let last = ids.last, !(last < id) { throw .malformed("replica ids not strictly ascending", offset: at) }
            ids.append(id)
        }
        var total = 0
        var nexts: [UInt32] = []
        for _ in 0..<rCount {
            let at = rd.offset
            let n = try rd.varint("version")
            guard n > 0 && n < UInt64(UInt32.max / 2) else { throw .malformed("replica version \(n) out of range", offset: at) }
            total += Int(n)
            guard total <= limits.maxCounters else { throw .limitExceeded("more than \(limits.maxCounters) counters") }
            nexts.append(UInt32(n))
        }
        for id in ids { _ = intern(id) }
        next = nexts
        let runCount = try rd.count("run count", limit: limits.maxCounters, unit: 1)
        var flagsR = try rd.sub("flags")
        guard flagsR.bytes.count == runCount else { throw .malformed("flags column has \(flagsR.bytes.count) bytes for \(runCount) runs", offset: rd.offset) }
        var repR = try rd.sub("replica column")
        var ctrR = try rd.sub("counter column")
        var lenR = try rd.sub("length column")
        var leftR = try rd.sub("origin-left column")
        var rightR = try rd.sub("origin-right column")
        let contentAt = rd.offset
        let contentBytes = try rd.column("content")

        // Nothing below is sized by the counts the header claims (the counters per replica):
        // storage grows with the runs, characters and delete entries actually read, and the
        // checks work on ranges of counters, never counter by counter.
        var runs: [Run] = []
        runs.reserveCapacity(runCount)  // one flag byte each, already present
        stats.reservedElements += runCount
        var lastEnd = [UInt32](repeating: 0, count: rCount)
        stats.reservedElements += rCount
        var pendingRight: [(Int, Int)] = []
        func readOrigin(_ src: inout ByteSource, _ replica: UInt32, _ counter: UInt32) throws(TextError) -> OriginID {
            let at = src.absolute
            let r = try src.varint("origin replica")
            guard r < UInt64(rCount) else { throw .malformed("origin replica index \(r) out of range", offset: at) }
            let c: Int64
            if UInt32(r) == replica {
                c = try sum(Int64(counter), unzigzag(try src.varint("origin counter")), offset: at)
            } else {
                let v = try src.varint("origin counter")
                guard v < UInt64(UInt32.max) else { throw .malformed("origin counter out of range", offset: at) }
                c = Int64(v)
            }
            guard c >= 0 && c < Int64(nexts[Int(r)]) else { throw .malformed("origin counter \(c) beyond version", offset: at) }
            return OriginID(UInt32(r), UInt32(c))
        }
        let flagsAt = flagsR.absolute
        var replica: UInt32 = TextDocument.none
        for k in 0..<runCount {
            let at = flagsR.absolute
            let f = try flagsR.byte("flags")
            guard f & 0x80 == 0, f & 0x06 != 0x06, f & 0x18 != 0x18 else { throw .malformed("bad run flags \(f)", offset: at) }
            if f & 0x20 != 0 {
                guard k > 0 else { throw .malformed("first run repeats a replica", offset: at) }
            } else {
                let rat = repR.absolute
                let r = try repR.varint("run replica")
                guard r < UInt64(rCount) else { throw .malformed("run replica index \(r) out of range", offset: rat) }
                replica = UInt32(r)
            }
            let ri = Int(replica)
            // Origin-left forms that do not need the counter come first: they predict it.
            var left = OriginID.none
            var explicitLeft = false
            if f & 0x02 != 0 {
                guard let p = runs.last else { throw .malformed("first run's origin-left is the previous run", offset: at) }
                left = OriginID(p.replica, p.counter + p.length - 1)
            } else if f & 0x04 == 0 {
                let dat = leftR.absolute
                let dist = try leftR.varint("origin-left distance")
                if dist == 0 {
                    explicitLeft = true
                } else {
                    guard dist < UInt64(runs.count) else { throw .malformed("origin-left distance out of range", offset: dat) }
                    let p = runs[runs.count - 1 - Int(dist)]
                    left = OriginID(p.replica, p.counter + p.length - 1)
                }
            }
            var counter = Int64(lastEnd[ri])
            if f & 0x40 == 0 {
                let delta = unzigzag(try ctrR.varint("run counter"))
                if !explicitLeft && !left.isNone && left.replica == replica {
                    counter = try sum(Int64(left.counter) + 1, delta, offset: at)
                } else {
                    counter = try sum(counter, delta, offset: at)
                }
            }
            let lat = lenR.absolute
            let length = try lenR.varint("run length")
            guard length > 0, length <= UInt64(nexts[ri]), counter >= 0, counter <= Int64(nexts[ri]),
                counter + Int64(length) <= Int64(nexts[ri]) else {
                throw .malformed("run \(k) counters out of range", offset: lat)
            }
            let c32 = UInt32(counter)
            let l32 = UInt32(length)
            lastEnd[ri] = c32 + l32
            if explicitLeft { left = try readOrigin(&leftR, replica, c32) }
            var right = OriginID.none
            if f & 0x08 != 0 {
                guard k + 1 < runCount else { throw .malformed("last run's origin-right is the next run", offset: at) }
                pendingRight.append((k, k + 1))
            } else if f & 0x10 == 0 {
                let dat = rightR.absolute
                let dist = try rightR.varint("origin-right distance")
                if dist == 0 {
                    right = try readOrigin(&rightR, replica, c32)
                } else {
                    guard dist < UInt64(runCount - k - 1) else { throw .malformed("origin-right distance out of range", offset: dat) }
                    pendingRight.append((k, k + 1 + Int(dist)))
                }
            }
            runs.append(Run(replica: replica, counter: c32, length: l32, left: left, right: right, deleted: f & 0x01 != 0))
        }
        for (k, j) in pendingRight { runs[k].right = OriginID(runs[j].replica, runs[j].counter) }
        for src in [repR, ctrR, lenR, leftR, rightR] where !src.atEnd {
            throw .malformed("trailing bytes in a run column", offset: src.absolute)
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
        stats.reservedElements += rCount + 1
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
                    throw .malformed("character \(ids[r].short)@\(run.counter) appears twice", offset: flagsAt + byReplica[j])
                }
            }
            var end: UInt32 = 0
            for j in stride(from: first[r + 1] - 1, through: first[r], by: -1) {
                let run = runs[byReplica[j]]
                if j == first[r + 1] - 1 || run.counter + run.length != runs[byReplica[j + 1]].counter { end = run.counter + run.length }
                stretchEnd[j] = end
            }
        }
        /// The position in `byReplica` of the run holding character (r, c), or nil for a delete's counter.
        func characterRun(_ r: Int, _ c: UInt32) -> Int? {
            var lo = first[r]
            var hi = first[r + 1]
            while lo < hi {  // first run starting after c
                let mid = (lo + hi) / 2
                if sortedCounter[mid] <= c { lo = mid + 1 } else { hi = mid }
            }
            guard lo > first[r] else { return nil }
            return c - sortedCounter[lo - 1] < sortedLength[lo - 1] ? lo - 1 : nil
        }
        // Origins must name characters.
        // Origins must name characters: sorted, they are checked in one sweep along the sorted runs.
        var origins: [UInt64] = []
        origins.reserveCapacity(2 * runs.count)
        for run in runs {
            if !run.left.isNone { origins.append(UInt64(run.left.replica) << 32 | UInt64(run.left.counter)) }
            if !run.right.isNone { origins.append(UInt64(run.right.replica) << 32 | UInt64(run.right.counter)) }
        }
        origins.sort()
        var at = 0  // index into the runs sorted by (replica, counter)
        for key in origins {
            let r = Int(key >> 32)
            let c = UInt32(truncatingIfNeeded: key)
            if at < first[r] { at = first[r] }
            while at < first[r + 1] && sortedCounter[at] + sortedLength[at] <= c { at += 1 }
            guard at < first[r + 1] && sortedCounter[at] <= c else {
                throw .malformed("an origin names a delete's counter", offset: contentAt)
            }
        }
        origins = []
        // Content.
        let text = String(decoding: contentBytes, as: UTF8.self)
        guard text.utf8.elementsEqual(contentBytes) else { throw .malformed("content is not valid UTF-8", offset: contentAt) }
        let scalars = Array(text.unicodeScalars)
        var contentStart: [Int] = []
        contentStart.reserveCapacity(runs.count)
        var pos = 0
        for run in runs {
            contentStart.append(pos)
            pos += Int(run.length)
            guard pos <= scalars.count else { throw .malformed("content shorter than the runs", offset: contentAt) }
        }
        guard pos == scalars.count else { throw .malformed("content longer than the runs", offset: contentAt) }
        var arenas = [TextArena](repeating: TextArena(), count: rCount)
        stats.reservedElements += rCount
        for r in 0..<rCount {
            for j in first[r]..<first[r + 1] {
                let k = byReplica[j]
                arenas[r].append(scalars[contentStart[k]..<contentStart[k] + Int(runs[k].length)], at: runs[k].counter)
            }
        }
        arena = arenas

        // Deletes. A replica's counters that no run holds are its deletes' counters: its entries
        // fill them in ascending order, each within one stretch of them.
        var entryCounts: [Int] = []
        for _ in 0..<rCount { entryCounts.append(try rd.count("delete entry count", limit: limits.maxCounters, unit: 0)) }
        var tR = try rd.sub("delete target replicas")
        var tsR = try rd.sub("delete target starts")
        var tlR = try rd.sub("delete target lengths")
        var lastStart: Int64 = 0
        var named: [DeleteEntry] = []  // every target range (counter unused)
        for r in 0..<rCount {
            var j = first[r]  // the next run of r, by counter
            var gap: UInt32 = 0  // the next counter of r to fill
            func skipCharacters() {
                while j < first[r + 1] && runs[byReplica[j]].counter == gap {
                    gap += runs[byReplica[j]].length
                    j += 1
                }
            }
            var log: [DeleteEntry] = []
            for _ in 0..<entryCounts[r] {
                let at = tR.absolute
                let tr = try tR.varint("target replica")
                guard tr < UInt64(rCount) else { throw .malformed("target replica index out of range", offset: at) }
                let start = try sum(lastStart, unzigzag(try tsR.varint("target start")), offset: at)
                lastStart = start
                let len = try tlR.varint("target length")
                guard len > 0, len <= UInt64(nexts[Int(tr)]), start >= 0,
                    start <= Int64(nexts[Int(tr)]), start + Int64(len) <= Int64(nexts[Int(tr)]) else {
                    throw .malformed("delete target out of range", offset: at)
                }
                skipCharacters()
                guard UInt64(gap) + len <= UInt64(nexts[r]) else { throw .malformed("more deletes than counters", offset: at) }
                let gapEnd = j < first[r + 1] ? runs[byReplica[j]].counter : nexts[r]
                guard gap + UInt32(len) <= gapEnd else { throw .malformed("a delete entry overlaps characters", offset: at) }
                guard let t = characterRun(Int(tr), UInt32(start)), Int64(stretchEnd[t]) >= start + Int64(len) else {
                    throw .malformed("a delete names a delete's counter", offset: at)
                }
                let entry = DeleteEntry(counter: gap, replica: UInt32(tr), start: UInt32(start), length: UInt32(len))
                log.append(entry)
                named.append(entry)
                gap += UInt32(len)
            }
            skipCharacters()
            guard gap == nexts[r] else { throw .malformed("counters of replica \(r) neither characters nor deletes", offset: tR.absolute) }
            deletes[r] = log
        }
        for src in [tR, tsR, tlR] where !src.atEnd {
            throw .malformed("trailing bytes in delete targets", offset: src.absolute)
        }
        // A character is flagged deleted exactly when a delete names it: walk each replica's runs
        // and the union of the ranges named in it, both by counter.
        named.sort { ($0.replica != $1.replica) ? $0.replica < $1.replica : $0.start < $1.start }
        var n = 0
        for r in 0..<rCount {
            var union: [(start: UInt32, end: UInt32)] = []
            while n < named.count && named[n].replica == UInt32(r) {
                let s = named[n].start
                let e = s + named[n].length
                if let last = union.last, s <= last.end {
                    union[union.count - 1].end = max(last.end, e)
                } else {
                    union.append((s, e))
                }
                n += 1
            }
            var u = 0
            for j in first[r]..<first[r + 1] {
                let run = runs[byReplica[j]]
                let end = run.counter + run.length
                while u < union.count && union[u].end <= run.counter { u += 1 }
                let bad: UInt32?
                if run.deleted {
                    if u == union.count || union[u].start > run.counter {
                        bad = run.counter
                    } else {
                        bad = union[u].end < end ? union[u].end : nil
                    }
                } else {
                    bad = u < union.count && union[u].start < end ? max(run.counter, union[u].start) : nil
                }
                if let bad {
                    throw .malformed("deleted flag of \(ids[r].short)@\(bad) disagrees with the deletes", offset: contentAt)
                }
            }
        }
        // Pending operations.
        let pendAt = rd.offset
        let pend = try rd.column("pending operations")
        guard rd.atEnd else { throw .malformed("trailing bytes", offset: rd.offset) }
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
        if !pend.isEmpty {
            let ops: [TextOperation]
            do {
                ops = try TextOperation.decode(pend, limits: limits)
            } catch {
                throw .malformed("pending operations: \(error)", offset: pendAt)
            }
            for op in ops { try apply(op) }
        }
    }
}

extension TextOperation {
    static let magic: [UInt8] = [0x53, 0x54, 0x58, 0x4F]

    /// Encodes a list of operations (layout in TextEncoding.swift).
    public static func encode(_ ops: [TextOperation]) -> [UInt8] {
        var table: [ReplicaID: Int] = [:]
        var order: [ReplicaID] = []
        func idx(_ r: ReplicaID) -> UInt64 {
            if let i = table[r] { return UInt64(i) }
            table[r] = order.count
            order.append(r)
            return UInt64(order.count - 1)
        }
        var body = ByteSink()
        body.varint(UInt64(ops.count))
        for op in ops {
            switch op {
            case .insert(let id, let l, let r, let text):
                body.bytes.append((l == nil ? 0 : 1) | (r == nil ? 0 : 2))
                body.varint(idx(id.replica))
                body.varint(id.counter)
                if let l {
                    body.varint(idx(l.replica))
                    body.varint(l.counter)
                }
                if let r {
                    body.varint(idx(r.replica))
                    body.varint(r.counter)
                }
                body.column(Array(text.utf8))
            case .delete(let id, let ranges):
                body.bytes.append(0x10)
                body.varint(idx(id.replica))
                body.varint(id.counter)
                body.varint(UInt64(ranges.count))
                for range in ranges {
                    body.varint(idx(range.replica))
                    body.varint(range.start)
                    body.varint(range.count)
                }
            }
        }
        var w = ByteSink()
        w.bytes.append(contentsOf: magic)
        w.bytes.append(1)
        w.varint(UInt64(order.count))
        for r in order { w.bytes.append(contentsOf: r.bytes) }
        w.bytes.append(contentsOf: body.bytes)
        return w.bytes
    }

    /// Decodes `encode(_:)`'s bytes; every operation is checked as `TextDocument.apply` would.
    public static func decode(_ bytes: [UInt8], limits: TextLimits = .default) throws(TextError) -> [TextOperation] {
        guard bytes.count >= 5 else { throw .truncated(expected: "header", offset: bytes.count) }
        guard Array(bytes[0..<4]) == magic else { throw .badMagic }
        guard bytes[4] == 1 else { throw .unsupportedVersion(bytes[4]) }
        var rd = ByteSource(bytes)
        rd.offset = 5
        let rCount = try rd.count("replica count", limit: limits.maxReplicas, unit: 16)
        var ids: [ReplicaID] = []
        for _ in 0..<rCount { ids.append(ReplicaID(bytes: try rd.take(16, "replica id"))!) }
        func replica() throws(TextError) -> ReplicaID {
            let at = rd.offset
            let i = try rd.varint("replica index")
            guard i < UInt64(ids.count) else { throw .malformed("replica index \(i) out of range", offset: at) }
            return ids[Int(i)]
        }
        let n = try rd.count("operation count", limit: limits.maxCounters, unit: 3)
        var ops: [TextOperation] = []
        ops.reserveCapacity(n)
        for _ in 0..<n {
            let at = rd.offset
            let tag = try rd.byte("operation tag")
            let op: TextOperation
            switch tag {
            case 0, 1, 2, 3:
                let id = TextID(replica: try replica(), counter: try rd.varint("counter"))
                var l: TextID? = nil
                var r: TextID? = nil
                if tag & 1 != 0 { l = TextID(replica: try replica(), counter: try rd.varint("counter")) }
                if tag & 2 != 0 { r = TextID(replica: try replica(), counter: try rd.varint("counter")) }
                let textAt = rd.offset
                let utf8 = try rd.column("text")
                let text = String(decoding: utf8, as: UTF8.self)
                guard text.utf8.elementsEqual(utf8) else { throw .malformed("text is not valid UTF-8", offset: textAt) }
                op = .insert(id: id, originLeft: l, originRight: r, text: text)
            case 0x10:
                let id = TextID(replica: try replica(), counter: try rd.varint("counter"))
                let k = try rd.count("range count", limit: limits.maxCounters, unit: 3)
                var ranges: [TextIDRange] = []
                ranges.reserveCapacity(k)
                for _ in 0..<k {
                    ranges.append(TextIDRange(replica: try replica(), start: try rd.varint("start"), count: try rd.varint("count")))
                }
                op = .delete(id: id, ranges: ranges)
            default:
                throw .malformed("unknown operation tag \(tag)", offset: at)
            }
            do {
                try TextDocument.validate(op)
            } catch {
                throw .malformed("\(error)", offset: at)
            }
            ops.append(op)
        }
        guard rd.atEnd else { throw .malformed("trailing bytes", offset: rd.offset) }
        return ops
    }
}

// MARK: - Byte helpers (the text CRDT's own: the core has no codec dependency)

/// `a + b`, or malformed when it overflows (a hostile counter delta must not trap).
@inline(__always) func sum(_ a: Int64, _ b: Int64, offset: Int) throws(TextError) -> Int64 {
    let (s, overflow) = a.addingReportingOverflow(b)
    if overflow { throw .malformed("counter out of range", offset: offset) }
    return s
}

@inline(__always) func zigzag(_ n: Int64) -> UInt64 { UInt64(bitPattern: (n << 1) ^ (n >> 63)) }
@inline(__always) func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

struct ByteSink {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func column(_ b: [UInt8]) {
        varint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }
}

struct ByteSource {
    let bytes: [UInt8]
    var offset = 0
    /// Offset of `bytes` inside the whole input, for error positions.
    let base: Int

    init(_ bytes: [UInt8], base: Int = 0) {
        self.bytes = bytes
        self.base = base
    }

    var atEnd: Bool { offset == bytes.count }
    var absolute: Int { base + offset }

    mutating func byte(_ what: String) throws(TextError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated(expected: what, offset: absolute) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func varint(_ what: String) throws(TextError) -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        let start = absolute
        while true {
            guard offset < bytes.count else { throw .truncated(expected: what, offset: absolute) }
            let b = bytes[offset]
            offset += 1
            if shift == 63 && b > 1 { throw .malformed("varint overflow (\(what))", offset: start) }
            v |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 { throw .malformed("non-minimal varint (\(what))", offset: start) }
                return v
            }
            shift += 7
            if shift > 63 { throw .malformed("varint overflow (\(what))", offset: start) }
        }
    }

    mutating func take(_ n: Int, _ what: String) throws(TextError) -> [UInt8] {
        guard n <= bytes.count - offset else { throw .truncated(expected: what, offset: absolute) }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    /// A varint length then that many bytes.
    mutating func column(_ what: String) throws(TextError) -> [UInt8] {
        let n = try varint(what + " length")
        guard n <= UInt64(bytes.count - offset) else { throw .truncated(expected: what, offset: absolute) }
        return try take(Int(n), what)
    }

    /// A column as its own source (error offsets stay absolute).
    mutating func sub(_ what: String) throws(TextError) -> ByteSource {
        let n = try varint(what + " length")
        guard n <= UInt64(bytes.count - offset) else { throw .truncated(expected: what, offset: absolute) }
        let at = absolute
        return ByteSource(try take(Int(n), what), base: at)
    }

    /// A count, checked against a limit and (when each item needs at least `unit` bytes) the
    /// bytes left, so no allocation exceeds the input's size.
    mutating func count(_ what: String, limit: Int, unit: Int) throws(TextError) -> Int {
        let at = absolute
        let n = try varint(what)
        guard n <= UInt64(limit) else { throw .limitExceeded("\(what) \(n) > \(limit)") }
        if unit > 0 && n > UInt64((bytes.count - offset) / unit) {
            throw .truncated(expected: "\(n) items (\(what))", offset: at)
        }
        return Int(n)
    }
}
