import StrataCore

/// The attachment-bytes protocol's JSON messages (SPEC §11): what each side holds of some
/// blobs. Bytes themselves move as plain HTTP bodies (`GET` with `Range`, `PUT` with
/// `Upload-Offset` and `Upload-Length`).
public enum BlobProtocol {
    /// Media type of the bytes of a blob on the wire.
    public static let bytesMediaType = "application/octet-stream"
    /// Most hashes one status request may name.
    public static let maxStatusHashes = 1000
    /// Header of a `PUT`: the byte the body starts at.
    public static let uploadOffsetHeader = "Upload-Offset"
    /// Header of a `PUT`: the blob's whole size.
    public static let uploadLengthHeader = "Upload-Length"
}

/// `POST …/blobs/status`: `{"hashes":["<64 hex>",…]}`.
public struct BlobStatusRequest: Codable, Sendable, Equatable {
    public var hashes: [String]
    public init(hashes: [String]) { self.hashes = hashes }
    public init(_ hashes: [BlobHash]) { self.hashes = hashes.map(\.hex) }
}

/// What a server holds of one blob.
public enum RemoteBlobState: String, Codable, Sendable, Equatable {
    /// Held whole and verified: it may be downloaded.
    case present
    /// An upload stopped after `bytes`: the next one starts there.
    case partial
    /// Referenced by a record of the project, not held.
    case missing
    /// No record of the project references it (push the records first).
    case unreferenced
}

/// One blob in a status answer, in the order asked.
public struct BlobStatus: Codable, Sendable, Equatable {
    public var hash: String
    public var state: RemoteBlobState
    /// Bytes held: the size when present, the resume offset when partial, else 0.
    public var bytes: UInt64

    public init(hash: String, state: RemoteBlobState, bytes: UInt64) {
        self.hash = hash
        self.state = state
        self.bytes = bytes
    }
}

/// `{"blobs":[{"hash":…,"state":…,"bytes":…},…]}`, one per hash asked, in the order asked.
public struct BlobStatusResponse: Codable, Sendable, Equatable {
    public var blobs: [BlobStatus]
    public init(blobs: [BlobStatus]) { self.blobs = blobs }
}

/// The answer to a `PUT`: what the server holds of the blob once the body ended, in the form
/// of a status entry (`present`, whole and verified, or `partial`, the body ended early).
public typealias BlobUploadResult = BlobStatus
