@testable import StrataCore

/// The oracle: one item per character in a plain array, linear searches everywhere, the
/// FugueMax / YjsMod rule written out per character. Same operation format and local-edit
/// conventions as `TextDocument`, so the two can be compared character by character.
struct NaiveText {
    struct Item: Equatable, CustomStringConvertible {
        var id: TextID
        var left: TextID?
        var right: TextID?
        var scalar: Unicode.Scalar
        var deleted: Bool
        var description: String { "\(id)\(deleted ? "x" : "")'\(scalar)'" }
    }

    var items: [Item] = []
    var version = TextVersion()
    var deleteCounters: Set<TextID> = []
    var pending: [TextOperation] = []

    var string: String {
        var s = String.UnicodeScalarView()
        for i in items where !i.deleted { s.append(i.scalar) }
        return String(s)
    }

    func index(of id: TextID) -> Int { items.firstIndex { $0.id == id }! }

    /// Raw index of the visible character at `p`.
    func rawIndex(visible p: Int) -> Int {
        var p = p
        for (k, i) in items.enumerated() where !i.deleted {
            if p == 0 { return k }
            p -= 1
        }
        fatalError("position out of range")
    }

    mutating func insert(_ text: String, at position: Int, replica: ReplicaID) -> TextOperation {
        var left: TextID? = nil
        var right: TextID? = items.first?.id
        if position > 0 {
            let k = rawIndex(visible: position - 1)
            left = items[k].id
            right = k + 1 < items.count ? items[k + 1].id : nil
        }
        let op = TextOperation.insert(id: TextID(replica: replica, counter: version[replica]), originLeft: left, originRight: right, text: text)
        try! apply(op)
        return op
    }

    mutating func delete(range: Range<Int>, replica: ReplicaID) -> TextOperation {
        var ranges: [TextIDRange] = []
        for p in range {
            let id = items[rawIndex(visible: p)].id
            if let l = ranges.last, l.replica == id.replica, l.start + l.count == id.counter {
                ranges[ranges.count - 1].count += 1
            } else {
                ranges.append(TextIDRange(replica: id.replica, start: id.counter, count: 1))
            }
        }
        let op = TextOperation.delete(id: TextID(replica: replica, counter: version[replica]), ranges: ranges)
        try! apply(op)
        return op
    }

    mutating func apply(_ op: TextOperation) throws {
        pending.append(op)
        var progress = true
        while progress {
            progress = false
            var keep: [TextOperation] = []
            for p in pending {
                if try applyOne(p) { progress = true } else { keep.append(p) }
            }
            pending = keep
        }
    }

    func present(_ id: TextID?) -> Bool { id.map { version.contains($0) } ?? true }

    /// True when applied or a duplicate; false when its dependencies are missing.
    mutating func applyOne(_ op: TextOperation) throws -> Bool {
        let r = op.id.replica
        let have = version[r]
        if op.id.counter + op.length <= have { return true }
        if op.id.counter > have { return false }
        let skip = Int(have - op.id.counter)
        switch op {
        case .insert(let id, let l, let rr, let text):
            let scalars = Array(text.unicodeScalars)
            var left = l
            if skip > 0 { left = TextID(replica: r, counter: have - 1) }
            guard present(left), present(rr) else { return false }
            for k in skip..<scalars.count {
                let cid = TextID(replica: r, counter: id.counter + UInt64(k))
                integrate(Item(id: cid, left: left, right: rr, scalar: scalars[k], deleted: false))
                left = cid
                version[r] = cid.counter + 1
            }
        case .delete(let id, let ranges):
            var ids: [TextID] = []
            for range in ranges {
                for c in range.start..<range.start + range.count { ids.append(TextID(replica: range.replica, counter: c)) }
            }
            ids.removeFirst(skip)
            guard ids.allSatisfy({ version.contains($0) }) else { return false }
            for (k, t) in ids.enumerated() {
                items[index(of: t)].deleted = true
                deleteCounters.insert(TextID(replica: r, counter: id.counter + UInt64(skip + k)))
            }
            version[r] = id.counter + op.length
        }
        return true
    }

    mutating func integrate(_ item: Item) {
        let left = item.left.map { index(of: $0) } ?? -1
        let right = item.right.map { index(of: $0) } ?? items.count
        var dest = left + 1
        var scanning = false
        var i = left + 1
        while true {
            if !scanning { dest = i }
            if i == items.count || i == right { break }
            let other = items[i]
            let oleft = other.left.map { index(of: $0) } ?? -1
            let oright = other.right.map { index(of: $0) } ?? items.count
            if oleft < left || (oleft == left && oright == right && item.id.replica < other.id.replica) { break }
            if oleft == left { scanning = oright < right }
            i += 1
        }
        items.insert(item, at: dest)
    }
}

extension TextDocument {
    /// Every character with its origins, in document order (for comparing with the oracle).
    func expandedItems() -> [NaiveText.Item] {
        var out: [NaiveText.Item] = []
        for run in canonicalRuns() {
            for k in 0..<run.length {
                let id = OriginID(run.replica, run.counter + k)
                let left = k == 0 ? run.left : OriginID(run.replica, run.counter + k - 1)
                out.append(
                    NaiveText.Item(
                        id: publicID(id)!, left: publicID(left), right: publicID(run.right),
                        scalar: arena[Int(run.replica)][Int(run.counter + k)], deleted: run.deleted))
            }
        }
        return out
    }

    /// Internal invariants: chunk counts, count, cursor.
    func checkInvariants() -> String? {
        var total = 0
        for (k, c) in chunks.enumerated() {
            let v = c.runs.reduce(0) { $0 + $1.visibleLength }
            if v != c.visible { return "chunk \(k) visible \(c.visible) != \(v)" }
            if chunkPosition[c.id] != k { return "chunk position of \(c.id)" }
            if c.runs.contains(where: { $0.length == 0 }) { return "empty run" }
            total += v
        }
        if total != count { return "count \(count) != \(total)" }
        if cursorChunk < chunks.count {
            let s = chunks[..<cursorChunk].reduce(0) { $0 + $1.visible }
            if s != cursorStart { return "cursor start \(cursorStart) != \(s)" }
        }
        return nil
    }
}
