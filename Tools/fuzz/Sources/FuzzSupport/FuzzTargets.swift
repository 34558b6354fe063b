#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import StrataCodec
import StrataCore

/// What each fuzz target checks, beyond "does not crash": a decoded value re-encodes to bytes
/// that decode to the same value (and re-encode to the same bytes), the decoded value respects
/// the caps it was decoded under, and every failure is a ``CodecError`` with a known code and a
/// one-line message. A broken property aborts, which libFuzzer reports as a crash and saves
/// the input.
public enum FuzzTargets {
    /// Caps small enough for the fuzzer to reach them (the standard ones are megabytes).
    public static let limits = CodecLimits(
        maxInflatedBytes: 1 << 20, maxCompressedBytes: 1 << 20, maxChanges: 256, maxOperationsPerChange: 64,
        maxStringBytes: 4096, maxPreds: 16, maxTableEntries: 256, maxVersionVectorEntries: 32, maxChangeSetsPerBundle: 16,
        maxBundleInflatedBytes: 2 << 20)
    /// Text caps for the document target (the default allows 16 M counters).
    public static let textLimits = TextLimits(maxCounters: 1 << 16, maxReplicas: 64)
    /// The record id the record-state target decodes under (the id is the row key, not in the bytes).
    public static let recordID = RecordID(high: 0x0193_6A5B_C000_7123, low: 0x8123_4567_89AB_CDEF)

    /// STRATA_FUZZ_VERBOSE=1: print why each input was rejected (to look at one input).
    static let verbose = getenv("STRATA_FUZZ_VERBOSE") != nil

    static let knownCodes: Set<String> = [
        "truncated", "malformed", "bad-magic", "unsupported-version", "unsupported-flags", "unsupported-value", "too-large",
        "corrupt-compression", "length-mismatch", "trailing-bytes", "checksum-mismatch", "invalid-utf8", "index-out-of-range",
        "overlong-varint", "invalid-change",
    ]

    // MARK: - targets

    /// First byte selects the mode: 0 the bytes are a change set; 1 and 2 they are a raw payload,
    /// wrapped here as a stored (uncompressed) change set of format 1 or 2, so mutations reach the
    /// payload parser instead of dying on the zlib checksum.
    public static func changeSet(_ input: [UInt8]) {
        guard let mode = input.first else {
            expectFailure { () throws(CodecError) in _ = try ChangeSetCodec.decode(input, limits: limits) }
            return
        }
        let body = Array(input.dropFirst())
        let bytes = mode % 3 == 0 ? body : storedChangeSet(payload: body, version: mode % 3)
        let changes: [Change]
        do throws(CodecError) { changes = try ChangeSetCodec.decode(bytes, limits: limits) } catch {
            check(error)
            readerAgrees(bytes, .failure(error), batching: mode / 3)
            return
        }
        readerAgrees(bytes, .success(changes), batching: mode / 3)
        checkBounds(changes, limits)
        // Caps are monotone: what decodes under small caps decodes the same under the standard ones.
        guard let standard = try? ChangeSetCodec.decode(bytes) else { fail("decodes under small caps, not under the standard ones") }
        require(same(standard, changes), "standard caps decode differently")
        let encoded = ChangeSetCodec.encode(changes)
        let back: [Change]
        do { back = try ChangeSetCodec.decode(encoded) } catch { fail("re-encoded change set does not decode: \(error)") }
        require(same(back, changes), "change set round trip changed the changes")
        require(ChangeSetCodec.encode(back) == encoded, "change set re-encoding is not stable")
        // Format: the lowest that holds the changes.
        let needsText = changes.contains { $0.operations.contains { if case .editText = $0.action { true } else { false } } }
        require(encoded[4] == (needsText ? 2 : 1), "wrote format \(encoded[4])")
    }

    /// The streaming reader (``ChangeSetReader``, what a server's push uses) returns what the
    /// whole-buffer decoder returned, or fails with the same error (kind, offset, context), in
    /// batches of the bounds `batching` picks (the mode byte's upper part).
    static func readerAgrees(_ bytes: [UInt8], _ whole: Result<[Change], CodecError>, batching: UInt8) {
        let maxChanges = Int(batching % 5) + 1
        let maxBytes = [1, 64, 4096, 1 << 20][Int(batching / 5) % 4]
        let streamed: Result<[Change], CodecError>
        do throws(CodecError) {
            let reader = try ChangeSetReader(bytes, limits: limits)
            var all: [Change] = []
            while let batch = try reader.next(maxChanges: maxChanges, maxBytes: maxBytes) {
                require(!batch.isEmpty && batch.count <= maxChanges, "a batch of \(batch.count) for a bound of \(maxChanges)")
                all += batch
            }
            streamed = .success(all)
        } catch { streamed = .failure(error) }
        switch (whole, streamed) {
        case (.success(let a), .success(let b)): require(same(a, b), "the streaming reader decodes differently")
        case (.failure(let a), .failure(let b)): require(a == b, "the streaming reader fails differently: \(a) / \(b)")
        case (.success, .failure(let e)): fail("the streaming reader refuses what the decoder accepts: \(e)")
        case (.failure(let e), .success): fail("the streaming reader accepts what the decoder refuses: \(e)")
        }
    }

    /// First byte selects the mode: 0 the bytes are a bundle file; 1 they are a bundle without
    /// its checksum: the total length and CRC-32 are fixed up here, so mutations get past the
    /// checksum to the header and frames.
    public static func bundle(_ input: [UInt8]) {
        guard let mode = input.first else {
            expectFailure { () throws(CodecError) in _ = try BundleCodec.decode(input, limits: limits) }
            return
        }
        var bytes = Array(input.dropFirst())
        if mode & 1 == 1 && bytes.count >= 14 {
            let total = UInt64(bytes.count + 4)
            for i in 0..<8 { bytes[6 + i] = UInt8(truncatingIfNeeded: total >> (8 * UInt64(i))) }
            let crc = crc32(bytes)
            for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i)))) }
        }
        let b: StrataCodec.Bundle
        do { b = try BundleCodec.decode(bytes, limits: limits) } catch {
            check(error)
            return
        }
        require(b.changes.count <= limits.maxChanges, "bundle holds \(b.changes.count) changes")
        require(b.senderAuthor.utf8.count <= limits.maxStringBytes, "sender author too long")
        require(b.senderVersion.entries.count <= limits.maxVersionVectorEntries, "sender version too long")
        checkBounds(b.changes, limits, perSet: false)
        guard let standard = try? BundleCodec.decode(bytes) else { fail("decodes under small caps, not under the standard ones") }
        require(sameBundle(standard, b), "standard caps decode differently")
        for maxSet in [200, 4 << 20] {
            let encoded = BundleCodec.encode(b, maxChangeSetBytes: maxSet)
            let back: StrataCodec.Bundle
            do { back = try BundleCodec.decode(encoded) } catch { fail("re-encoded bundle does not decode: \(error)") }
            require(sameBundle(back, b), "bundle round trip changed it")
            require(BundleCodec.encode(back, maxChangeSetBytes: maxSet) == encoded, "bundle re-encoding is not stable")
        }
    }

    /// One stored change (the store's log column); always the standard caps.
    public static func change(_ input: [UInt8]) {
        let c: Change
        do { c = try ChangeCodec.decode(input) } catch {
            check(error)
            return
        }
        checkBounds([c], .standard)
        do { try c.validate() } catch { fail("decoded change breaks Change.validate(): \(error)") }
        let encoded = ChangeCodec.encode(c)
        let back: Change
        do { back = try ChangeCodec.decode(encoded) } catch { fail("re-encoded change does not decode: \(error)") }
        require(same([back], [c]), "change round trip changed it")
        require(ChangeCodec.encode(back) == encoded, "change re-encoding is not stable")
        // The stored form is canonical but for unused table entries: when the input has none
        // (its length matches), it must come back byte for byte.
        if encoded.count == input.count && input.first == encoded.first {
            require(encoded == input, "a canonical-size stored change re-encodes differently")
        }
    }

    /// One materialised record state (the store's `records.doc`).
    public static func recordState(_ input: [UInt8]) {
        let s: RecordState
        do { s = try RecordStateCodec.decode(input, id: recordID) } catch {
            check(error)
            return
        }
        // Record states take no cap but their bytes (CodecLimits.bytesOnly: merging is not
        // capped), so what was decoded must fit in them: a key takes at least 4 bytes, a live
        // value 5, a pending id 2.
        var live = 0
        var pending = 0
        for (key, ks) in s.keys {
            require(key.element.utf8.count <= input.count, "element longer than the input")
            live += ks.live.count
            pending += ks.pending.count
        }
        require(s.keys.count * 4 + live * 5 + pending * 2 <= input.count, "more decoded than the bytes hold")
        let encoded = RecordStateCodec.encode(s)
        let back: RecordState
        do { back = try RecordStateCodec.decode(encoded, id: recordID) } catch {
            fail("re-encoded record state does not decode: \(error)")
        }
        require(RecordStateCodec.encode(back) == encoded, "record state re-encoding is not stable")
        require(back.keys.count == s.keys.count && Set(back.keys.keys) == Set(s.keys.keys), "keys changed")
        require(Set(back.texts.keys) == Set(s.texts.keys), "text fields changed")
        for (name, t) in s.texts {
            require(back.texts[name]!.document.string == t.document.string, "text of \(name) changed")
            require(back.texts[name]!.lastEdits == t.lastEdits, "text marks of \(name) changed")
        }
        for (key, ks) in s.keys {
            let b = back.keys[key]!
            require(b.pending == ks.pending, "pending of \(key) changed")
            require(b.live.count == ks.live.count, "live values of \(key) changed")
            for (x, y) in zip(b.live, ks.live) {
                require(x.change == y.change && x.timestamp == y.timestamp && bytes(x.author) == bytes(y.author)
                    && same(x.value, y.value), "live value of \(key) changed")
            }
        }
        // Derived views must not trap on whatever the decoder accepted.
        _ = s.kind
        _ = s.tags
        _ = s.fields
        _ = s.conflictedKeys
        _ = s.deleteConflict
        _ = s.lastModified
    }

    public static func pullRequest(_ input: [UInt8]) {
        let m: PullRequest
        do { m = try SyncCodec.decodePullRequest(input, limits: limits) } catch {
            check(error)
            return
        }
        require(m.version.entries.count <= limits.maxVersionVectorEntries, "version too long")
        require(m.maxBatchBytes >= 0 && m.maxBatchBytes <= Int(Int32.max), "batch bound \(m.maxBatchBytes)")
        let encoded = SyncCodec.encode(m)
        let back: PullRequest
        do { back = try SyncCodec.decodePullRequest(encoded) } catch { fail("re-encoded pull request does not decode: \(error)") }
        require(back == m, "pull request round trip changed it")
        // The message is canonical (minimal varints, sorted version) but for the clamped bound.
        if m.maxBatchBytes < Int(Int32.max) { require(encoded == input, "pull request re-encodes differently") }
    }

    public static func pullResponse(_ input: [UInt8]) {
        let m: PullResponse
        do { m = try SyncCodec.decodePullResponse(input, limits: limits) } catch {
            check(error)
            return
        }
        require(m.version.entries.count <= limits.maxVersionVectorEntries, "version too long")
        require(m.more == (m.remaining > 0), "more flag")
        checkBounds(m.changes, limits)
        let encoded = SyncCodec.encode(m)
        let back: PullResponse
        do { back = try SyncCodec.decodePullResponse(encoded) } catch { fail("re-encoded pull response does not decode: \(error)") }
        require(back.replica == m.replica && back.version == m.version && back.remaining == m.remaining, "header changed")
        require(same(back.changes, m.changes), "pull response round trip changed the changes")
        require(SyncCodec.encode(back) == encoded, "pull response re-encoding is not stable")
    }

    /// A long-text document (`STXT`), as kept inside record states.
    public static func textDocument(_ input: [UInt8]) {
        let d: TextDocument
        do { d = try TextDocumentCodec.decode(input, limits: textLimits) } catch { return }
        let text = d.string
        let scalars = text.unicodeScalars.count
        require(scalars <= textLimits.maxCounters, "\(scalars) characters")
        let encoded = TextDocumentCodec.encode(d)
        let back: TextDocument
        do { back = try TextDocumentCodec.decode(encoded, limits: textLimits) } catch {
            fail("re-encoded text document does not decode: \(error)")
        }
        require(TextDocumentCodec.encode(back) == encoded, "text document re-encoding is not stable")
        require(back.string == text, "text changed in the round trip")
        require(back.version == d.version, "version changed in the round trip")
        // A decoded document must be usable: positions map to ids, edits apply, the result encodes.
        var edited = d
        if scalars > 0 { require(edited.id(at: scalars - 1) != nil, "no id at the last position") }
        _ = edited.insert("ab", at: scalars / 2, replica: editor)
        if scalars > 0 { _ = edited.delete(range: 0..<min(scalars, 3), replica: editor) }
        do { _ = try TextDocumentCodec.decode(TextDocumentCodec.encode(edited), limits: TextLimits()) } catch {
            fail("an edited decoded document does not decode: \(error)")
        }
        _ = d.operations()
    }

    /// A photo's head (`EXIF.metadata`) and the whole file (`EXIF.strippingLocation`). Reading:
    /// a known code and a one-line message, or metadata that passes `AttachmentRef.problem`.
    /// Stripping: a known code, or a file no longer than the input whose reading has no
    /// position. (Stripping a hostile block can change its other tags: a GPS IFD may overlap
    /// them, and its bytes are zeroed.)
    public static func exif(_ input: [UInt8]) {
        let read = EXIF.metadata(of: input)
        switch read {
        case .success(let m):
            let ref = AttachmentRef(hash: BlobHash(bytes: [UInt8](repeating: 0, count: 32))!, size: 1, mediaType: "image/jpeg", name: "p.jpg", photo: m)
            if let p = ref.problem { fail("metadata the reader gave is refused by AttachmentRef: \(p)") }
        case .failure(let e): checkEXIF(e)
        }
        do {
            let out = try EXIF.strippingLocation(input)
            require(out.count <= input.count, "stripping grew the file")
            switch EXIF.metadata(of: out) {
            case .success(let m): require(m.location == nil, "a position survived stripping")
            case .failure(let e): checkEXIF(e)
            }
        } catch {
            require(exifCodes.contains(error.code) || error.code == "unsupported-format", "unknown strip code \(error.code)")
            require(!error.description.isEmpty && !error.description.contains("\n"), "strip message not one line")
        }
    }

    static let exifCodes: Set<String> = ["truncated", "malformed", "too-large", "bad-value"]

    static func checkEXIF(_ e: EXIFError) {
        if verbose {
            let line = "rejected: \(e.code): \(e.description.debugDescription)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
        require(exifCodes.contains(e.code), "unknown EXIF error code \(e.code)")
        require(!e.description.isEmpty && !e.description.contains("\n"), "EXIF message empty or not one line")
    }

    static let editor = ReplicaID(high: 0xFFFF_FFFF_FFFF_FFFF, low: 0xFFFF_FFFF_FFFF_FFF0)

    // MARK: - checks

    static func checkBounds(_ changes: [Change], _ l: CodecLimits, perSet: Bool = true) {
        if perSet { require(changes.count <= l.maxChanges, "\(changes.count) changes") }
        for c in changes {
            require(!c.operations.isEmpty && c.operations.count <= l.maxOperationsPerChange, "\(c.operations.count) operations")
            require(c.id.seq > 0, "seq 0")
            require(c.author.utf8.count <= l.maxStringBytes, "author too long")
            for op in c.operations {
                require(op.preds.count <= l.maxPreds, "\(op.preds.count) preds")
                require(op.key.field.utf8.count <= l.maxStringBytes && op.key.element.utf8.count <= l.maxStringBytes, "key too long")
                switch op.action {
                case .assign(.text(let s)): require(s.utf8.count <= l.maxStringBytes, "text value too long")
                case .assign(.deletion(let vv)): require(vv.entries.count <= l.maxVersionVectorEntries, "deletion vector too long")
                case .editText(let edits):
                    require(!edits.isEmpty && edits.count <= l.maxOperationsPerChange, "\(edits.count) text operations")
                    for e in edits {
                        switch e {
                        case .insert(_, _, _, let s): require(!s.isEmpty && s.utf8.count <= l.maxStringBytes, "insert too long")
                        case .delete(_, let ranges):
                            require(!ranges.isEmpty && ranges.count <= l.maxOperationsPerChange, "\(ranges.count) ranges")
                        }
                    }
                default: break
                }
            }
        }
    }

    /// A decoding failure: a known code and a one-line message.
    static func check(_ e: CodecError) {
        if verbose {
            let line = "rejected: \(e.code): \(e.description.debugDescription)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
        }
        require(knownCodes.contains(e.code), "unknown error code \(e.code)")
        let d = e.description
        require(!d.isEmpty && !d.contains("\n"), "error message is empty or not one line: \(d.debugDescription)")
    }

    static func expectFailure(_ f: () throws(CodecError) -> Void) {
        do {
            try f()
            fail("empty input decoded")
        } catch { check(error) }
    }

    // MARK: - byte-exact comparison (String == is canonical equivalence; reals compare by bits)

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func same(_ a: FieldValue, _ b: FieldValue) -> Bool {
        switch (a, b) {
        case (.text(let x), .text(let y)): return bytes(x) == bytes(y)
        case (.real(let x), .real(let y)): return x.bitPattern == y.bitPattern
        case (.location(let x), .location(let y)):
            return x.latitude.bitPattern == y.latitude.bitPattern && x.longitude.bitPattern == y.longitude.bitPattern
                && x.accuracyMetres?.bitPattern == y.accuracyMetres?.bitPattern
        default: return a == b
        }
    }

    static func same(_ a: TextOperation, _ b: TextOperation) -> Bool {
        switch (a, b) {
        case (.insert(let i, let l, let r, let s), .insert(let i2, let l2, let r2, let s2)):
            return i == i2 && l == l2 && r == r2 && bytes(s) == bytes(s2)
        default: return a == b
        }
    }

    static func same(_ a: [Change], _ b: [Change]) -> Bool {
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) {
            guard x.id == y.id, x.timestamp == y.timestamp, bytes(x.author) == bytes(y.author),
                x.operations.count == y.operations.count
            else { return false }
            for (o, p) in zip(x.operations, y.operations) {
                guard o.record == p.record, bytes(o.key.field) == bytes(p.key.field),
                    bytes(o.key.element) == bytes(p.key.element), o.preds == p.preds
                else { return false }
                switch (o.action, p.action) {
                case (.retract, .retract): continue
                case (.assign(let v), .assign(let w)): if !same(v, w) { return false }
                case (.editText(let e), .editText(let f)):
                    if e.count != f.count || !zip(e, f).allSatisfy({ same($0, $1) }) { return false }
                default: return false
                }
            }
        }
        return true
    }

    static func sameBundle(_ a: StrataCodec.Bundle, _ b: StrataCodec.Bundle) -> Bool {
        a.sender == b.sender && bytes(a.senderAuthor) == bytes(b.senderAuthor) && a.senderVersion == b.senderVersion
            && a.createdAtMillis == b.createdAtMillis && same(a.changes, b.changes)
    }

    // MARK: - helpers

    /// A stored (flags 0) change set around a raw payload.
    public static func storedChangeSet(payload: [UInt8], version: UInt8) -> [UInt8] {
        var out = ChangeSetCodec.magic + [version, 0]
        var n = UInt64(payload.count)
        while n >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: n) | 0x80)
            n >>= 7
        }
        out.append(UInt8(n))
        return out + payload
    }

    static let crcTable: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 (ISO-HDLC), as the bundle checksum.
    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

@inline(never)
func fail(_ what: String) -> Never {
    let line = "FUZZ PROPERTY FAILED: \(what)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    abort()
}

@inline(__always)
func require(_ condition: Bool, _ what: @autoclosure () -> String) {
    if !condition { fail(what()) }
}
