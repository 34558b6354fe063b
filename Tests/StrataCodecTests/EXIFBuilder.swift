/// Hand-built EXIF blocks for the tests and the `exif` vectors: a TIFF structure (IFD0, an
/// Exif IFD and a GPS IFD, each followed by its out-of-line values) in either byte order,
/// wrapped in a minimal JPEG (SOI, APP1 "Exif", EOI) or left as a TIFF file.
struct EXIFBuilder {
    struct Entry {
        var tag: UInt16
        var type: UInt16
        var count: UInt32
        /// The value's bytes, already in the block's byte order (see the helpers below).
        var data: [UInt8]
        /// When set, written in the value field instead of an offset to `data` (hostile blocks).
        var rawOffset: UInt32? = nil
    }

    var little = true
    var ifd0: [Entry] = []
    var exif: [Entry] = []
    var gps: [Entry] = []
    /// Overrides for hostile blocks: the pointers' values, IFD0's offset.
    var exifPointer: UInt32? = nil
    var gpsPointer: UInt32? = nil
    var ifd0Offset: UInt32 = 8

    func u16(_ v: UInt16) -> [UInt8] { little ? [UInt8(v & 0xFF), UInt8(v >> 8)] : [UInt8(v >> 8), UInt8(v & 0xFF)] }
    func u32(_ v: UInt32) -> [UInt8] {
        let b = [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
        return little ? b : b.reversed()
    }

    func ascii(_ tag: UInt16, _ s: String) -> Entry {
        let b = Array(s.utf8) + [0]
        return Entry(tag: tag, type: 2, count: UInt32(b.count), data: b)
    }
    func short(_ tag: UInt16, _ v: UInt16) -> Entry { Entry(tag: tag, type: 3, count: 1, data: u16(v) + [0, 0]) }
    func rationals(_ tag: UInt16, _ r: [(UInt32, UInt32)]) -> Entry {
        Entry(tag: tag, type: 5, count: UInt32(r.count), data: r.flatMap { u32($0.0) + u32($0.1) })
    }

    /// The TIFF structure: header, IFD0 (with pointers to the Exif and GPS IFDs when they have
    /// entries), then each IFD followed by its values.
    var tiff: [UInt8] {
        var first = ifd0
        if !exif.isEmpty || exifPointer != nil { first.append(Entry(tag: 0x8769, type: 4, count: 1, data: [0, 0, 0, 0])) }
        if !gps.isEmpty || gpsPointer != nil { first.append(Entry(tag: 0x8825, type: 4, count: 1, data: [0, 0, 0, 0])) }
        first.sort { $0.tag < $1.tag }
        func size(_ entries: [Entry]) -> Int {
            2 + entries.count * 12 + 4 + entries.reduce(0) { $0 + ($1.data.count > 4 ? ($1.data.count + 1) & ~1 : 0) }
        }
        let ifd0At = 8
        let exifAt = ifd0At + size(first)
        let gpsAt = exifAt + (exif.isEmpty ? 0 : size(exif))
        var out: [UInt8] = (little ? [0x49, 0x49] : [0x4D, 0x4D]) + u16(42) + u32(ifd0Offset)
        func write(_ entries: [Entry], at base: Int) {
            var dataAt = base + 2 + entries.count * 12 + 4
            var data: [UInt8] = []
            out += u16(UInt16(entries.count))
            for e in entries {
                var e = e
                if e.tag == 0x8769 && base == ifd0At { e.data = u32(exifPointer ?? UInt32(exifAt)) }
                if e.tag == 0x8825 && base == ifd0At { e.data = u32(gpsPointer ?? UInt32(gpsAt)) }
                out += u16(e.tag) + u16(e.type) + u32(e.count)
                if let raw = e.rawOffset {
                    out += u32(raw)
                } else if e.data.count <= 4 {
                    out += e.data + [UInt8](repeating: 0, count: 4 - e.data.count)
                } else {
                    out += u32(UInt32(dataAt))
                    data += e.data
                    if e.data.count % 2 == 1 { data.append(0) }
                    dataAt += (e.data.count + 1) & ~1
                }
            }
            out += u32(0)
            out += data
        }
        write(first, at: ifd0At)
        if !exif.isEmpty { write(exif, at: exifAt) }
        if !gps.isEmpty { write(gps, at: gpsAt) }
        return out
    }

    /// SOI, one APP1 "Exif" segment holding `tiff`, EOI.
    var jpeg: [UInt8] { Self.jpeg(app1: Array("Exif".utf8) + [0, 0] + tiff) }

    static func jpeg(app1 payload: [UInt8], declaredLength: Int? = nil) -> [UInt8] {
        let length = declaredLength ?? payload.count + 2
        return [0xFF, 0xD8, 0xFF, 0xE1, UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + payload + [0xFF, 0xD9]
    }

    /// Palmyra's Temple of Bel as a camera with a GPS fix writes it: 34° 32' 49.92" N,
    /// 38° 16' 5.16" E, 5 m, taken 2015-05-20 14:32:07 +03:00, Canon EOS 80D, orientation 6.
    static func palmyra(little: Bool = true) -> EXIFBuilder {
        var b = EXIFBuilder(little: little)
        b.ifd0 = [b.ascii(0x010F, "Canon"), b.ascii(0x0110, "Canon EOS 80D"), b.short(0x0112, 6), b.ascii(0x013B, "Khaled")]
        b.exif = [b.ascii(0x9003, "2015:05:20 14:32:07"), b.ascii(0x9011, "+03:00")]
        b.gps = [
            Entry(tag: 0, type: 1, count: 4, data: [2, 3, 0, 0]),
            b.ascii(1, "N"), b.rationals(2, [(34, 1), (32, 1), (4992, 100)]),
            b.ascii(3, "E"), b.rationals(4, [(38, 1), (16, 1), (516, 100)]),
            b.rationals(0x1F, [(5, 1)]),
        ]
        return b
    }
}
