/// The characters one replica inserted into a text, found by counter.
///
/// A replica's counters are consumed by its inserts (one per character) and by its deletes (one
/// per character named). Only characters are stored: the counters of consecutive characters form
/// a segment, so the storage is the replica's inserted text plus one entry per stretch of
/// inserts, however many counters its deletes consumed. (Keeping a placeholder per delete
/// counter, as this type replaced, let a delete of a few bytes that names a long text again and
/// again grow memory by four bytes per character named, without bound.)
///
/// Characters are appended in counter order (an insert applies at its replica's next counter,
/// and a decoded document appends its runs sorted by counter). A run never spans two segments:
/// its counters are consecutive characters, and two segments are separated by delete counters.
struct TextArena: Sendable {
    /// Every character, in counter order.
    private(set) var scalars: [Unicode.Scalar] = []
    /// First counter of each segment, ascending.
    private var starts: [UInt32] = []
    /// Where each segment starts in `scalars`.
    private var offsets: [UInt32] = []

    init() {}

    /// An arena holding `scalars`, the characters of `runs` (counter, length), which are in
    /// ascending counter order and do not overlap; their lengths add up to `scalars.count`.
    init(scalars: ArraySlice<Unicode.Scalar>, runs: some Sequence<(UInt32, UInt32)>) {
        self.scalars = Array(scalars)
        var stored: UInt32 = 0
        var end: UInt32? = nil
        for (counter, length) in runs {
            precondition(end.map { counter >= $0 } ?? true, "text arena: characters out of counter order")
            if counter != end {
                starts.append(counter)
                offsets.append(stored)
            }
            stored += length
            end = counter + length
        }
        precondition(Int(stored) == scalars.count, "text arena: runs and characters differ in length")
    }

    /// Characters stored.
    var count: Int { scalars.count }

    /// The counter after the last character stored (0 when empty).
    private var end: UInt32 {
        guard let s = starts.last, let o = offsets.last else { return 0 }
        return s + (UInt32(scalars.count) - o)
    }

    /// Stores `characters` at counters `counter...`, which must be past every stored one.
    mutating func append(_ characters: some Collection<Unicode.Scalar>, at counter: UInt32) {
        guard !characters.isEmpty else { return }
        if starts.isEmpty || counter != end {
            precondition(starts.isEmpty || counter > end, "text arena: characters out of counter order")
            starts.append(counter)
            offsets.append(UInt32(scalars.count))
        }
        scalars.append(contentsOf: characters)
    }

    /// Index in `scalars` of the character at `counter`, which must be stored.
    private func position(_ counter: UInt32) -> Int {
        var k = starts.count - 1
        if counter < starts[k] {  // not the last segment (where typing and recent text are)
            var lo = 0
            var hi = k - 1
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                if starts[mid] <= counter { lo = mid } else { hi = mid - 1 }
            }
            k = lo
        }
        let p = Int(offsets[k]) + Int(counter - starts[k])
        assert(counter >= starts[k] && p < (k + 1 < offsets.count ? Int(offsets[k + 1]) : scalars.count), "text arena: not a character")
        return p
    }

    /// The character at `counter`.
    subscript(_ counter: Int) -> Unicode.Scalar { scalars[position(UInt32(counter))] }

    /// The characters at `counters`: consecutive characters (one run's).
    subscript(_ counters: Range<Int>) -> ArraySlice<Unicode.Scalar> {
        guard !counters.isEmpty else { return scalars[0..<0] }
        let p = position(UInt32(counters.lowerBound))
        return scalars[p..<p + counters.count]
    }
}
