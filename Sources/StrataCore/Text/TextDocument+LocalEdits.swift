/// Local edits: inserting and deleting at visible positions, returning the operations to send.

extension TextDocument {
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
}
