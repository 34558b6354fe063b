/// A file's media type, from its first bytes (the signatures of the formats field teams
/// attach), else from its name's extension, else `application/octet-stream`.
public enum MediaType {
    /// How much of a file's head `sniff` and the EXIF reader look at.
    public static let headBytes = 256 * 1024

    public static let fallback = "application/octet-stream"

    public static func sniff(_ head: [UInt8], name: String) -> String {
        if let t = bySignature(head) { return t }
        let ext = name.split(separator: ".", omittingEmptySubsequences: false).last.map { $0.lowercased() } ?? ""
        guard name.contains("."), let t = byExtension[ext] else { return fallback }
        return t
    }

    static func bySignature(_ b: [UInt8]) -> String? {
        func starts(_ sig: [UInt8], at offset: Int = 0) -> Bool {
            b.count >= offset + sig.count && Array(b[offset..<offset + sig.count]) == sig
        }
        if starts([0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return "image/gif" }
        if starts(Array("%PDF-".utf8)) { return "application/pdf" }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return "image/tiff" }
        if starts(Array("RIFF".utf8)) && starts(Array("WEBP".utf8), at: 8) { return "image/webp" }
        if starts(Array("RIFF".utf8)) && starts(Array("WAVE".utf8), at: 8) { return "audio/wav" }
        if starts(Array("ftyp".utf8), at: 4) {
            let brand = b.count >= 12 ? String(decoding: b[8..<12], as: UTF8.self) : ""
            switch brand {
            case "heic", "heix", "mif1", "msf1": return "image/heic"
            case "M4A ": return "audio/mp4"
            case "qt  ": return "video/quicktime"
            default: return "video/mp4"
            }
        }
        if starts(Array("ID3".utf8)) || starts([0xFF, 0xFB]) { return "audio/mpeg" }
        if starts(Array("OggS".utf8)) { return "audio/ogg" }
        return nil
    }

    static let byExtension: [String: String] = [
        "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif", "tif": "image/tiff",
        "tiff": "image/tiff", "webp": "image/webp", "heic": "image/heic", "pdf": "application/pdf",
        "txt": "text/plain", "md": "text/markdown", "csv": "text/csv", "html": "text/html", "json": "application/json",
        "xml": "application/xml", "zip": "application/zip", "doc": "application/msword",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "odt": "application/vnd.oasis.opendocument.text", "mp3": "audio/mpeg", "m4a": "audio/mp4", "wav": "audio/wav",
        "ogg": "audio/ogg", "mp4": "video/mp4", "mov": "video/quicktime", "dng": "image/x-adobe-dng",
        "cr2": "image/x-canon-cr2", "nef": "image/x-nikon-nef", "geojson": "application/geo+json", "kml": "application/vnd.google-earth.kml+xml",
    ]

    /// Types whose files may carry an EXIF block (JPEG, TIFF and TIFF-based raw formats).
    public static func mayHoldEXIF(_ type: String) -> Bool {
        ["image/jpeg", "image/tiff", "image/x-adobe-dng", "image/x-canon-cr2", "image/x-nikon-nef"].contains(type)
    }
}
