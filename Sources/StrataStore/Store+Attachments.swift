import Foundation
import GRDB
import StrataCodec
import StrataCore

/// A file to attach, as the researcher gave it.
public struct AttachmentInput: Sendable {
    public var path: String
    /// nil: none for a new attachment, and the current one kept when the record has the file
    /// attached already.
    public var caption: String?
    /// Leave the photo's GPS position out of the stored copy and of its metadata.
    public var stripLocation: Bool
    /// The name to record; the file's own name when nil.
    public var name: String?

    public init(path: String, caption: String? = nil, stripLocation: Bool = false, name: String? = nil) {
        self.path = path
        self.caption = caption
        self.stripLocation = stripLocation
        self.name = name
    }
}

/// What attaching one file did.
public struct AttachedFile: Sendable, Equatable {
    public var ref: AttachmentRef
    /// The store held these bytes already (attached elsewhere, or before).
    public var wasStored: Bool
    /// Why the file's EXIF block could not be read (the file is attached without metadata).
    public var metadataProblem: String?
    /// The position was found and left out of the stored copy.
    public var locationStripped: Bool
}

/// One attachment a record references, for sync and checks.
public struct ReferencedBlob: Sendable, Equatable, Hashable {
    public var hash: BlobHash
    public var size: UInt64

    public init(hash: BlobHash, size: UInt64) {
        self.hash = hash
        self.size = size
    }
}

extension Store {
    /// The store's blobs, beside its file.
    public var blobs: BlobStore { BlobStore(storePath: path) }

    /// The largest file `attach` takes.
    public static let maxAttachmentBytes: UInt64 = 4 << 30

    /// Attaches files to a record, as one change: each file is checked, hashed and stored
    /// (flushed, renamed into place) before the change is written, so a crash at any point
    /// leaves no attachment or a whole one. Files with the same bytes are stored once.
    public func attach(_ inputs: [AttachmentInput], to id: RecordID, now: UInt64 = Store.wallClockMillis()) throws -> [AttachedFile] {
        guard let current = try record(id), current.kind != nil else { throw StoreError(.noRecord(id: id.text)) }
        let attached = Dictionary(current.attachments.map { ($0.ref.hash, $0.ref) }, uniquingKeysWith: { a, _ in a })
        var out: [AttachedFile] = []
        var seen = Set<BlobHash>()
        // First every file is checked and read for its type and metadata, so one bad file in
        // the list stores nothing.
        struct Planned {
            var input: AttachmentInput
            var name: String
            var size: UInt64
            var mediaType: String
            var photo: PhotoMetadata
            var problem: String?
            var strip: Bool
        }
        var planned: [Planned] = []
        for input in inputs {
            let name = input.name ?? (input.path as NSString).lastPathComponent
            if let p = AttachmentRef.problem(withName: name) { throw StoreError(.attachmentBadName(name: name, problem: p)) }
            if let c = input.caption, let p = AttachmentRef.problem(withCaption: c) { throw StoreError(.attachmentBadCaption(problem: p)) }
            let size = try Self.checkAttachable(input.path)
            let head = try Self.head(of: input.path)
            let mediaType = MediaType.sniff(head, name: name)
            var photo = PhotoMetadata()
            var problem: String?
            if MediaType.mayHoldEXIF(mediaType) {
                switch EXIF.metadata(of: head) {
                case .success(let m): photo = m
                case .failure(let e): problem = e.description
                }
            }
            planned.append(
                Planned(
                    input: input, name: name, size: size, mediaType: mediaType, photo: photo, problem: problem,
                    strip: input.stripLocation && MediaType.mayHoldEXIF(mediaType)))
        }
        // The files stored as they are go in together, with one flush for all of them.
        let plain = planned.indices.filter { !planned[$0].strip }
        var stored = [(hash: BlobHash, size: UInt64, wasHere: Bool)?](repeating: nil, count: planned.count)
        for (i, s) in zip(plain, try blobs.add(files: plain.map { planned[$0].input.path })) {
            if s.size != planned[i].size { throw StoreError(.attachmentChanged(path: planned[i].input.path)) }
            stored[i] = s
        }
        for (i, p) in planned.enumerated() where p.strip {
            // The stored copy is the file without its GPS block: its own bytes, its own hash.
            stored[i] = try blobs.add(file: p.input.path) { bytes in
                do { return try EXIF.strippingLocation(bytes) } catch {
                    throw StoreError(.cannotStripLocation(path: p.input.path, detail: "\(error)"))
                }
            }
        }
        for (i, p) in planned.enumerated() {
            guard let s = stored[i] else { continue }
            var photo = p.photo
            let stripped = p.strip && photo.location != nil
            if p.input.stripLocation { photo.location = nil }
            let wasStored = s.wasHere || !seen.insert(s.hash).inserted
            // Attaching a file the record has already: its name and caption stay unless a
            // caption is given.
            let existing = attached[s.hash]
            let ref = AttachmentRef(
                hash: s.hash, size: s.size, mediaType: p.mediaType, name: existing?.name ?? p.name,
                caption: p.input.caption ?? existing?.caption ?? "", photo: photo)
            if let problem = ref.problem { throw StoreError(.attachmentBadName(name: p.name, problem: problem)) }
            out.append(AttachedFile(ref: ref, wasStored: wasStored, metadataProblem: p.problem, locationStripped: stripped))
        }
        // Two inputs with the same bytes are one attachment (the first one's name and caption).
        var edits: [Edit] = []
        var written = Set<BlobHash>()
        for f in out where written.insert(f.ref.hash).inserted { edits.append(.attach(id, f.ref)) }
        do { try commit(edits, now: now) } catch let e as EditError { throw StoreError(.cannotAttach(detail: e.description)) }
        return out
    }

    /// Detaches an attachment (the blob stays until no record references it and `check` removes it).
    @discardableResult
    public func detach(_ hash: BlobHash, from id: RecordID, now: UInt64 = Store.wallClockMillis()) throws -> Change? {
        try commit([.detach(id, hash)], now: now)
    }

    /// Writes an attachment's caption (and so resolves a caption conflict).
    @discardableResult
    public func setCaption(_ caption: String, of hash: BlobHash, on id: RecordID, now: UInt64 = Store.wallClockMillis()) throws -> Change? {
        if let p = AttachmentRef.problem(withCaption: caption) { throw StoreError(.attachmentBadCaption(problem: p)) }
        guard let state = try record(id), let a = state.attachments.first(where: { $0.ref.hash == hash }) else {
            throw StoreError(.noRecord(id: id.text))
        }
        var ref = a.ref
        ref.caption = caption
        return try commit([.attach(id, ref)], now: now)
    }

    /// Every blob a record that is not deleted references, with its size: what sync moves.
    public func referencedBlobs() throws -> [ReferencedBlob] {
        try db.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT a.hash, a.size FROM record_attachments a JOIN records r ON r.rowid = a.record
                    WHERE r.deleted = 0 ORDER BY a.hash
                    """
            ).compactMap { row in
                guard let h = BlobHash(bytes: [UInt8](row[0] as Data)) else { return nil }
                return ReferencedBlob(hash: h, size: UInt64(row[1] as Int64))
            }
        }
    }

    /// Whether any record (deleted ones too: a restore brings their attachments back)
    /// references the blob. A server serves and accepts only referenced blobs.
    public func references(_ hash: BlobHash) throws -> ReferencedBlob? {
        try db.read { db in
            try Int64.fetchOne(db, sql: "SELECT size FROM record_attachments WHERE hash = ? LIMIT 1", arguments: [Data(hash.bytes)])
                .map { ReferencedBlob(hash: hash, size: UInt64($0)) }
        }
    }

    /// Blobs held here that no record references (left by an attach that was interrupted, or
    /// detached from every record).
    public func unreferencedBlobs() throws -> [BlobHash] {
        let held = blobs.allHashes()
        guard !held.isEmpty else { return [] }
        let referenced = try db.read { db in
            Set(try Data.fetchAll(db, sql: "SELECT DISTINCT hash FROM record_attachments").compactMap { BlobHash(bytes: [UInt8]($0)) })
        }
        return held.filter { !referenced.contains($0) }
    }

    /// Checks a path can be attached; returns its size.
    static func checkAttachable(_ path: String) throws -> UInt64 {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw StoreError(.attachmentMissing(path: path))
        }
        if isDir.boolValue { throw StoreError(.attachmentIsDirectory(path: path)) }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw StoreError(.attachmentUnreadable(path: path, reason: "permission denied"))
        }
        let size = UInt64(FileSystem.fileSize(path) ?? 0)
        if size == 0 { throw StoreError(.attachmentEmpty(path: path)) }
        if size > maxAttachmentBytes { throw StoreError(.attachmentTooLarge(path: path, size: size, limit: maxAttachmentBytes)) }
        return size
    }

    /// The first bytes of a file, where its type and EXIF block are.
    static func head(of path: String) throws -> [UInt8] {
        guard let h = FileHandle(forReadingAtPath: path) else {
            throw StoreError(.attachmentUnreadable(path: path, reason: "cannot open it"))
        }
        defer { try? h.close() }
        do { return [UInt8](try h.read(upToCount: MediaType.headBytes) ?? Data()) } catch {
            throw StoreError(.attachmentUnreadable(path: path, reason: error.localizedDescription))
        }
    }
}
