/// A text document's history: its version, the operations a replica lacks (`operations(since:)`),
/// buffered operations, and the delete log's lookups.

extension TextDocument {
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
}
