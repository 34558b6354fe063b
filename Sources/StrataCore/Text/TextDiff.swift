/// Turning "the text was X, now it is Y" (an `$EDITOR` session) into character operations.
///
/// The diff trims the common prefix and suffix, then runs Myers' O(ND) diff on the lines of the
/// middle, and trims each changed block of lines to the characters that differ. So an editor
/// session that changes two paragraphs yields two small edits, and a concurrent edit elsewhere
/// in the note is untouched. Past `maxLineEdits` differing lines it falls back to one block.

extension TextDocument {
    /// Edits the text into `newText` as `replica`; returns the operations to send, in order.
    @discardableResult
    public mutating func edit(to newText: String, replica: ReplicaID) -> [TextOperation] {
        // A text written into an empty field (a new note) is one insert: no diff to run.
        if count == 0 {
            return insert(newText, at: 0, replica: replica).map { [$0] } ?? []
        }
        let old = visibleScalars()
        let new = Array(newText.unicodeScalars)
        var ops: [TextOperation] = []
        var shift = 0
        for h in TextDiff.hunks(old, new) {
            let pos = h.old.lowerBound + shift
            if let op = delete(range: pos..<pos + h.old.count, replica: replica) { ops.append(op) }
            if !h.new.isEmpty {
                var bytes: [UInt8] = []
                bytes.reserveCapacity(h.new.count)
                UTF8Sink.append(new[h.new], to: &bytes)
                if let op = insert(String(decoding: bytes, as: UTF8.self), at: pos, replica: replica) { ops.append(op) }
            }
            shift += h.new.count - h.old.count
        }
        return ops
    }
}

/// A line-then-character diff of two scalar arrays.
public enum TextDiff {
    /// One replaced block: `old` (in the old text) becomes `new` (in the new text).
    public struct Hunk: Hashable, Sendable {
        public var old: Range<Int>
        public var new: Range<Int>
    }

    public static let maxLineEdits = 4000

    /// Non-overlapping hunks in ascending order; applying them turns `a` into `b`.
    public static func hunks(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> [Hunk] {
        var out: [Hunk] = []
        let whole = trim(a, b, 0..<a.count, 0..<b.count)
        guard let w = whole else { return [] }
        if w.old.isEmpty || w.new.isEmpty {
            return [w]
        }
        // Lines of the middles.
        let la = lines(a, w.old)
        let lb = lines(b, w.new)
        var table: [ArraySlice<Unicode.Scalar>: Int] = [:]
        func code(_ s: ArraySlice<Unicode.Scalar>) -> Int {
            if let c = table[s] { return c }
            table[s] = table.count
            return table.count - 1
        }
        let ca = la.map { code(a[$0]) }
        let cb = lb.map { code(b[$0]) }
        guard let matches = myers(ca, cb, maxD: maxLineEdits) else { return [w] }
        // Gaps between matched lines are changed blocks.
        var i = 0
        var j = 0
        func flush(_ i1: Int, _ j1: Int) {
            guard i < i1 || j < j1 else { return }
            let os = i < la.count ? la[i].lowerBound : w.old.upperBound
            let oe = i1 > i ? la[i1 - 1].upperBound : os
            let ns = j < lb.count ? lb[j].lowerBound : w.new.upperBound
            let ne = j1 > j ? lb[j1 - 1].upperBound : ns
            if let h = trim(a, b, os..<oe, ns..<ne) { out.append(h) }
        }
        for (mi, mj) in matches {
            flush(mi, mj)
            i = mi + 1
            j = mj + 1
        }
        flush(la.count, lb.count)
        return out
    }

    /// Trims the common prefix and suffix of a[ra] and b[rb]; nil when they are equal.
    static func trim(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar], _ ra: Range<Int>, _ rb: Range<Int>) -> Hunk? {
        var lo1 = ra.lowerBound
        var lo2 = rb.lowerBound
        while lo1 < ra.upperBound && lo2 < rb.upperBound && a[lo1] == b[lo2] {
            lo1 += 1
            lo2 += 1
        }
        var hi1 = ra.upperBound
        var hi2 = rb.upperBound
        while hi1 > lo1 && hi2 > lo2 && a[hi1 - 1] == b[hi2 - 1] {
            hi1 -= 1
            hi2 -= 1
        }
        if lo1 == hi1 && lo2 == hi2 { return nil }
        return Hunk(old: lo1..<hi1, new: lo2..<hi2)
    }

    /// The lines of s[r], each with its newline.
    static func lines(_ s: [Unicode.Scalar], _ r: Range<Int>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = r.lowerBound
        for k in r where s[k] == "\n" {
            out.append(start..<k + 1)
            start = k + 1
        }
        if start < r.upperBound { out.append(start..<r.upperBound) }
        return out
    }

    /// Matched index pairs of a longest common subsequence (Myers), ascending; nil past `maxD`.
    static func myers(_ a: [Int], _ b: [Int], maxD: Int) -> [(Int, Int)]? {
        let n = a.count
        let m = b.count
        let limit = min(n + m, maxD)
        let off = limit + 1
        var v = [Int](repeating: 0, count: 2 * limit + 3)
        var trace: [[Int]] = []  // v before step d, for k in -d...d
        for d in 0...limit {
            trace.append(Array(v[(off - d)...(off + d)]))
            for k in stride(from: -d, through: d, by: 2) {
                var x = (k == -d || (k != d && v[off + k - 1] < v[off + k + 1])) ? v[off + k + 1] : v[off + k - 1] + 1
                var y = x - k
                while x < n && y < m && a[x] == b[y] {
                    x += 1
                    y += 1
                }
                v[off + k] = x
                if x >= n && y >= m {
                    // Backtrack.
                    var matches: [(Int, Int)] = []
                    var cx = n
                    var cy = m
                    for dd in stride(from: d, to: 0, by: -1) {
                        let vd = trace[dd]
                        func at(_ k: Int) -> Int { vd[k + dd] }
                        let ck = cx - cy
                        let pk = (ck == -dd || (ck != dd && at(ck - 1) < at(ck + 1))) ? ck + 1 : ck - 1
                        let px = at(pk)
                        let py = px - pk
                        while cx > px && cy > py {
                            cx -= 1
                            cy -= 1
                            matches.append((cx, cy))
                        }
                        cx = px
                        cy = py
                    }
                    while cx > 0 && cy > 0 {
                        cx -= 1
                        cy -= 1
                        matches.append((cx, cy))
                    }
                    return matches.reversed()
                }
            }
        }
        return nil
    }
}
