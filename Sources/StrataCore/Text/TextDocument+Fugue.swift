/// Remote operations and the FugueMax integration rule (see `TextDocument`, "Algorithm"): checking an
/// operation, buffering it until its dependencies arrive, and placing a remote run among the
/// characters inserted concurrently between its origins.

extension TextDocument {
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
                let have = next[Int(r)]
                if let smallest = waiting[r]?.smallestNeed, smallest <= have, var q = waiting.removeValue(forKey: r) {
                    var woken: [TextOperation] = []
                    while !q.isEmpty && q.smallestNeed <= have { woken.append(q.removeSmallest()) }
                    if !q.isEmpty { waiting[r] = q }
                    for w in woken { pendingSet.remove(w) }
                    queue.append(contentsOf: woken.reversed())  // smallest need first (popLast)
                }
            case .blocked(let r, let need):
                if pendingSet.insert(op).inserted {
                    // Taken out and put back, so the heap's storage is not shared while it grows.
                    var q = waiting.removeValue(forKey: r) ?? WaitQueue()
                    q.insert(op, need: need)
                    waiting[r] = q
                }
            }
        }
    }

    /// Applies several operations (any order).
    public mutating func apply(_ ops: some Sequence<TextOperation>) throws(TextError) {
        for op in ops { try apply(op) }
    }

    enum Outcome {
        case applied(UInt32)
        case duplicate
        /// Waiting until replica `r` has `need` counters.
        case blocked(UInt32, UInt32)
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

/// Operations waiting until one replica reaches a counter: a binary min-heap on that counter
/// (`need`), ties by arrival. Which of several ready operations is applied first does not change
/// the document (the merge is order-independent); the heap only makes any delivery order cost
/// O(log n) per buffered operation instead of a sorted insert's O(n).
struct WaitQueue {
    private var heap: [(need: UInt32, seq: UInt64, op: TextOperation)] = []
    private var arrivals: UInt64 = 0

    var isEmpty: Bool { heap.isEmpty }
    var count: Int { heap.count }
    /// The smallest need (`UInt32.max` when empty).
    var smallestNeed: UInt32 { heap.first?.need ?? .max }

    private static func less(_ a: (need: UInt32, seq: UInt64, op: TextOperation), _ b: (need: UInt32, seq: UInt64, op: TextOperation)) -> Bool {
        a.need != b.need ? a.need < b.need : a.seq < b.seq
    }

    mutating func insert(_ op: TextOperation, need: UInt32) {
        heap.append((need, arrivals, op))
        arrivals += 1
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    /// Removes and returns the operation with the smallest need. The queue must not be empty.
    mutating func removeSmallest() -> TextOperation {
        let top = heap[0].op
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var m = i
                if l < heap.count && Self.less(heap[l], heap[m]) { m = l }
                if r < heap.count && Self.less(heap[r], heap[m]) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
