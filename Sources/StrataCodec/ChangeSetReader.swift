import StrataCore

/// Reads one change set a bounded batch of changes at a time, inflating only as far as the
/// batch needs: the memory a push takes is its compressed bytes, a window of inflated bytes a
/// little longer than the largest change, the tables, and one batch of decoded changes — not
/// every change of the set at once (Protocol/SPEC.md §2; ARCHITECTURE.md, "Memory per request").
///
/// It accepts and refuses exactly what ``ChangeSetCodec/decode(_:limits:)`` does, with the same
/// error: the payload is inflated in the same steps, each change is decoded by the same code
/// over a window of the payload that errors and counts see as the whole, and when the payload
/// is refused the rest of the compressed stream is inflated first, so that damage further on
/// is reported as the whole-buffer decoder (which inflates before it decodes) reports it.
///
/// > Invariant: the set is whole and valid only once ``next(maxChanges:maxBytes:)`` has
/// > returned nil; a caller applying batches as they come must commit only then, and a throw
/// > at any batch (or of its own) must undo every batch before it.
public final class ChangeSetReader {
    /// The format version of the set (1...``ChangeSetCodec/formatVersion``).
    public let formatVersion: UInt8
    /// Bytes of the inflated payload, as the header declares them (checked by the end).
    public let inflatedBytes: Int
    /// Inflated payload bytes decoded so far (tables included).
    public var inflatedBytesRead: Int { pos }

    private let input: [UInt8]
    private let limits: CodecLimits
    private let bodyAt: Int
    private let context: String
    /// Nil for a stored (uncompressed) set: its payload is `input[bodyAt...]`.
    private let inflater: Zlib.Inflater?
    /// Inflated bytes `windowBase..<windowBase + window.count` of the payload.
    private var window: [UInt8] = []
    private var windowBase = 0
    /// The next payload byte to decode.
    private var pos = 0
    private var head: ChangePayload.Head?
    private var decoded = 0
    private var previousTimestamp: UInt64 = 0
    private var finished = false
    private var failure: CodecError?

    /// Inflated bytes added to a short window at a time (at least; a window that is still too
    /// short doubles), so a change decoded again for want of bytes is decoded O(log n) times.
    static let windowStep = 256 << 10

    /// Reads and checks the header (magic, version, flags, declared and compressed sizes); the
    /// payload is read by ``next(maxChanges:maxBytes:)``.
    public init(_ bytes: [UInt8], limits: CodecLimits = .standard) throws(CodecError) {
        input = bytes
        self.limits = limits
        context = ChangeSetCodec.payloadContext(nil)
        let h = try bytes.withUnsafeBufferPointer { buf throws(CodecError) in
            var r = ByteReader(buf, what: "change set", endIsTruncation: true)
            return try ChangeSetCodec.header(&r, limits: limits)
        }
        formatVersion = h.version
        inflatedBytes = h.declared
        bodyAt = h.bodyAt
        inflater = h.isCompressed ? try Zlib.Inflater.start(declared: h.declared, offset: h.bodyAt, total: bytes.count, context: nil).get() : nil
    }

    /// Up to `maxChanges` more changes, fewer when they take more than `maxBytes` of the
    /// inflated payload (at least one while any remain); nil once every change was returned
    /// and the set was checked to its end (trailing bytes, the compressed stream's end and
    /// length). After a throw, every call throws the same error.
    public func next(maxChanges: Int = 1000, maxBytes: Int = 256 << 10) throws(CodecError) -> [Change]? {
        if let failure { throw failure }
        if finished { return nil }
        do throws(CodecError) {
            let head: ChangePayload.Head
            if let h = self.head { head = h } else { head = try readHead() }
            if decoded == head.count {
                try checkEnd()
                finished = true
                window = []
                return nil
            }
            var batch: [Change] = []
            let start = pos
            while decoded < head.count && batch.count < max(1, maxChanges) && (batch.isEmpty || pos - start < maxBytes) {
                // Each attempt starts from the timestamp before the change: one cut short by the
                // window has already moved its copy.
                let before = previousTimestamp
                let (c, previous) = try attempt { (r: inout ByteReader) throws(CodecError) in
                    var previous = before
                    let c = try ChangePayload.decodeChange(&r, head, previous: &previous, limits: limits, version: formatVersion)
                    return (c, previous)
                }
                previousTimestamp = previous
                batch.append(c)
                decoded += 1
            }
            dropDecodedBytes()
            return batch
        } catch {
            let settled = settle(error)
            failure = settled
            window = []
            throw settled
        }
    }

    private func readHead() throws(CodecError) -> ChangePayload.Head {
        let h = try attempt { (r: inout ByteReader) throws(CodecError) in try ChangePayload.decodeHead(&r, limits: limits) }
        head = h
        return h
    }

    /// Runs `body` over the payload from `pos` to the end of what is inflated, again over a
    /// longer window each time it needs bytes past the window; on success moves `pos` past what
    /// it read.
    private func attempt<T>(_ body: (inout ByteReader) throws(CodecError) -> T) throws(CodecError) -> T {
        while true {
            let result: Result<(T, Int), CodecError> = withWindow { buf in
                var r = ByteReader(window: buf, at: pos, of: inflatedBytes, what: "payload", context: context)
                do throws(CodecError) { return .success((try body(&r), r.position)) } catch { return .failure(error) }
            }
            switch result {
            case .success(let (value, read)):
                pos += read
                return value
            case .failure(let e) where e.kind == .needsMoreInput:
                try extendWindow()
            case .failure(let e):
                throw e
            }
        }
    }

    /// The payload from `pos` to the end of what is inflated.
    private func withWindow<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if inflater == nil {
            return input.withUnsafeBufferPointer { buf in
                body(UnsafeBufferPointer(rebasing: buf[(bodyAt + pos)..<(bodyAt + inflatedBytes)]))
            }
        }
        return window.withUnsafeBufferPointer { buf in body(UnsafeBufferPointer(rebasing: buf[(pos - windowBase)...])) }
    }

    /// Inflates at least `windowStep` more bytes, or as many as the window already holds past
    /// `pos` (doubling it), or to the end.
    private func extendWindow() throws(CodecError) {
        guard let inflater, !inflater.ended else {
            preconditionFailure("ChangeSetReader: a decode over the whole payload asked for more bytes")
        }
        let target = windowBase + window.count + max(Self.windowStep, windowBase + window.count - pos)
        try input.withUnsafeBufferPointer { buf throws(CodecError) in
            let body = UnsafeBufferPointer(rebasing: buf[bodyAt...])
            while windowBase + window.count < target {
                if try inflater.step(body, appendingTo: &window).get() { return }
            }
        }
    }

    /// Forgets the inflated bytes before `pos`.
    private func dropDecodedBytes() {
        guard inflater != nil, pos > windowBase else { return }
        window.removeSubrange(0..<(pos - windowBase))
        windowBase = pos
    }

    /// After the last change: the compressed stream must end where it has to (checked first,
    /// as the whole-buffer decoder inflates before decoding), then the payload with the changes.
    private func checkEnd() throws(CodecError) {
        try drain()
        if pos < inflatedBytes {
            throw CodecError(.trailingBytes(count: inflatedBytes - pos, what: "payload"), offset: pos, total: inflatedBytes, context: context)
        }
    }

    /// Inflates the rest of the stream, keeping none of it, to find damage past `pos`.
    private func drain() throws(CodecError) {
        guard let inflater, !inflater.ended else { return }
        var scratch: [UInt8] = []
        scratch.reserveCapacity(Zlib.Inflater.chunkSize)
        try input.withUnsafeBufferPointer { buf throws(CodecError) in
            let body = UnsafeBufferPointer(rebasing: buf[bodyAt...])
            while true {
                scratch.removeAll(keepingCapacity: true)
                if try inflater.step(body, appendingTo: &scratch).get() { return }
            }
        }
    }

    /// The error to report for `error`: a failure of the compressed stream, anywhere in it,
    /// comes before one of the payload.
    private func settle(_ error: CodecError) -> CodecError {
        guard let inflater, !inflater.failed else { return error }
        do throws(CodecError) { try drain() } catch let damage { return damage }
        return error
    }
}
