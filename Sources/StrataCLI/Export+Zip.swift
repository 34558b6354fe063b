import Foundation
import StrataCodec
import StrataCore
import StrataJSON
import StrataStore
import ZIPFoundation

/// Names inside an archive made from what researchers typed (titles, captions, file names):
/// one path component each, safe to unpack on any system.
///
/// > Invariant: a component holds no path separator, no control or bidirectional control
/// > character, none of `<>:"|?*`, does not start or end with a space or a dot, is not empty,
/// > `.` or `..`, and is at most ``maxBytes`` bytes of UTF-8 (cut between characters).
enum ArchiveName {
    static let maxBytes = 80

    static func component(_ s: String, fallback: String = "untitled", maxBytes: Int = maxBytes) -> String {
        var out = String.UnicodeScalarView()
        var lastWasSpace = false
        for u in s.unicodeScalars {
            if AttachmentRef.isBidiControl(u) || (AttachmentRef.isControl(u) && u != "\n" && u != "\t") { continue }
            var c = u
            if u == "\n" || u == "\t" || u.properties.isWhitespace { c = " " }
            if "/\\<>:\"|?*".unicodeScalars.contains(u) { c = "-" }
            if c == " " {
                if lastWasSpace { continue }
                lastWasSpace = true
            } else {
                lastWasSpace = false
            }
            out.append(c)
        }
        var name = String(out)
        // Cut to the byte bound between characters (never inside a grapheme cluster).
        if name.utf8.count > maxBytes {
            var cut = ""
            for ch in name {
                if cut.utf8.count + String(ch).utf8.count > maxBytes { break }
                cut.append(ch)
            }
            name = cut
        }
        name = name.trimmingCharacters(in: CharacterSet(charactersIn: " ."))
        return name.isEmpty ? fallback : name
    }

    /// A file name's extension fit for an archive (letters and digits, at most 8), or the
    /// usual one of its media type.
    static func fileExtension(name: String, mediaType: String) -> String {
        let ext = (name as NSString).pathExtension.lowercased()
        if !ext.isEmpty, ext.count <= 8, ext.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) }) {
            return ext
        }
        switch mediaType {
        case "image/jpeg": return "jpg"
        case "image/png": return "png"
        case "image/tiff": return "tif"
        case "image/heic": return "heic"
        case "application/pdf": return "pdf"
        case "text/plain": return "txt"
        default: return "bin"
        }
    }

    /// Makes `path` unique among `taken` (compared without case, as on macOS and Windows) by
    /// adding ` (2)`, ` (3)`, … before the extension.
    static func unique(_ path: String, in taken: inout Set<String>) -> String {
        if taken.insert(path.lowercased()).inserted { return path }
        let ns = path as NSString
        let ext = ns.pathExtension
        let stem = ext.isEmpty ? path : ns.deletingPathExtension
        for n in 2...100_000 {
            let candidate = "\(stem) (\(n))" + (ext.isEmpty ? "" : ".\(ext)")
            if taken.insert(candidate.lowercased()).inserted { return candidate }
        }
        // 100,000 files of one name in one folder: name it by a random number instead.
        let candidate = "\(stem) (\(UInt64.random(in: 0...UInt64.max)))" + (ext.isEmpty ? "" : ".\(ext)")
        taken.insert(candidate.lowercased())
        return candidate
    }
}

/// What `export --format zip` wrote.
struct ZipExportSummary {
    var records = 0
    var attachments = 0
    var attachmentBytes: UInt64 = 0
    /// Attachments whose bytes are not on this machine (listed in attachments.json, not in the archive).
    var notHere = 0
    /// Photos left out by --no-locations (their files may hold a GPS position).
    var leftOutForPosition = 0
    var damaged: [BlobHash] = []
}

extension Exporter {
    /// Whether a file of this media type may carry a position inside its bytes (EXIF GPS in
    /// JPEG, TIFF, HEIF, PNG and WebP).
    static func mayHoldPosition(_ mediaType: String) -> Bool {
        ["image/jpeg", "image/tiff", "image/heic", "image/heif", "image/png", "image/webp"].contains(mediaType)
    }

    /// The same JSON without positions: every location value (`{"lat", "lon", …}`: a record's
    /// location, a photo's position, a conflicting value) becomes null.
    static func withoutPositions(_ json: JSON) -> JSON {
        switch json {
        case .object(let o):
            if o["lat"] != nil && o["lon"] != nil { return .null }
            return .object(o.mapValues(withoutPositions))
        case .array(let a): return .array(a.map(withoutPositions))
        default: return json
        }
    }

    /// A zip archive for a report or an archive: `records.json` (as `export --format json`),
    /// `records.geojson` (records with a location, and photos with a position as points;
    /// left out with `locations` false), `attachments.json` (every attachment: its record,
    /// number, name, caption, hash and its path in the archive) and the attachments' files under
    /// `attachments/<record>/`, named by record and caption (``ArchiveName``). Written to a
    /// temporary file beside `path`, each blob verified while it is copied, then renamed.
    static func zip(
        _ records: [RecordState], store: Store, out: Output, to path: String, locations: Bool, now: Date = Date()
    ) throws -> ZipExportSummary {
        let dir = (path as NSString).deletingLastPathComponent
        let temp = (dir.isEmpty ? "." : dir) + "/.\((path as NSString).lastPathComponent).export-\(UInt32.random(in: 0...UInt32.max)).tmp"
        defer { try? FileManager.default.removeItem(atPath: temp) }
        // The archive closes its file when it is released, at the end of `fill`.
        let summary = try fill(records, store: store, out: out, archivePath: temp, reportedAs: path, locations: locations, now: now)
        if let handle = FileHandle(forUpdatingAtPath: temp) {
            try? handle.synchronize()
            try? handle.close()
        }
        guard rename(temp, path) == 0 else {
            throw CLIError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return summary
    }

    static func fill(
        _ records: [RecordState], store: Store, out: Output, archivePath temp: String, reportedAs path: String, locations: Bool,
        now: Date
    ) throws -> ZipExportSummary {
        var summary = ZipExportSummary(records: records.count)
        let archive: Archive
        do { archive = try Archive(url: URL(fileURLWithPath: temp), accessMode: .create) } catch {
            throw CLIError("cannot write \(path): \(error.localizedDescription)")
        }
        func add(_ name: String, _ text: String) throws {
            let data = Data(text.utf8)
            try archive.addEntry(
                with: name, type: .file, uncompressedSize: Int64(data.count), modificationDate: now, compressionMethod: .deflate,
                provider: { position, size in data.subdata(in: Int(position)..<Int(position) + size) })
        }
        var recordsJSON = JSON.array(records.map(out.recordJSON))
        if !locations { recordsJSON = withoutPositions(recordsJSON) }

        var taken: Set<String> = ["records.json", "records.geojson", "attachments.json"]
        var listed: [JSON] = []
        var photoFeatures: [JSON] = []
        for r in records {
            let folder = "attachments/" + ArchiveName.component("\(out.short(r.id)) \(Output.title(r))")
            for (i, a) in r.attachments.enumerated() {
                let ref = a.ref
                let stem = ArchiveName.component(ref.caption.isEmpty ? (ref.name as NSString).deletingPathExtension : ref.caption, fallback: "attachment")
                let number = String(format: "%02d", i + 1)
                var entry: [String: JSON] = [
                    "record": .string(r.id.text), "record_title": .string(Output.title(r)), "number": .int(Int64(i + 1)),
                    "name": .string(ref.name), "caption": .string(ref.caption), "media_type": .string(ref.mediaType),
                    "hash": .string(ref.hash.hex), "size": .int(Int64(ref.size)), "path": .null,
                ]
                var zipPath: String? = nil
                if !locations && MediaType.mayHoldEXIF(ref.mediaType) && store.blobs.has(ref.hash) {
                    // JPEG and TIFF: the copy in the zip is the photo without its GPS (EXIF and XMP).
                    var whole: [UInt8] = []
                    try store.blobs.read(ref.hash) { whole.append(contentsOf: $0) }
                    let name = ArchiveName.unique(
                        "\(folder)/\(number) \(stem).\(ArchiveName.fileExtension(name: ref.name, mediaType: ref.mediaType))", in: &taken)
                    do {
                        let stripped = Data(try EXIF.strippingLocation(whole))
                        try archive.addEntry(
                            with: name, type: .file, uncompressedSize: Int64(stripped.count), modificationDate: now,
                            compressionMethod: .none,
                            provider: { position, count in stripped.subdata(in: Int(position)..<Int(position) + count) })
                        zipPath = name
                        entry["path"] = .string(name)
                        entry["position_removed"] = .bool(true)
                        summary.attachments += 1
                    } catch {
                        summary.leftOutForPosition += 1
                        entry["left_out"] = .string("its position could not be removed (\(error)) (--no-locations)")
                    }
                } else if !locations && mayHoldPosition(ref.mediaType) {
                    summary.leftOutForPosition += 1
                    entry["left_out"] = .string("its file may hold a GPS position (--no-locations)")
                } else if !store.blobs.has(ref.hash) {
                    summary.notHere += 1
                    entry["left_out"] = .string("not on this machine")
                } else {
                    let name = ArchiveName.unique(
                        "\(folder)/\(number) \(stem).\(ArchiveName.fileExtension(name: ref.name, mediaType: ref.mediaType))", in: &taken)
                    try addBlob(ref, as: name, store: store, archive: archive, modified: now)
                    zipPath = name
                    entry["path"] = .string(name)
                    summary.attachments += 1
                    summary.attachmentBytes += ref.size
                }
                listed.append(.object(entry))
                if locations, let l = ref.photo.location {
                    var props: [String: JSON] = [
                        "kind": .string("photo"), "record": .string(r.id.text), "record_title": .string(Output.title(r)),
                        "name": .string(ref.name), "caption": .string(ref.caption), "file": zipPath.map(JSON.string) ?? .null,
                        "taken_at": ref.photo.takenAt.map(JSON.string) ?? .null,
                    ]
                    if let acc = l.accuracyMetres { props["accuracy_m"] = .double(acc) }
                    photoFeatures.append(
                        .object([
                            "type": .string("Feature"),
                            "geometry": .object(["type": .string("Point"), "coordinates": .array([.double(l.longitude), .double(l.latitude)])]),
                            "properties": .object(props),
                        ]))
                }
            }
        }
        try add("records.json", recordsJSON.serialized() + "\n")
        try add("attachments.json", JSON.array(listed).serialized() + "\n")
        if locations {
            var geo = geojson(records, out: out).object ?? [:]
            var features: [JSON] = []
            if case .array(let a)? = geo["features"] { features = a }
            geo["features"] = .array(features + photoFeatures)
            try add("records.geojson", JSON.object(geo).serialized() + "\n")
        }
        return summary
    }

    /// Copies a blob into the archive a piece at a time, hashing it on the way: a blob whose
    /// bytes do not hash to its name stops the export (no archive is left).
    static func addBlob(_ ref: AttachmentRef, as name: String, store: Store, archive: Archive, modified: Date) throws {
        let size = store.blobs.size(of: ref.hash) ?? 0
        let verifier = BlobVerifier(ref.hash, size: size)
        let stored = ref.mediaType.hasPrefix("image/") || ref.mediaType.hasPrefix("video/") || ref.mediaType.hasPrefix("audio/")
            || ref.mediaType == "application/zip" || ref.mediaType == "application/pdf"
        try archive.addEntry(
            with: name, type: .file, uncompressedSize: Int64(size), modificationDate: modified,
            compressionMethod: stored ? .none : .deflate,
            provider: { position, count in
                let bytes = try store.blobs.read(ref.hash, from: UInt64(position), maxBytes: count)
                try verifier.feed(bytes, at: UInt64(position))
                return Data(bytes)
            })
    }
}

extension Exporter {
    /// The same record without positions: location values (the `location` field, or any other
    /// field given one) are dropped, and attachments keep their metadata but not the photo's
    /// position. For CSV and Markdown exports with --no-locations.
    static func withoutLocations(_ r: RecordState) -> RecordState {
        var out = r
        for (key, ks) in r.keys {
            var live = ks.live.filter { if case .location = $0.value { false } else { true } }
            for i in live.indices {
                if case .attachment(var ref) = live[i].value, ref.photo.location != nil {
                    ref.photo.location = nil
                    live[i].value = .attachment(ref)
                }
            }
            if live.isEmpty && !ks.live.isEmpty {
                out.keys[key] = nil
            } else {
                out.keys[key]?.live = live
            }
        }
        return out
    }
}
