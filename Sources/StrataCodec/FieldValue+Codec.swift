import StrataCore

/// Value tags (Protocol/SPEC.md, "Values"). A new kind of value is a new tag.
enum ValueTag {
    static let null: UInt8 = 0
    static let text: UInt8 = 1
    static let integer: UInt8 = 2
    static let real: UInt8 = 3
    static let boolFalse: UInt8 = 4
    static let boolTrue: UInt8 = 5
    static let location: UInt8 = 6
    static let deletion: UInt8 = 7
    /// Format version 3 on.
    static let attachment: UInt8 = 8
}

/// Which optional parts of an attachment's photo metadata follow (SPEC §2.2, tag 8).
enum PhotoParts {
    static let takenAt: UInt8 = 1 << 0
    static let location: UInt8 = 1 << 1
    static let orientation: UInt8 = 1 << 2
    static let camera: UInt8 = 1 << 3
    static let all: UInt8 = takenAt | location | orientation | camera
}

extension FieldValue {
    /// Replicas named inside the value (deletion vectors), for the replica table.
    @inline(__always) func collectReplicas(into set: inout Set<ReplicaID>) {
        if case .deletion(let seen) = self {
            for r in seen.entries.keys { set.insert(r) }
        }
    }
}

extension ByteWriter {
    mutating func value(_ v: FieldValue, replicas: Table<ReplicaID>) {
        switch v {
        case .null: u8(ValueTag.null)
        case .text(let s):
            u8(ValueTag.text)
            string(s)
        case .integer(let i):
            u8(ValueTag.integer)
            zigzag(i)
        case .real(let d):
            u8(ValueTag.real)
            double(d)
        case .bool(let b): u8(b ? ValueTag.boolTrue : ValueTag.boolFalse)
        case .location(let loc):
            u8(ValueTag.location)
            location(loc)
        case .deletion(let seen):
            u8(ValueTag.deletion)
            versionVector(seen, replicas: replicas)
        case .attachment(let ref):
            u8(ValueTag.attachment)
            attachment(ref)
        }
    }

    mutating func location(_ loc: Location) {
        double(loc.latitude)
        double(loc.longitude)
        if let acc = loc.accuracyMetres {
            u8(1)
            double(acc)
        } else {
            u8(0)
        }
    }

    mutating func attachment(_ ref: AttachmentRef) {
        raw(ref.hash.bytes)
        varint(ref.size)
        string(ref.mediaType)
        string(ref.name)
        string(ref.caption)
        let p = ref.photo
        var parts: UInt8 = 0
        if p.takenAt != nil { parts |= PhotoParts.takenAt }
        if p.location != nil { parts |= PhotoParts.location }
        if p.orientation != nil { parts |= PhotoParts.orientation }
        if p.camera != nil { parts |= PhotoParts.camera }
        u8(parts)
        if let t = p.takenAt { string(t) }
        if let l = p.location { location(l) }
        if let o = p.orientation { u8(o) }
        if let c = p.camera { string(c) }
    }

    /// Count, then (replica index, seq) pairs in ascending replica order.
    mutating func versionVector(_ vv: VersionVector, replicas: Table<ReplicaID>) {
        let entries = vv.entries.map { (index: replicas[$0.key], seq: $0.value) }.sorted { $0.index < $1.index }
        varint(entries.count)
        for e in entries {
            varint(e.index)
            varint(e.seq)
        }
    }
}

extension ByteReader {
    /// `attachments`: whether tag 8 may appear (change-set format 3 on; record states always).
    mutating func value(replicas: [ReplicaID], limits: CodecLimits, attachments: Bool = true) throws(CodecError) -> FieldValue {
        let at = position
        let tag = try u8("value tag")
        switch tag {
        case ValueTag.null: return .null
        case ValueTag.text: return .text(try string("text value", limit: limits.maxStringBytes))
        case ValueTag.integer: return .integer(try zigzag("integer value"))
        case ValueTag.real: return .real(try double("real value"))
        case ValueTag.boolFalse: return .bool(false)
        case ValueTag.boolTrue: return .bool(true)
        case ValueTag.location:
            return .location(try location())
        case ValueTag.deletion:
            return .deletion(seen: try versionVector(replicas: replicas, limits: limits))
        case ValueTag.attachment where attachments:
            return .attachment(try attachment())
        default:
            throw error(.unsupportedValue(tag: tag), at: at)
        }
    }

    mutating func location() throws(CodecError) -> Location {
        let lat = try double("latitude")
        let lon = try double("longitude")
        let flagAt = position
        switch try u8("accuracy presence byte") {
        case 0: return Location(latitude: lat, longitude: lon)
        case 1: return Location(latitude: lat, longitude: lon, accuracyMetres: try double("accuracy"))
        case let other:
            throw error(.malformed("location accuracy presence byte is \(other), expected 0 or 1"), at: flagAt)
        }
    }

    /// Tag 8's payload; the reference must be well formed (``AttachmentRef/problem``).
    mutating func attachment() throws(CodecError) -> AttachmentRef {
        let start = position
        let hashBytes = try slice(32, "attachment hash")
        let hash = BlobHash(bytes: Array(hashBytes))!
        let size = try varint("attachment size")
        let mediaType = try string("attachment media type", limit: AttachmentRef.maxMediaTypeBytes)
        let name = try string("attachment name", limit: AttachmentRef.maxNameBytes)
        let caption = try string("attachment caption", limit: AttachmentRef.maxCaptionBytes)
        let partsAt = position
        let parts = try u8("attachment metadata parts")
        guard parts & ~PhotoParts.all == 0 else {
            throw error(.malformed("attachment metadata parts byte \(parts) has reserved bits set"), at: partsAt)
        }
        var photo = PhotoMetadata()
        if parts & PhotoParts.takenAt != 0 { photo.takenAt = try string("time taken", limit: AttachmentRef.maxTakenAtBytes) }
        if parts & PhotoParts.location != 0 { photo.location = try location() }
        if parts & PhotoParts.orientation != 0 { photo.orientation = try u8("orientation") }
        if parts & PhotoParts.camera != 0 { photo.camera = try string("camera", limit: AttachmentRef.maxCameraBytes) }
        let ref = AttachmentRef(hash: hash, size: size, mediaType: mediaType, name: name, caption: caption, photo: photo)
        if let problem = ref.problem { throw error(.malformed("attachment: \(problem)"), at: start) }
        return ref
    }

    mutating func versionVector(replicas: [ReplicaID], limits: CodecLimits) throws(CodecError) -> VersionVector {
        let n = try count("version vector entry count", limit: limits.maxVersionVectorEntries, minBytesEach: 2)
        var entries = [ReplicaID: UInt64](minimumCapacity: n)
        var previous = -1
        for _ in 0..<n {
            let at = position
            let i = try index("version vector replica", count: replicas.count)
            if i <= previous {
                throw error(.malformed("version vector replicas are not in strictly ascending order (duplicate or unsorted)"), at: at)
            }
            previous = i
            let seqAt = position
            let seq = try varint("version vector seq")
            if seq == 0 { throw error(.malformed("version vector entry has sequence number 0"), at: seqAt) }
            entries[replicas[i]] = seq
        }
        return VersionVector(entries)
    }
}
