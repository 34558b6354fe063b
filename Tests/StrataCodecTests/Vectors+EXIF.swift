import StrataCore

@testable import StrataCodec

/// The `exif` vectors (Protocol/SPEC.md, "EXIF metadata (read only)"): blocks built by
/// `EXIFBuilder`, their expected `PhotoMetadata`, and blocks the reader refuses.
extension Vectors {
    static var validEXIF: [Valid] {
        var southWest = EXIFBuilder.palmyra(little: false)
        southWest.ifd0 = [southWest.ascii(0x010F, "NIKON CORPORATION"), southWest.ascii(0x0110, "NIKON D750"), southWest.short(0x0112, 1)]
        southWest.exif = [southWest.ascii(0x9003, "2016:03:27 09:05:00")]
        southWest.gps = [
            southWest.ascii(1, "S"), southWest.rationals(2, [(13, 1), (9, 1), (4716, 100)]),
            southWest.ascii(3, "W"), southWest.rationals(4, [(72, 1), (32, 1), (4200, 100)]),
        ]
        var noFix = EXIFBuilder(little: true)
        noFix.ifd0 = [noFix.ascii(0x0110, "X100V  ")]
        noFix.exif = [noFix.ascii(0x9003, "    :  :     :  :  ")]
        noFix.gps = [EXIFBuilder.Entry(tag: 0, type: 1, count: 4, data: [2, 3, 0, 0])]
        let jfif: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10] + Array("JFIF".utf8) + [0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0xFF, 0xD9]
        return [
            Valid(
                name: "ex-01-palmyra-intel", kind: "exif", bytes: EXIFBuilder.palmyra(little: true).jpeg, reencode: false,
                note: "a JPEG, byte order II: Make Canon and Model Canon EOS 80D (the make not repeated), orientation 6, DateTimeOriginal with OffsetTimeOriginal, 34 32 49.92 N 38 16 5.16 E with GPSHPositioningError 5"),
            Valid(
                name: "ex-02-south-west-motorola", kind: "exif", bytes: southWest.jpeg, reencode: false,
                note: "a JPEG, byte order MM: southern and western hemispheres (negative), no offset, no accuracy, Make NIKON CORPORATION with Model NIKON D750"),
            Valid(
                name: "ex-03-tiff-file", kind: "exif", bytes: EXIFBuilder.palmyra(little: false).tiff, reencode: false,
                note: "a TIFF file (a raw format's header), byte order MM: read from byte 0"),
            Valid(
                name: "ex-04-no-fix-blank-date", kind: "exif", bytes: noFix.jpeg, reencode: false,
                note: "a GPS IFD holding only GPSVersionID (no fix), a blank DateTimeOriginal, a Model with trailing spaces and no Make"),
            Valid(name: "ex-05-jfif-only", kind: "exif", bytes: jfif, reencode: false, note: "a JPEG without an EXIF block: empty metadata"),
            Valid(name: "ex-06-not-a-photo", kind: "exif", bytes: Array("%PDF-1.7\n".utf8), reencode: false, note: "neither JPEG nor TIFF: empty metadata"),
        ]
    }

    static var invalidEXIF: [Invalid] {
        func ex(_ name: String, _ code: String, _ requirement: String, _ note: String, _ change: (inout EXIFBuilder) -> Void) -> Invalid {
            var b = EXIFBuilder.palmyra()
            change(&b)
            return Invalid(name: name, kind: "exif", bytes: b.jpeg, code: code, requirement: requirement, note: note)
        }
        let palmyra = EXIFBuilder.palmyra().jpeg
        var badOrder = EXIFBuilder.palmyra().tiff
        badOrder[0] = 0x58
        badOrder[1] = 0x58
        var manyEntries = EXIFBuilder.palmyra().tiff
        manyEntries[8] = 0x01
        manyEntries[9] = 0x04  // 1025 entries, little-endian
        return [
            Invalid(
                name: "ex-rej-01-truncated-segment", kind: "exif", bytes: Array(palmyra.prefix(100)), code: "truncated", requirement: "EXIF-REJ-01",
                note: "ex-01 cut at byte 100, inside its APP1 segment"),
            Invalid(
                name: "ex-rej-01-truncated-tiff-file", kind: "exif", bytes: Array(EXIFBuilder.palmyra().tiff.prefix(40)), code: "truncated",
                requirement: "EXIF-REJ-01", note: "a TIFF file's first 40 bytes: IFD0's entries run past them"),
            Invalid(
                name: "ex-rej-02-bad-byte-order", kind: "exif", bytes: EXIFBuilder.jpeg(app1: EXIF.exifHeader + badOrder), code: "malformed",
                requirement: "EXIF-REJ-02", note: "the TIFF header starts XX"),
            ex("ex-rej-02-ifd-loop", "malformed", "EXIF-REJ-02", "the Exif IFD pointer points back at IFD0") { $0.exifPointer = 8 },
            ex("ex-rej-02-offset-past-end", "malformed", "EXIF-REJ-02", "Make's value offset is 60000, past the end of the segment") {
                $0.ifd0[0] = EXIFBuilder.Entry(tag: 0x010F, type: 2, count: 40, data: [], rawOffset: 60_000)
            },
            ex("ex-rej-03-huge-count", "too-large", "EXIF-REJ-03", "Make declares 2^31 bytes") {
                $0.ifd0[0] = EXIFBuilder.Entry(tag: 0x010F, type: 2, count: 1 << 31, data: [], rawOffset: 8)
            },
            Invalid(
                name: "ex-rej-03-too-many-entries", kind: "exif", bytes: EXIFBuilder.jpeg(app1: EXIF.exifHeader + manyEntries), code: "too-large",
                requirement: "EXIF-REJ-03", note: "IFD0 declares 1025 entries"),
            ex("ex-rej-04-zero-denominator", "bad-value", "EXIF-REJ-04", "GPSLatitude's degrees are 34/0") {
                $0.gps[2] = $0.rationals(2, [(34, 0), (32, 1), (4992, 100)])
            },
            ex("ex-rej-04-latitude-beyond-90", "bad-value", "EXIF-REJ-04", "GPSLatitude 91 0 0") {
                $0.gps[2] = $0.rationals(2, [(91, 1), (0, 1), (0, 1)])
            },
            ex("ex-rej-04-wrong-type", "bad-value", "EXIF-REJ-04", "Orientation as a LONG") {
                $0.ifd0[2] = EXIFBuilder.Entry(tag: 0x0112, type: 4, count: 1, data: $0.u32(6))
            },
            ex("ex-rej-04-partial-position", "bad-value", "EXIF-REJ-04", "a latitude without a longitude") { $0.gps.remove(at: 4) },
            ex("ex-rej-04-bad-date", "bad-value", "EXIF-REJ-04", "DateTimeOriginal 2015:13:20 14:32:07") {
                $0.exif[0] = $0.ascii(0x9003, "2015:13:20 14:32:07")
            },
        ]
    }

    /// A `PhotoMetadata` as an `exif` vector's `.json` gives it: the keys present, in this order.
    static func describe(_ m: PhotoMetadata) -> String {
        var parts: [String] = []
        if let t = m.takenAt { parts.append("\"takenAt\": \(quote(t))") }
        if let l = m.location {
            var s = "{\"latitude\": \(quote(hex64(l.latitude.bitPattern))), \"longitude\": \(quote(hex64(l.longitude.bitPattern)))"
            if let a = l.accuracyMetres { s += ", \"accuracyMetres\": \(quote(hex64(a.bitPattern)))" }
            s += ", \"approx\": \(quote("\(l.latitude),\(l.longitude)"))}"
            parts.append("\"location\": \(s)")
        }
        if let o = m.orientation { parts.append("\"orientation\": \(o)") }
        if let c = m.camera { parts.append("\"camera\": \(quote(c))") }
        return parts.isEmpty ? "{}" : "{\n" + parts.map { "  " + $0 }.joined(separator: ",\n") + "\n}"
    }
}
