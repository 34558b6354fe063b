import StrataCore

/// `POST /v1/projects/{project}/pull` request body: what the client has, and how large a
/// batch it wants. See Protocol/SPEC.md, "Sync protocol".
public struct PullRequest: Sendable, Equatable {
    /// The pulling replica (for the server's logs and per-peer bookkeeping).
    public var replica: ReplicaID
    /// Everything the client holds, as a version vector.
    public var version: VersionVector
    /// The largest batch the client wants, in uncompressed change bytes (the server may use less).
    public var maxBatchBytes: Int

    public init(replica: ReplicaID, version: VersionVector, maxBatchBytes: Int) {
        self.replica = replica
        self.version = version
        self.maxBatchBytes = maxBatchBytes
    }
}

/// The response to a pull: one batch of what the client lacks.
public struct PullResponse: Sendable, Equatable {
    /// The server's replica id for this project.
    public var replica: ReplicaID
    /// The server's version vector when it answered.
    public var version: VersionVector
    /// Changes the client lacks, in (replica, seq) order: the client applies them as one
    /// transaction, after which its version vector acknowledges them.
    public var changes: [Change]
    /// How many changes the client still lacks after this batch.
    public var remaining: Int

    /// True when the client should pull again.
    public var more: Bool { remaining > 0 }

    public init(replica: ReplicaID, version: VersionVector, changes: [Change], remaining: Int) {
        self.replica = replica
        self.version = version
        self.changes = changes
        self.remaining = remaining
    }
}

/// Encoding of the sync messages. Version 1.
public enum SyncCodec {
    public static let protocolVersion: UInt8 = 1
    public static let pullRequestMagic: [UInt8] = Array("SPLQ".utf8)
    public static let pullResponseMagic: [UInt8] = Array("SPLR".utf8)
    /// Media type of a change set body (push request).
    public static let changeSetMediaType = "application/vnd.strata.changeset"
    public static let pullRequestMediaType = "application/vnd.strata.pull-request"
    public static let pullResponseMediaType = "application/vnd.strata.pull-response"

    public static func encode(_ m: PullRequest) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + 24 * m.version.entries.count)
        w.raw(pullRequestMagic)
        w.u8(protocolVersion)
        w.u8(0)
        w.id16(high: m.replica.high, low: m.replica.low)
        writeVersion(m.version, into: &w)
        w.varint(m.maxBatchBytes)
        return w.bytes
    }

    public static func encode(_ m: PullResponse, compressionLevel: Int32 = 6) -> [UInt8] {
        let cs = ChangeSetCodec.encode(m.changes, compressionLevel: compressionLevel)
        var w = ByteWriter(capacity: cs.count + 64 + 24 * m.version.entries.count)
        w.raw(pullResponseMagic)
        w.u8(protocolVersion)
        w.u8(m.more ? 1 : 0)
        w.id16(high: m.replica.high, low: m.replica.low)
        writeVersion(m.version, into: &w)
        w.varint(m.remaining)
        w.varint(cs.count)
        w.raw(cs)
        return w.bytes
    }

    public static func decodePullRequest(_ bytes: some Collection<UInt8>, limits: CodecLimits = .standard)
        throws(CodecError) -> PullRequest
    {
        try withContiguousBytes(bytes) { buf in
            Result { () throws(CodecError) in
                var r = ByteReader(buf, what: "pull request", endIsTruncation: true)
                try header(&r, magic: pullRequestMagic, name: "Strata pull request", knownFlags: 0)
                let (h, l) = try r.id16("client replica id")
                let vv = try readVersion(&r, limits: limits, what: "client version")
                let maxBytes = try r.varint("max batch bytes")
                try r.expectEnd()
                return PullRequest(
                    replica: ReplicaID(high: h, low: l), version: vv,
                    maxBatchBytes: Int(min(maxBytes, UInt64(Int32.max))))
            }
        }.get()
    }

    public static func decodePullResponse(_ bytes: some Collection<UInt8>, limits: CodecLimits = .standard)
        throws(CodecError) -> PullResponse
    {
        try withContiguousBytes(bytes) { buf in
            Result { () throws(CodecError) in
                var r = ByteReader(buf, what: "pull response", endIsTruncation: true)
                let flags = try header(&r, magic: pullResponseMagic, name: "Strata pull response", knownFlags: 1)
                let (h, l) = try r.id16("server replica id")
                let vv = try readVersion(&r, limits: limits, what: "server version")
                let remainingAt = r.position
                let remaining = try r.count("remaining change count", limit: Int(Int32.max), minBytesEach: 0)
                if (flags & 1 == 1) != (remaining > 0) {
                    throw r.error(.malformed("the 'more' flag disagrees with the remaining count"), at: remainingAt)
                }
                let len = try r.count("change set length", limit: limits.maxCompressedBytes)
                let at = r.position
                let cs = try r.slice(len, "change set")
                try r.expectEnd()
                let (changes, _) = try ChangeSetCodec.decode(
                    buffer: cs, limits: limits, context: "pull response change set (at byte \(at))"
                ).get()
                return PullResponse(replica: ReplicaID(high: h, low: l), version: vv, changes: changes, remaining: remaining)
            }
        }.get()
    }

    @discardableResult
    static func header(_ r: inout ByteReader, magic: [UInt8], name: String, knownFlags: UInt8) throws(CodecError) -> UInt8 {
        try r.magic(magic, name: name)
        let version = try r.u8("protocol version")
        guard version == protocolVersion else {
            throw r.error(.unsupportedVersion(found: version, supported: protocolVersion, what: name), at: 4)
        }
        let flags = try r.u8("flags")
        guard flags & ~knownFlags == 0 else { throw r.error(.unsupportedFlags(found: flags, known: knownFlags), at: 5) }
        return flags
    }

    static func writeVersion(_ vv: VersionVector, into w: inout ByteWriter) {
        let entries = vv.sorted
        w.varint(entries.count)
        for e in entries {
            w.id16(high: e.replica.high, low: e.replica.low)
            w.varint(e.seq)
        }
    }

    static func readVersion(_ r: inout ByteReader, limits: CodecLimits, what: String) throws(CodecError) -> VersionVector {
        let n = try r.count("\(what) entry count", limit: limits.maxVersionVectorEntries, minBytesEach: 17)
        var entries = [ReplicaID: UInt64](minimumCapacity: n)
        var previous: ReplicaID? = nil
        for _ in 0..<n {
            let at = r.position
            let (h, l) = try r.id16("\(what) replica id")
            let replica = ReplicaID(high: h, low: l)
            if let p = previous, !(p < replica) {
                throw r.error(.malformed("\(what) replicas are not in strictly ascending order"), at: at)
            }
            previous = replica
            let seqAt = r.position
            let seq = try r.varint("\(what) seq")
            if seq == 0 { throw r.error(.malformed("\(what) entry has sequence number 0"), at: seqAt) }
            entries[replica] = seq
        }
        return VersionVector(entries)
    }
}

/// What `GET /v1/projects/{p}/session` answers.
public struct SessionInfo: Sendable, Codable, Equatable {
    public init(
        protocol: Int, project: String, researcher: String, role: Role, serverReplica: String, version: String,
        maxBatchBytes: Int, maxBodyBytes: Int
    ) {
        self.protocol = `protocol`
        self.project = project
        self.researcher = researcher
        self.role = role
        self.serverReplica = serverReplica
        self.version = version
        self.maxBatchBytes = maxBatchBytes
        self.maxBodyBytes = maxBodyBytes
    }

    public var `protocol`: Int
    public var project: String
    public var researcher: String
    public var role: Role
    public var serverReplica: String
    public var version: String
    public var maxBatchBytes: Int
    public var maxBodyBytes: Int

    enum CodingKeys: String, CodingKey {
        case `protocol`, project, researcher, role
        case serverReplica = "server_replica"
        case version
        case maxBatchBytes = "max_batch_bytes"
        case maxBodyBytes = "max_body_bytes"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.protocol = try c.decode(Int.self, forKey: .protocol)
        project = try c.decode(String.self, forKey: .project)
        researcher = try c.decode(String.self, forKey: .researcher)
        // A role this client does not know (a newer server's) grants no more than pulling.
        role = Role(rawValue: try c.decode(String.self, forKey: .role)) ?? .read
        serverReplica = try c.decode(String.self, forKey: .serverReplica)
        version = try c.decode(String.self, forKey: .version)
        maxBatchBytes = try c.decode(Int.self, forKey: .maxBatchBytes)
        maxBodyBytes = try c.decode(Int.self, forKey: .maxBodyBytes)
    }
}

/// What `POST /v1/projects/{p}/push` answers.
public struct PushResult: Sendable, Codable, Equatable {
    public init(applied: Int, duplicates: Int, version: String) {
        self.applied = applied
        self.duplicates = duplicates
        self.version = version
    }

    public var applied: Int
    public var duplicates: Int
    /// The server's version vector after applying.
    public var version: String
}

