import StrataCore

/// Why a photo's EXIF block could not be read, or its location could not be stripped.
///
/// `code` is stable (tests and the vectors match on it): `truncated`, `malformed`, `too-large`,
/// `bad-value`, and for stripping only `unsupported-format`. `description` is one line of facts
/// (what is wrong, at which byte of the file); it never quotes the block's text.
public struct EXIFError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: String
    public let description: String

    init(_ code: String, _ description: String) {
        self.code = code
        self.description = description
    }

    static func truncated(_ why: String) -> EXIFError { EXIFError("truncated", "the photo's EXIF block is truncated: \(why)") }
    static func malformed(_ why: String) -> EXIFError { EXIFError("malformed", "the photo's EXIF block is malformed: \(why)") }
    static func tooLarge(_ why: String) -> EXIFError { EXIFError("too-large", "the photo's EXIF block is implausibly large: \(why)") }
    static func badValue(_ why: String) -> EXIFError { EXIFError("bad-value", "the photo's EXIF block holds an unusable value: \(why)") }
}

/// Strata's own reader of the EXIF tags it keeps (`PhotoMetadata`), and the stripper that removes
/// a photo's GPS position from the stored copy. Protocol/SPEC.md, "EXIF metadata (read only)",
/// says which tags are read, how, and the bounds.
///
/// > Invariant: both functions do work bounded by the bytes they are given (each IFD is visited
/// > once, at most `maxEntriesPerIFD` entries each, at most `maxIFDs` IFDs), and never trap on
/// > any input.
public enum EXIF {
    /// How much of a file's head `metadata(of:)` needs: `MediaType.headBytes` (256 KiB). An EXIF
    /// block that starts beyond it is not seen (JPEG keeps it in the first 64 KiB).
    public static let headBytes = MediaType.headBytes
    /// An IFD with more entries is refused (`too-large`); cameras write fewer than 100.
    public static let maxEntriesPerIFD = 1024
    /// The IFDs the stripper follows in a chain (IFD0, IFD1, ... pages of a TIFF).
    public static let maxIFDs = 16
    /// The longest Make, Model, DateTimeOriginal or OffsetTimeOriginal value read (`too-large`).
    public static let maxASCIIBytes = AttachmentRef.maxCameraBytes

    // MARK: reading

    /// Metadata from a file's first bytes (at most `headBytes` are needed). A file that is not
    /// JPEG/TIFF or has no EXIF block gives empty metadata; an EXIF block that cannot be read
    /// gives the error saying what is wrong with it.
    public static func metadata(of head: [UInt8]) -> Result<PhotoMetadata, EXIFError> {
        do throws(EXIFError) {
            guard let block = try findBlock(head) else { return .success(PhotoMetadata()) }
            return .success(try read(block))
        } catch {
            return .failure(error)
        }
    }

    /// Where a file's TIFF structure is: a JPEG's first APP1 "Exif" segment, or the file itself.
    static func findBlock(_ b: [UInt8]) throws(EXIFError) -> TIFFBlock? {
        if isTIFF(b, at: 0) { return TIFFBlock(bytes: b, start: 0, end: b.count, inJPEG: false) }
        guard b.count >= 3, b[0] == 0xFF, b[1] == 0xD8 else { return nil }
        var pos = 2
        // Each step moves past at least one byte, so the loop ends within b.count steps.
        while pos + 1 < b.count {
            guard b[pos] == 0xFF else { return nil }  // not a marker: not a JPEG structure we read
            let marker = b[pos + 1]
            if marker == 0xFF { pos += 1; continue }  // fill byte
            if marker == 0xD9 || marker == 0xDA { return nil }  // end of image / start of scan
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { pos += 2; continue }
            guard pos + 4 <= b.count else { return nil }
            let length = Int(b[pos + 2]) << 8 | Int(b[pos + 3])
            guard length >= 2 else { return nil }
            let payload = pos + 4
            let end = pos + 2 + length
            if marker == 0xE1 && hasPrefix(b, exifHeader, at: payload, end: min(end, b.count)) {
                guard end <= b.count else {
                    throw .truncated("its APP1 segment at byte \(pos) declares \(length) bytes, so it ends at byte \(end), but the file ends at byte \(b.count)")
                }
                if payload + exifHeader.count > end {
                    throw .truncated("its APP1 segment at byte \(pos) ends inside the Exif header")
                }
                return TIFFBlock(bytes: b, start: payload + exifHeader.count, end: end, inJPEG: true)
            }
            pos = end
        }
        return nil
    }

    static let exifHeader: [UInt8] = Array("Exif".utf8) + [0, 0]
    static let xmpHeader: [UInt8] = Array("http://ns.adobe.com/xap/1.0/".utf8) + [0]
    static let extendedXMPHeader: [UInt8] = Array("http://ns.adobe.com/xmp/extension/".utf8) + [0]

    static func isTIFF(_ b: [UInt8], at i: Int) -> Bool {
        b.count >= i + 4 && (b[i..<(i + 4)].elementsEqual([0x49, 0x49, 0x2A, 0x00]) || b[i..<(i + 4)].elementsEqual([0x4D, 0x4D, 0x00, 0x2A]))
    }

    /// True when `b[i..<end]` starts with `prefix`, or, when fewer bytes remain, is a prefix of it
    /// (so a segment cut inside its header is still recognised).
    static func hasPrefix(_ b: [UInt8], _ prefix: [UInt8], at i: Int, end: Int) -> Bool {
        let n = min(prefix.count, end - i)
        guard n > 0 else { return false }
        for k in 0..<n where b[i + k] != prefix[k] { return false }
        return true
    }

    static func read(_ tiff: TIFFBlock) throws(EXIFError) -> PhotoMetadata {
        var block = tiff
        let ifd0Offset = try block.header()
        var visited: Set<Int> = []
        let ifd0 = try block.ifd(at: ifd0Offset, name: "IFD0", visited: &visited)
        var m = PhotoMetadata()

        if let e = ifd0[0x0112] {
            guard e.type == 3, e.count == 1 else { throw .badValue("Orientation (tag 0x0112 at byte \(block.file(e.at))) has type \(e.type) and count \(e.count), not one SHORT") }
            let o = block.u16(e.at + 8)
            guard (1...8).contains(o) else { throw .badValue("Orientation (at byte \(block.file(e.at))) is \(o), not 1 to 8") }
            m.orientation = UInt8(o)
        }
        let make = try ifd0[0x010F].map { e throws(EXIFError) in try block.ascii(e, "Make") } ?? ""
        let model = try ifd0[0x0110].map { e throws(EXIFError) in try block.ascii(e, "Model") } ?? ""
        m.camera = camera(make: make, model: model)

        if let e = ifd0[0x8769] {
            let exif = try block.ifd(at: try block.pointer(e, "the Exif IFD pointer (tag 0x8769)"), name: "the Exif IFD", visited: &visited)
            if let d = exif[0x9003] {
                let raw = try block.ascii(d, "DateTimeOriginal")
                if let t = try dateTime(raw, at: block.file(d.at)) {
                    var taken = t
                    if let z = exif[0x9011], let offset = try utcOffset(try block.ascii(z, "OffsetTimeOriginal"), at: block.file(z.at)) {
                        taken += offset
                    }
                    m.takenAt = taken
                }
            }
        }

        if let e = ifd0[0x8825] {
            let gps = try block.ifd(at: try block.pointer(e, "the GPS IFD pointer (tag 0x8825)"), name: "the GPS IFD", visited: &visited)
            m.location = try location(gps, block)
        }
        return m
    }

    /// "Make Model", the make left out when the model already starts with it (ASCII letters
    /// compared without case).
    static func camera(make: String, model: String) -> String? {
        if make.isEmpty { return model.isEmpty ? nil : model }
        if model.isEmpty { return make }
        func fold(_ s: String) -> [UInt8] { s.utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 } }
        if fold(model).starts(with: fold(make)) { return model }
        return make + " " + model
    }

    /// "YYYY:MM:DD HH:MM:SS" as "YYYY-MM-DDTHH:MM:SS"; nil for the blank or all-zero value
    /// cameras write when their clock was never set.
    static func dateTime(_ s: String, at offset: Int) throws(EXIFError) -> String? {
        let c = Array(s.utf8)
        if c.isEmpty || c.allSatisfy({ $0 == 0x20 || $0 == 0x3A || $0 == 0x30 }) { return nil }
        let bad = EXIFError.badValue("DateTimeOriginal (at byte \(offset)) is not of the form YYYY:MM:DD HH:MM:SS")
        guard c.count == 19, c[4] == 0x3A, c[7] == 0x3A, c[10] == 0x20, c[13] == 0x3A, c[16] == 0x3A else { throw bad }
        func num(_ r: Range<Int>) throws(EXIFError) -> Int {
            var v = 0
            for i in r {
                guard (0x30...0x39).contains(c[i]) else { throw bad }
                v = v * 10 + Int(c[i] - 0x30)
            }
            return v
        }
        let (mo, d, h, mi, se) = (try num(5..<7), try num(8..<10), try num(11..<13), try num(14..<16), try num(17..<19))
        _ = try num(0..<4)
        guard (1...12).contains(mo), (1...31).contains(d), h <= 23, mi <= 59, se <= 60 else {
            throw .badValue("DateTimeOriginal (at byte \(offset)) has a month, day, hour, minute or second out of range")
        }
        var out = c
        out[4] = 0x2D
        out[7] = 0x2D
        out[10] = 0x54
        return String(decoding: out, as: UTF8.self)
    }

    /// "+HH:MM" or "-HH:MM" as is; nil when blank.
    static func utcOffset(_ s: String, at offset: Int) throws(EXIFError) -> String? {
        let c = Array(s.utf8)
        if c.isEmpty || c.allSatisfy({ $0 == 0x20 || $0 == 0x3A }) { return nil }
        func digit(_ i: Int) -> Int? { (0x30...0x39).contains(c[i]) ? Int(c[i] - 0x30) : nil }
        guard c.count == 6, c[0] == 0x2B || c[0] == 0x2D, c[3] == 0x3A,
            let h1 = digit(1), let h2 = digit(2), let m1 = digit(4), let m2 = digit(5),
            h1 * 10 + h2 <= 14, m1 * 10 + m2 <= 59
        else { throw .badValue("OffsetTimeOriginal (at byte \(offset)) is not of the form +HH:MM or -HH:MM within ±14:59") }
        return s
    }

    /// The position of a GPS IFD: nil when it holds none of the four position tags.
    static func location(_ gps: [UInt16: Entry], _ block: TIFFBlock) throws(EXIFError) -> Location? {
        let tags: [UInt16] = [1, 2, 3, 4]
        let present = tags.filter { gps[$0] != nil }
        if present.isEmpty { return nil }
        guard present.count == 4, let latRef = gps[1], let lat = gps[2], let lonRef = gps[3], let lon = gps[4] else {
            throw .badValue("the GPS IFD holds only some of GPSLatitudeRef, GPSLatitude, GPSLongitudeRef and GPSLongitude (tags \(present.map { String($0) }.joined(separator: ", ")))")
        }
        let ns = try block.ascii(latRef, "GPSLatitudeRef")
        let ew = try block.ascii(lonRef, "GPSLongitudeRef")
        guard ns == "N" || ns == "S" else { throw .badValue("GPSLatitudeRef (at byte \(block.file(latRef.at))) is not N or S") }
        guard ew == "E" || ew == "W" else { throw .badValue("GPSLongitudeRef (at byte \(block.file(lonRef.at))) is not E or W") }
        var latitude = try block.degrees(lat, "GPSLatitude")
        var longitude = try block.degrees(lon, "GPSLongitude")
        guard latitude <= 90 else { throw .badValue("GPSLatitude (at byte \(block.file(lat.at))) is beyond 90 degrees") }
        guard longitude <= 180 else { throw .badValue("GPSLongitude (at byte \(block.file(lon.at))) is beyond 180 degrees") }
        if ns == "S" { latitude = -latitude }
        if ew == "W" { longitude = -longitude }
        var accuracy: Double?
        if let e = gps[0x1F] {
            let r = try block.rationals(e, "GPSHPositioningError", count: 1)
            guard r[0].1 != 0 else { throw .badValue("GPSHPositioningError (at byte \(block.file(e.at))) has a zero denominator") }
            accuracy = Double(r[0].0) / Double(r[0].1)
        }
        return Location(latitude: latitude, longitude: longitude, accuracyMetres: accuracy)
    }

    // MARK: stripping

    /// The whole file with every GPS position removed: in each EXIF block (JPEG APP1 "Exif", or a
    /// TIFF file itself) the GPS IFD's entries and values are overwritten with zeros and its
    /// pointer entry (0x8825) is removed from the IFD that holds it; XMP segments that mention
    /// GPS, and all extended-XMP segments, are dropped; an APP1 "Exif" segment whose structure
    /// cannot be read is dropped whole. Image data and every other byte stay as they were. A
    /// file that is neither JPEG nor TIFF is refused (`unsupported-format`), as is a JPEG whose
    /// segments before the image data cannot be walked.
    public static func strippingLocation(_ file: [UInt8]) throws(EXIFError) -> [UInt8] {
        var out = file
        if isTIFF(file, at: 0) {
            var block = TIFFBlock(bytes: out, start: 0, end: out.count, inJPEG: false)
            try block.stripGPS()
            out = block.bytes
        } else if file.count >= 3, file[0] == 0xFF, file[1] == 0xD8, file[2] == 0xFF {
            out = try stripJPEG(file)
        } else {
            throw EXIFError("unsupported-format", "stripping a photo's location reads JPEG and TIFF files; this file is neither, so its location could not be removed")
        }
        // A belt to the braces: what the reader sees in the result has no position.
        if case .success(let m) = metadata(of: Array(out.prefix(headBytes))), m.location != nil {
            throw .malformed("a GPS position is still readable after stripping")
        }
        return out
    }

    static func stripJPEG(_ file: [UInt8]) throws(EXIFError) -> [UInt8] {
        var out = file
        var drop: [Range<Int>] = []
        var pos = 2
        scan: while pos + 1 < out.count {
            guard out[pos] == 0xFF else { throw .malformed("the JPEG has a byte other than a marker at byte \(pos), before its image data") }
            let marker = out[pos + 1]
            if marker == 0xFF { pos += 1; continue }
            if marker == 0xD9 || marker == 0xDA { break scan }
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { pos += 2; continue }
            guard pos + 4 <= out.count else { throw .truncated("the JPEG ends inside the segment header at byte \(pos)") }
            let length = Int(out[pos + 2]) << 8 | Int(out[pos + 3])
            let end = pos + 2 + length
            guard length >= 2 else { throw .malformed("the JPEG segment at byte \(pos) declares a length of \(length)") }
            guard end <= out.count else { throw .truncated("the JPEG segment at byte \(pos) ends at byte \(end), past the end of the file at byte \(out.count)") }
            let payload = pos + 4
            if marker == 0xE1 {
                if hasPrefix(out, exifHeader, at: payload, end: end), payload + exifHeader.count <= end {
                    var block = TIFFBlock(bytes: out, start: payload + exifHeader.count, end: end, inJPEG: true)
                    do throws(EXIFError) {
                        try block.stripGPS()
                        out = block.bytes
                    } catch {
                        drop.append(pos..<end)
                    }
                } else if hasPrefix(out, extendedXMPHeader, at: payload, end: end) {
                    drop.append(pos..<end)
                } else if hasPrefix(out, xmpHeader, at: payload, end: end), mentionsGPS(out[payload..<end]) {
                    drop.append(pos..<end)
                }
            }
            pos = end
        }
        guard !drop.isEmpty else { return out }
        var result: [UInt8] = []
        result.reserveCapacity(out.count)
        var from = 0
        for r in drop {
            result += out[from..<r.lowerBound]
            from = r.upperBound
        }
        result += out[from...]
        return result
    }

    /// True when the bytes hold "gps" in any case (exif:GPSLatitude, drone-dji:GpsLatitude, ...).
    static func mentionsGPS(_ s: ArraySlice<UInt8>) -> Bool {
        var i = s.startIndex
        while i + 2 < s.endIndex {
            if s[i] | 0x20 == 0x67, s[i + 1] | 0x20 == 0x70, s[i + 2] | 0x20 == 0x73 { return true }
            i += 1
        }
        return false
    }
}

/// One IFD entry: where it is (offset of its 12 bytes, relative to the TIFF header), its type
/// and count.
struct Entry {
    var at: Int
    var tag: UInt16
    var type: UInt16
    var count: UInt32
}

/// A TIFF structure inside `bytes[start..<end]`; offsets in it are relative to `start`.
struct TIFFBlock {
    var bytes: [UInt8]
    let start: Int
    let end: Int
    /// In a JPEG the block is a whole APP1 segment, so running past its end is malformed; a TIFF
    /// file's head may have been cut by the caller, so running past it is truncation.
    let inJPEG: Bool
    var little = true

    var length: Int { end - start }

    /// The file offset of a block offset, for messages.
    func file(_ offset: Int) -> Int { start + offset }

    func u16(_ o: Int) -> UInt16 {
        let a = UInt16(bytes[start + o]), b = UInt16(bytes[start + o + 1])
        return little ? a | b << 8 : a << 8 | b
    }

    func u32(_ o: Int) -> UInt32 {
        let a = UInt32(bytes[start + o]), b = UInt32(bytes[start + o + 1]), c = UInt32(bytes[start + o + 2]), d = UInt32(bytes[start + o + 3])
        return little ? a | b << 8 | c << 16 | d << 24 : a << 24 | b << 16 | c << 8 | d
    }

    func pastEnd(_ what: String, at offset: Int, needing n: Int) -> EXIFError {
        let where_ = "\(what) at byte \(file(offset)) needs \(n) bytes, but the block ends at byte \(end)"
        if inJPEG { return .malformed(where_) }
        return .truncated("\(where_) (the first \(end) bytes of the file were read)")
    }

    func check(_ offset: Int, _ n: Int, _ what: String) throws(EXIFError) {
        guard offset >= 0, n >= 0, offset <= length, n <= length - offset else { throw pastEnd(what, at: offset, needing: n) }
    }

    /// Reads the byte order and returns IFD0's offset.
    mutating func header() throws(EXIFError) -> Int {
        guard length >= 8 else {
            throw .truncated("its TIFF header at byte \(start) needs 8 bytes, but only \(max(0, length)) remain")
        }
        switch (bytes[start], bytes[start + 1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: throw .malformed("its TIFF header at byte \(start) names no byte order (II or MM)")
        }
        guard u16(2) == 42 else { throw .malformed("its TIFF header at byte \(start) lacks the number 42") }
        return Int(u32(4))
    }

    static func typeSize(_ type: UInt16) -> Int? {
        switch type {
        case 1, 2, 6, 7: 1
        case 3, 8: 2
        case 4, 9, 11, 13: 4
        case 5, 10, 12: 8
        default: nil
        }
    }

    /// The entries of the IFD at `offset`, first of each tag. A second visit of one offset is an
    /// IFD loop.
    func ifd(at offset: Int, name: String, visited: inout Set<Int>) throws(EXIFError) -> [UInt16: Entry] {
        guard visited.insert(offset).inserted else { throw .malformed("\(name) at byte \(file(offset)) is reached twice (an IFD loop)") }
        try check(offset, 2, name)
        let n = Int(u16(offset))
        guard n <= EXIF.maxEntriesPerIFD else { throw .tooLarge("\(name) at byte \(file(offset)) declares \(n) entries; the limit is \(EXIF.maxEntriesPerIFD)") }
        try check(offset + 2, n * 12, "\(name)'s \(n) entries")
        var out: [UInt16: Entry] = [:]
        for i in 0..<n {
            let at = offset + 2 + i * 12
            let tag = u16(at)
            if out[tag] == nil { out[tag] = Entry(at: at, tag: tag, type: u16(at + 2), count: u32(at + 4)) }
        }
        return out
    }

    /// Where an entry's value is (block offset) and its size, checked against the block.
    func value(_ e: Entry, _ what: String) throws(EXIFError) -> (offset: Int, size: Int) {
        guard let unit = Self.typeSize(e.type) else { throw .badValue("\(what) (at byte \(file(e.at))) has the unknown type \(e.type)") }
        let size = unit * Int(e.count)
        if size <= 4 { return (e.at + 8, size) }
        let offset = Int(u32(e.at + 8))
        try check(offset, size, "\(what)'s value")
        return (offset, size)
    }

    /// An offset to an IFD: one LONG or IFD value.
    func pointer(_ e: Entry, _ what: String) throws(EXIFError) -> Int {
        guard e.type == 4 || e.type == 13, e.count == 1 else { throw .badValue("\(what) at byte \(file(e.at)) has type \(e.type) and count \(e.count), not one LONG") }
        return Int(u32(e.at + 8))
    }

    /// An ASCII value up to its first NUL, trailing spaces removed: valid UTF-8, no control
    /// characters, at most `EXIF.maxASCIIBytes` bytes.
    func ascii(_ e: Entry, _ what: String) throws(EXIFError) -> String {
        guard e.type == 2 else { throw .badValue("\(what) (at byte \(file(e.at))) has type \(e.type), not ASCII") }
        guard e.count <= EXIF.maxASCIIBytes + 1 else {
            throw .tooLarge("\(what) (at byte \(file(e.at))) declares \(e.count) bytes; the limit is \(EXIF.maxASCIIBytes + 1)")
        }
        let (offset, size) = try value(e, what)
        var raw = Array(bytes[(start + offset)..<(start + offset + size)])
        if let nul = raw.firstIndex(of: 0) { raw.removeSubrange(nul...) }
        while raw.last == 0x20 { raw.removeLast() }
        guard let s = String(validating: raw, as: UTF8.self) else { throw .badValue("\(what) (at byte \(file(e.at))) is not valid UTF-8") }
        guard !s.unicodeScalars.contains(where: Self.isControlOrBidi) else {
            throw .badValue("\(what) (at byte \(file(e.at))) holds control characters")
        }
        return s
    }

    /// The characters `AttachmentRef.problem` refuses in a camera name or a time taken.
    static func isControlOrBidi(_ s: Unicode.Scalar) -> Bool { AttachmentRef.isControl(s) || AttachmentRef.isBidiControl(s) }

    /// `count` unsigned RATIONALs as (numerator, denominator).
    func rationals(_ e: Entry, _ what: String, count: Int) throws(EXIFError) -> [(UInt32, UInt32)] {
        guard e.type == 5, e.count == count else {
            throw .badValue("\(what) (at byte \(file(e.at))) has type \(e.type) and count \(e.count), not \(count) RATIONAL\(count == 1 ? "" : "s")")
        }
        let (offset, _) = try value(e, what)
        return (0..<count).map { (u32(offset + 8 * $0), u32(offset + 8 * $0 + 4)) }
    }

    /// Degrees + minutes / 60 + seconds / 3600 from three RATIONALs.
    func degrees(_ e: Entry, _ what: String) throws(EXIFError) -> Double {
        let r = try rationals(e, what, count: 3)
        guard r.allSatisfy({ $0.1 != 0 }) else { throw .badValue("\(what) (at byte \(file(e.at))) has a zero denominator") }
        let d = Double(r[0].0) / Double(r[0].1), m = Double(r[1].0) / Double(r[1].1), s = Double(r[2].0) / Double(r[2].1)
        return d + m / 60 + s / 3600
    }

    // MARK: stripping

    mutating func zero(_ offset: Int, _ n: Int) {
        guard n > 0, offset >= 0, offset <= length, n <= length - offset else { return }
        for i in (start + offset)..<(start + offset + n) { bytes[i] = 0 }
    }

    /// Removes every GPS IFD pointer from the IFD chain and zeroes what it pointed to.
    mutating func stripGPS() throws(EXIFError) {
        var offset = try header()
        var visited: Set<Int> = []
        var steps = 0
        while offset != 0, steps < EXIF.maxIFDs {
            steps += 1
            _ = try ifd(at: offset, name: "IFD\(steps - 1)", visited: &visited)  // checks bounds and loops
            var n = Int(u16(offset))
            var i = 0
            while i < n {
                let at = offset + 2 + i * 12
                guard u16(at) == 0x8825 else { i += 1; continue }
                let type = u16(at + 2), count = u32(at + 4)
                if (type == 4 || type == 13) && count == 1 { zeroIFD(at: Int(u32(at + 8))) }
                // Move the later entries and the next-IFD offset up by one entry; zero the freed slot.
                let tail = offset + 2 + n * 12 + 4
                let available = min(tail, length)
                let from = start + at + 12, to = start + at
                let moved = max(0, start + available - from)
                for k in 0..<moved { bytes[to + k] = bytes[from + k] }
                zero(available - 12, 12)
                n -= 1
                let c = UInt16(n)
                if little { bytes[start + offset] = UInt8(c & 0xFF); bytes[start + offset + 1] = UInt8(c >> 8) }
                else { bytes[start + offset] = UInt8(c >> 8); bytes[start + offset + 1] = UInt8(c & 0xFF) }
            }
            let next = offset + 2 + n * 12
            guard next + 4 <= length else { break }
            offset = Int(u32(next))
        }
    }

    /// Overwrites an IFD (its count, entries, next offset) and every value it points to with zeros.
    mutating func zeroIFD(at offset: Int) {
        guard offset >= 0, offset + 2 <= length else { return }
        let n = min(Int(u16(offset)), (length - offset - 2) / 12)
        for i in 0..<n {
            let at = offset + 2 + i * 12
            if let unit = Self.typeSize(u16(at + 2)) {
                let size = unit * Int(u32(at + 4))
                if size > 4 { zero(Int(u32(at + 8)), size) }
            }
        }
        zero(offset, min(2 + n * 12 + 4, length - offset))
    }
}
