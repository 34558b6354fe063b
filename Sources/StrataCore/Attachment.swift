/// The SHA-256 digest of a blob's bytes: an attachment's identity. Two files with the same
/// bytes are one blob, stored and sent once.
public struct BlobHash: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// 64 lowercase hex digits (uppercase is accepted too).
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(32)
        var i = 0
        while i < 64 {
            guard let hi = Self.nibble(utf8[i]), let lo = Self.nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        bytes = out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// 64 lowercase hex digits: the set element of the attachment and the blob's name on the wire.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The first 12 hex digits, for people.
    public var short: String { String(hex.prefix(12)) }

    public var description: String { hex }

    public static func < (a: BlobHash, b: BlobHash) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

/// What a photo says about itself (EXIF), kept with its attachment so it can be shown and
/// searched without the bytes.
public struct PhotoMetadata: Hashable, Sendable {
    /// When it was taken, as the camera wrote it: `YYYY-MM-DDTHH:MM:SS`, followed by the
    /// offset (`+03:00`) when the camera recorded one. Camera clocks have no zone otherwise.
    public var takenAt: String?
    /// Where it was taken (GPS). Site coordinates are sensitive: `--strip-location` leaves
    /// them out of the stored copy and of this value.
    public var location: Location?
    /// EXIF orientation, 1 to 8 (1 is upright).
    public var orientation: UInt8?
    /// Camera make and model, e.g. `Canon EOS 80D`.
    public var camera: String?

    public init(takenAt: String? = nil, location: Location? = nil, orientation: UInt8? = nil, camera: String? = nil) {
        self.takenAt = takenAt
        self.location = location
        self.orientation = orientation
        self.camera = camera
    }

    public var isEmpty: Bool { takenAt == nil && location == nil && orientation == nil && camera == nil }

    /// The same without the position.
    public var withoutLocation: PhotoMetadata {
        var m = self
        m.location = nil
        return m
    }
}

/// An attachment as a record holds it: the reference to a blob and what is known of it. The
/// bytes move separately (after the records, and only where a remote's policy wants them).
///
/// Held as the value of the set element `att[<hash hex>]` of its record: attaching assigns it,
/// detaching retracts it (add wins, as for tags), and editing the caption assigns it again
/// with the new caption, superseding the values seen — so two concurrent captions are a
/// conflict shown to the researcher, like any field.
public struct AttachmentRef: Hashable, Sendable {
    public var hash: BlobHash
    /// The blob's size in bytes.
    public var size: UInt64
    /// `type/subtype`, lowercase, e.g. `image/jpeg`, `application/pdf`.
    public var mediaType: String
    /// The file's name when it was attached (a name, never a path).
    public var name: String
    /// What the researcher says it shows; may be empty.
    public var caption: String
    /// EXIF metadata (empty when the file has none).
    public var photo: PhotoMetadata

    public init(
        hash: BlobHash, size: UInt64, mediaType: String, name: String, caption: String = "",
        photo: PhotoMetadata = PhotoMetadata()
    ) {
        self.hash = hash
        self.size = size
        self.mediaType = mediaType
        self.name = name
        self.caption = caption
        self.photo = photo
    }

    /// The largest blob a reference may describe (2^53, so every size is exact in JSON).
    public static let maxSize: UInt64 = 1 << 53
    public static let maxNameBytes = 255
    public static let maxMediaTypeBytes = 127
    public static let maxCaptionBytes = 4096
    public static let maxCameraBytes = 255
    public static let maxTakenAtBytes = 64

    /// Why `name` cannot be an attachment's name, or nil when it can: 1 to 255 UTF-8 bytes, not
    /// `.` or `..`, no path separator (`/`, `\`), no control character, no bidirectional
    /// control (a name like `photo<RLO>gpj.exe` would display as something it is not).
    public static func problem(withName name: String) -> String? {
        let bytes = name.utf8.count
        if bytes == 0 { return "is empty" }
        if bytes > maxNameBytes { return "is \(bytes) bytes long; the limit is \(maxNameBytes)" }
        if name == "." || name == ".." { return "is \(name), which names a folder" }
        for s in name.unicodeScalars {
            if s == "/" || s == "\\" { return "contains a path separator (\(s))" }
            if isControl(s) { return "contains a control character (U+\(hex4(s)))" }
            if isBidiControl(s) { return "contains a bidirectional control character (U+\(hex4(s)))" }
        }
        return nil
    }

    /// Why `type` cannot be a media type, or nil: `type/subtype` of lowercase RFC 6838 name
    /// characters, at most 127 bytes, no parameters.
    public static func problem(withMediaType type: String) -> String? {
        let bytes = Array(type.utf8)
        guard bytes.count <= maxMediaTypeBytes else { return "is longer than \(maxMediaTypeBytes) bytes" }
        let parts = bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return "is not of the form type/subtype" }
        for part in parts {
            guard let first = part.first, isAlnumLower(first) else { return "must start each part with a letter or digit" }
            for c in part where !(isAlnumLower(c) || Array("!#$&-^_.+".utf8).contains(c)) {
                return "contains \(c < 0x80 && c >= 0x20 ? "'\(Character(Unicode.Scalar(c)))'" : "a byte \(c)"), which a media type does not hold (lowercase letters, digits and !#$&-^_.+)"
            }
        }
        return nil
    }

    /// Why `caption` cannot be a caption, or nil: at most 4096 bytes, no control characters
    /// other than line breaks and tabs, no bidirectional controls.
    public static func problem(withCaption caption: String) -> String? {
        let bytes = caption.utf8.count
        if bytes > maxCaptionBytes { return "is \(bytes) bytes long; the limit is \(maxCaptionBytes)" }
        for s in caption.unicodeScalars where s != "\n" && s != "\t" {
            if isControl(s) { return "contains a control character (U+\(hex4(s)))" }
            if isBidiControl(s) { return "contains a bidirectional control character (U+\(hex4(s)))" }
        }
        return nil
    }

    /// The first thing wrong with this reference, or nil. Decoders and the store check it.
    public var problem: String? {
        if size > Self.maxSize { return "its size \(size) is over 2^53 bytes" }
        if let p = Self.problem(withName: name) { return "its name \(p)" }
        if let p = Self.problem(withMediaType: mediaType) { return "its media type \(p)" }
        if let p = Self.problem(withCaption: caption) { return "its caption \(p)" }
        if let t = photo.takenAt {
            if t.utf8.count > Self.maxTakenAtBytes || t.isEmpty { return "its time taken is empty or over \(Self.maxTakenAtBytes) bytes" }
            if t.unicodeScalars.contains(where: { Self.isControl($0) || Self.isBidiControl($0) }) { return "its time taken holds control characters" }
        }
        if let c = photo.camera {
            if c.utf8.count > Self.maxCameraBytes || c.isEmpty { return "its camera name is empty or over \(Self.maxCameraBytes) bytes" }
            if c.unicodeScalars.contains(where: { Self.isControl($0) || Self.isBidiControl($0) }) { return "its camera name holds control characters" }
        }
        if let o = photo.orientation, !(1...8).contains(o) { return "its orientation \(o) is not 1 to 8" }
        if let l = photo.location {
            guard l.latitude.isFinite, l.longitude.isFinite, abs(l.latitude) <= 90, abs(l.longitude) <= 180 else {
                return "its position is not a latitude in -90...90 and a longitude in -180...180"
            }
            if let a = l.accuracyMetres, !(a.isFinite && a >= 0) { return "its position's accuracy is not a distance" }
        }
        return nil
    }

    public static func isControl(_ s: Unicode.Scalar) -> Bool { s.value < 0x20 || (0x7F...0x9F).contains(s.value) }

    public static func isBidiControl(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x061C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    private static func isAlnumLower(_ c: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(c) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c)
    }

    private static func hex4(_ s: Unicode.Scalar) -> String {
        let h = String(s.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - h.count)) + h
    }
}

/// One attachment of a record as the record's state holds it.
public struct AttachmentState: Hashable, Sendable {
    /// The displayed reference: the live value that wins (greatest timestamp, replica, seq).
    public var ref: AttachmentRef
    /// Every live value (more than one when two researchers attached it, or captioned it, at
    /// the same time), winner first.
    public var values: [LiveValue]
    /// When it was first attached among the live values: attachments are listed in this order.
    public var attachedAt: HybridTimestamp

    /// What full-text search finds it by: name, caption, camera, time taken (every live value's).
    public var searchableText: String {
        var words: [String] = []
        for v in values {
            guard case .attachment(let r) = v.value else { continue }
            for w in [r.name, r.caption, r.photo.camera ?? "", r.photo.takenAt ?? ""] where !w.isEmpty && !words.contains(w) {
                words.append(w)
            }
        }
        return words.joined(separator: " ")
    }

    /// True when the live values disagree (two captions, say): a person resolves it by
    /// writing the caption again.
    public var isConflicted: Bool {
        guard let first = values.first?.value else { return false }
        return values.dropFirst().contains { $0.value != first }
    }
}

extension RecordState {
    /// The record's attachments in the order they were attached (then by hash). `strata`
    /// numbers them from 1 in this order.
    public var attachments: [AttachmentState] {
        var out: [AttachmentState] = []
        for (k, ks) in keys where k.field.hasSameBytes(as: SystemField.attachments) && !k.element.isEmpty {
            guard let w = ks.winner, case .attachment(let ref) = w.value else { continue }
            let first = ks.live.map(\.timestamp).min() ?? w.timestamp
            out.append(AttachmentState(ref: ref, values: ks.live, attachedAt: first))
        }
        return out.sorted { ($0.attachedAt, $0.ref.hash) < ($1.attachedAt, $1.ref.hash) }
    }

    /// Attachments whose live values disagree.
    public var conflictedAttachments: [AttachmentState] { attachments.filter(\.isConflicted) }
}
