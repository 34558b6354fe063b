@_spi(Stats) import StrataCore

/// The `STXT` text document (Protocol/SPEC.md §4.3): one long-text field's full history, as
/// the record state stores it. The writer lays out `TextDocument.snapshot()`; the reader checks
/// the bytes (TXT-REJ-01…10) into a `TextDocument.Snapshot` and leaves the structure
/// (TXT-REJ-20…29) to `TextDocument(validating:)`. Memory is bounded by the input's size:
/// nothing is reserved for a claimed count before the bytes behind it are present.
public enum TextDocumentCodec {
    public static let magic: [UInt8] = [0x53, 0x54, 0x58, 0x54]
    public static let formatVersion: UInt8 = 1

    /// Run flags (§4.3, "Run flags").
    enum Flag {
        static let deleted: UInt8 = 0x01
        static let leftIsPrevious: UInt8 = 0x02
        static let leftNone: UInt8 = 0x04
        static let rightIsNext: UInt8 = 0x08
        static let rightNone: UInt8 = 0x10
        static let sameReplica: UInt8 = 0x20
        static let counterContinues: UInt8 = 0x40
        static let reserved: UInt8 = 0x80
    }

    /// The document's bytes (TXT-ENC-01: equal documents encode equally).
    public static func encode(_ document: TextDocument) -> [UInt8] { encode(document.snapshot()) }

    /// The bytes of a snapshot in canonical form (`TextDocument.snapshot()`).
    public static func encode(_ s: TextDocument.Snapshot) -> [UInt8] {
        typealias Origin = TextDocument.Snapshot.Origin
        var text = s.text
        var w = ByteWriter(capacity: 64 + 16 * s.replicas.count + 6 * s.runs.count + text.utf8.count)
        w.raw(magic)
        w.u8(formatVersion)
        w.varint(s.replicas.count)
        for r in s.replicas { w.id16(high: r.high, low: r.low) }
        for n in s.versions { w.varint(UInt64(n)) }

        let runs = s.runs
        w.varint(runs.count)
        var flags = [UInt8]()
        flags.reserveCapacity(runs.count)
        var repCol = ByteWriter()
        var ctrCol = ByteWriter()
        var lenCol = ByteWriter()
        var leftCol = ByteWriter()
        var rightCol = ByteWriter()
        var lastEnd = [UInt32](repeating: 0, count: s.replicas.count)
        func explicit(_ o: Origin, _ run: TextDocument.Snapshot.Run, _ sink: inout ByteWriter) {
            sink.varint(0)
            sink.varint(o.replica)
            if o.replica == run.replica {
                sink.zigzag(Int64(o.counter) - Int64(run.counter))
            } else {
                sink.varint(UInt64(o.counter))
            }
        }
        var endsAt: [Origin: Int] = [:]
        var startsAt: [Origin: Int] = [:]
        endsAt.reserveCapacity(runs.count)
        startsAt.reserveCapacity(runs.count)
        for (k, run) in runs.enumerated() {
            endsAt[Origin(replica: run.replica, counter: run.counter + run.length - 1)] = k
            startsAt[Origin(replica: run.replica, counter: run.counter)] = k
        }
        for (k, run) in runs.enumerated() {
            var f: UInt8 = run.deleted ? Flag.deleted : 0
            let prev: TextDocument.Snapshot.Run? = k > 0 ? runs[k - 1] : nil
            // The origin-left, when given without the run's counter, predicts the counter.
            var predictedFrom: Int64? = nil
            if let left = run.left {
                let base: Int64? = left.replica == run.replica ? Int64(left.counter) : nil
                if let p = prev, left == Origin(replica: p.replica, counter: p.counter + p.length - 1) {
                    f |= Flag.leftIsPrevious
                    predictedFrom = base
                } else if let j = endsAt[left], j < k - 1 {
                    leftCol.varint(k - j - 1)
                    predictedFrom = base
                } else {
                    explicit(left, run, &leftCol)
                }
            } else {
                f |= Flag.leftNone
            }
            if let right = run.right {
                if k + 1 < runs.count, right == Origin(replica: runs[k + 1].replica, counter: runs[k + 1].counter) {
                    f |= Flag.rightIsNext
                } else if let j = startsAt[right], j > k + 1 {
                    rightCol.varint(j - k - 1)
                } else {
                    explicit(right, run, &rightCol)
                }
            } else {
                f |= Flag.rightNone
            }
            if let p = prev, p.replica == run.replica {
                f |= Flag.sameReplica
            } else {
                repCol.varint(run.replica)
            }
            if run.counter == lastEnd[run.replica] {
                f |= Flag.counterContinues
            } else if let base = predictedFrom {
                ctrCol.zigzag(Int64(run.counter) - base - 1)
            } else {
                ctrCol.zigzag(Int64(run.counter) - Int64(lastEnd[run.replica]))
            }
            lastEnd[run.replica] = run.counter + run.length
            lenCol.varint(UInt64(run.length))
            flags.append(f)
        }
        w.column(flags)
        w.column(repCol.bytes)
        w.column(ctrCol.bytes)
        w.column(lenCol.bytes)
        w.column(leftCol.bytes)
        w.column(rightCol.bytes)
        text.withUTF8 { w.column($0) }

        var targets = ByteWriter()
        var targetStarts = ByteWriter()
        var targetLengths = ByteWriter()
        var lastStart: Int64 = 0
        for log in s.deletes { w.varint(log.count) }
        for log in s.deletes {
            for d in log {
                targets.varint(d.target)
                targetStarts.zigzag(Int64(d.start) - lastStart)
                lastStart = Int64(d.start)
                targetLengths.varint(UInt64(d.length))
            }
        }
        w.column(targets.bytes)
        w.column(targetStarts.bytes)
        w.column(targetLengths.bytes)
        w.column(s.pending.isEmpty ? [] : TextOperationCodec.encode(s.pending))
        return w.bytes
    }

    /// Loads a document from `encode(_:)`'s bytes, checking them (§4.3, "Checks"). `limits`:
    /// none by default, as a store's reader (what merging made must stay readable).
    public static func decode(_ bytes: some Collection<UInt8>, limits: TextLimits = .decoding) throws(CodecError) -> TextDocument {
        var reserved = 0
        return try decode(bytes, limits: limits, reserved: &reserved)
    }

    /// `decode(_:limits:)`, adding to `reserved` every element of storage it and the document's
    /// validation reserve (rather than grow as they read), for the memory tests of issue 6.
    @_spi(Stats)
    public static func decode(_ bytes: some Collection<UInt8>, limits: TextLimits, reserved: inout Int) throws(CodecError) -> TextDocument {
        try withContiguousBytes(bytes) { buf in
            Result { () throws(CodecError) in
                try decode(buffer: buf, limits: limits, endIsTruncation: true, context: nil, reserved: &reserved)
            }
        }.get()
    }

    /// Reads the snapshot `buffer` holds (the byte-level checks only).
    public static func snapshot(decoding bytes: some Collection<UInt8>, limits: TextLimits = .decoding) throws(CodecError) -> TextDocument.Snapshot {
        var reserved = 0
        return try withContiguousBytes(bytes) { buf in
            Result { () throws(CodecError) in
                var rd = ByteReader(buf, what: "text document", endIsTruncation: true)
                var at = Offsets()
                return try readSnapshot(&rd, limits: limits, offsets: &at, reserved: &reserved)
            }
        }.get()
    }

    /// `endIsTruncation` false inside a record state, whose length field says the document's
    /// bytes are all there (§4.3, "Embedding").
    static func decode(
        buffer: UnsafeBufferPointer<UInt8>, limits: TextLimits, endIsTruncation: Bool, context: String?, reserved: inout Int
    ) throws(CodecError) -> TextDocument {
        var rd = ByteReader(buffer, what: "text document", endIsTruncation: endIsTruncation, context: context)
        var at = Offsets()
        let snapshot = try readSnapshot(&rd, limits: limits, offsets: &at, reserved: &reserved)
        do {
            return try TextDocument(validating: snapshot, limits: limits, reserved: &reserved)
        } catch {
            let offset: Int
            switch error.part {
            case .replicas: offset = 5
            case .versions: offset = at.versions
            case .runs: offset = error.run.map { at.flags + $0 } ?? at.flags
            case .text: offset = at.content
            case .deletes: offset = at.targets
            case .pending: offset = at.pending
            }
            throw rd.error(.malformed("\(error)"), at: offset)
        }
    }

    /// Where the parts of a document start, for the structural errors' offsets.
    struct Offsets {
        var versions = 0
        var flags = 0
        var content = 0
        var targets = 0
        var pending = 0
    }

    /// A column (varint length, bytes) as a reader of its own: offsets stay those of the whole
    /// input, and a value running past the column's end is malformed (its length was given).
    static func column(_ rd: inout ByteReader, _ what: String) throws(CodecError) -> ByteReader {
        let n = try rd.count("\(what) length", limit: .max)
        let start = rd.position
        _ = try rd.slice(n, what)
        var c = ByteReader(
            UnsafeBufferPointer(rebasing: rd.buffer[0..<start + n]), what: what, endIsTruncation: false, context: rd.context)
        c.position = start
        return c
    }

    @inline(__always) static func add(_ a: Int64, _ b: Int64, _ rd: ByteReader, at: Int) throws(CodecError) -> Int64 {
        let (s, overflow) = a.addingReportingOverflow(b)
        if overflow { throw rd.error(.malformed("counter out of range"), at: at) }
        return s
    }

    static func readSnapshot(
        _ rd: inout ByteReader, limits: TextLimits, offsets at: inout Offsets, reserved stats: inout Int
    ) throws(CodecError) -> TextDocument.Snapshot {
        typealias Origin = TextDocument.Snapshot.Origin
        typealias Run = TextDocument.Snapshot.Run
        try rd.textHeader(magic: magic, formatVersion: formatVersion, what: "text document")
        let ids = try rd.textReplicas(limit: limits.maxReplicas, reserved: &stats)
        let rCount = ids.count
        at.versions = rd.position
        var total = 0
        var nexts: [UInt32] = []
        for _ in 0..<rCount {
            let vat = rd.position
            let n = try rd.varint("version")
            guard n > 0 && n < UInt64(UInt32.max / 2) else { throw rd.error(.malformed("a replica's version is out of range"), at: vat) }
            total += Int(n)
            guard total <= limits.maxCounters else {
                throw rd.error(.tooLarge(what: "counters", value: total, limit: limits.maxCounters, bytes: false), at: vat)
            }
            nexts.append(UInt32(n))
        }
        let runCount = try rd.count("run count", limit: limits.maxCounters, minBytesEach: 1)
        at.flags = rd.position
        var flagsR = try column(&rd, "flags column")
        at.flags = flagsR.position
        guard flagsR.remaining == runCount else {
            throw rd.error(.malformed("flags column has \(flagsR.remaining) bytes for \(runCount) runs"), at: at.flags)
        }
        var repR = try column(&rd, "replica column")
        var ctrR = try column(&rd, "counter column")
        var lenR = try column(&rd, "length column")
        var leftR = try column(&rd, "origin-left column")
        var rightR = try column(&rd, "origin-right column")
        at.content = rd.position
        let text = try rd.string("content", limit: .max)

        // Nothing below is sized by the counts the header claims (the counters per replica):
        // storage grows with the runs and delete entries actually read.
        var runs: [Run] = []
        runs.reserveCapacity(runCount)  // one flag byte each, already present
        stats += runCount
        var lastEnd = [UInt32](repeating: 0, count: rCount)
        stats += rCount
        var pendingRight: [(Int, Int)] = []
        func readOrigin(_ src: inout ByteReader, _ replica: Int, _ counter: UInt32) throws(CodecError) -> Origin {
            let oat = src.position
            let r = try src.index("origin replica", count: rCount)
            let c: Int64
            if r == replica {
                c = try add(Int64(counter), try src.zigzag("origin counter"), src, at: oat)
            } else {
                let v = try src.varint("origin counter")
                c = v < UInt64(UInt32.max) ? Int64(v) : -1
            }
            guard c >= 0 && c < Int64(nexts[r]) else { throw src.error(.malformed("origin counter beyond its replica's version"), at: oat) }
            return Origin(replica: r, counter: UInt32(c))
        }
        var replica = -1
        for k in 0..<runCount {
            let fat = flagsR.position
            let f = try flagsR.u8("flags")
            guard f & Flag.reserved == 0, f & (Flag.leftIsPrevious | Flag.leftNone) != Flag.leftIsPrevious | Flag.leftNone,
                f & (Flag.rightIsNext | Flag.rightNone) != Flag.rightIsNext | Flag.rightNone
            else { throw rd.error(.malformed("bad run flags \(f)"), at: fat) }
            if f & Flag.sameReplica != 0 {
                guard k > 0 else { throw rd.error(.malformed("first run repeats a replica"), at: fat) }
            } else {
                replica = try repR.index("run replica", count: rCount)
            }
            // Origin-left forms that do not need the counter come first: they predict it.
            var left: Origin? = nil
            var explicitLeft = false
            if f & Flag.leftIsPrevious != 0 {
                guard let p = runs.last else { throw rd.error(.malformed("first run's origin-left is the previous run"), at: fat) }
                left = Origin(replica: p.replica, counter: p.counter + p.length - 1)
            } else if f & Flag.leftNone == 0 {
                let dat = leftR.position
                let dist = try leftR.varint("origin-left distance")
                if dist == 0 {
                    explicitLeft = true
                } else {
                    guard dist < UInt64(runs.count) else { throw leftR.error(.malformed("origin-left distance out of range"), at: dat) }
                    let p = runs[runs.count - 1 - Int(dist)]
                    left = Origin(replica: p.replica, counter: p.counter + p.length - 1)
                }
            }
            var counter = Int64(lastEnd[replica])
            if f & Flag.counterContinues == 0 {
                let cat = ctrR.position
                let delta = try ctrR.zigzag("run counter")
                if let l = left, l.replica == replica {
                    counter = try add(Int64(l.counter) + 1, delta, ctrR, at: cat)
                } else {
                    counter = try add(counter, delta, ctrR, at: cat)
                }
            }
            let lat = lenR.position
            let length = try lenR.varint("run length")
            let next = nexts[replica]
            guard length > 0, length <= UInt64(next), counter >= 0, counter <= Int64(next), counter + Int64(length) <= Int64(next) else {
                throw lenR.error(.malformed("run \(k) counters out of range"), at: lat)
            }
            let c32 = UInt32(counter)
            let l32 = UInt32(length)
            lastEnd[replica] = c32 + l32
            if explicitLeft { left = try readOrigin(&leftR, replica, c32) }
            var right: Origin? = nil
            if f & Flag.rightIsNext != 0 {
                guard k + 1 < runCount else { throw rd.error(.malformed("last run's origin-right is the next run"), at: fat) }
                pendingRight.append((k, k + 1))
            } else if f & Flag.rightNone == 0 {
                let dat = rightR.position
                let dist = try rightR.varint("origin-right distance")
                if dist == 0 {
                    right = try readOrigin(&rightR, replica, c32)
                } else {
                    guard dist < UInt64(runCount - k - 1) else { throw rightR.error(.malformed("origin-right distance out of range"), at: dat) }
                    pendingRight.append((k, k + 1 + Int(dist)))
                }
            }
            runs.append(Run(replica: replica, counter: c32, length: l32, left: left, right: right, deleted: f & Flag.deleted != 0))
        }
        for (k, j) in pendingRight { runs[k].right = Origin(replica: runs[j].replica, counter: runs[j].counter) }
        for src in [repR, ctrR, lenR, leftR, rightR] { try src.expectEnd() }

        // Deletes: their own counters are implicit; the document's validation places them.
        var entryCounts: [Int] = []
        for _ in 0..<rCount { entryCounts.append(try rd.count("delete entry count", limit: limits.maxCounters, minBytesEach: 0)) }
        at.targets = rd.position
        var tR = try column(&rd, "delete target column")
        var tsR = try column(&rd, "delete start column")
        var tlR = try column(&rd, "delete length column")
        var lastStart: Int64 = 0
        var deletes: [[TextDocument.Snapshot.Delete]] = []
        for r in 0..<rCount {
            var log: [TextDocument.Snapshot.Delete] = []
            for _ in 0..<entryCounts[r] {
                let eat = tR.position
                let t = try tR.index("delete target replica", count: rCount)
                let sat = tsR.position
                let start = try add(lastStart, try tsR.zigzag("delete target start"), tsR, at: sat)
                lastStart = start
                let len = try tlR.varint("delete target length")
                let next = nexts[t]
                guard len > 0, len <= UInt64(next), start >= 0, start <= Int64(next), start + Int64(len) <= Int64(next) else {
                    throw tR.error(.malformed("delete target out of range"), at: eat)
                }
                log.append(TextDocument.Snapshot.Delete(target: t, start: UInt32(start), length: UInt32(len)))
            }
            deletes.append(log)
        }
        for src in [tR, tsR, tlR] { try src.expectEnd() }

        // Pending operations.
        at.pending = rd.position
        let pendingLength = try rd.count("pending operations length", limit: .max)
        let pendingBytes = try rd.slice(pendingLength, "pending operations")
        var pending: [TextOperation] = []
        if pendingLength > 0 {
            do {
                pending = try TextOperationCodec.decode(buffer: pendingBytes, limits: limits, endIsTruncation: false, context: nil)
            } catch {
                throw rd.error(.malformed("pending operations: \(error.detail)"), at: at.pending)
            }
        }
        try rd.expectEnd()
        return TextDocument.Snapshot(replicas: ids, versions: nexts, runs: runs, text: text, deletes: deletes, pending: pending)
    }
}

extension ByteWriter {
    /// A column: varint byte length, then the bytes.
    mutating func column(_ b: some Collection<UInt8>) {
        varint(b.count)
        bytes.append(contentsOf: b)
    }
}
