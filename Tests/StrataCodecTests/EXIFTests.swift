import Foundation
import StrataCore
import Testing

@testable import StrataCodec

/// The EXIF reader and the location stripper (Protocol/SPEC.md, "EXIF metadata (read only)"),
/// on photos made by ImageMagick and exiftool (Tests/StrataCodecTests/Fixtures/README.md) and
/// on blocks built by hand.
@Suite("EXIF")
struct EXIFTests {
    static let fixtures: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func photo(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    static func read(_ bytes: [UInt8]) throws -> PhotoMetadata {
        try EXIF.metadata(of: bytes).get()
    }

    static func code(_ bytes: [UInt8]) -> String {
        switch EXIF.metadata(of: bytes) {
        case .success: "ok"
        case .failure(let e): e.code
        }
    }

    static let readCodes: Set<String> = ["truncated", "malformed", "too-large", "bad-value"]

    /// 34° 32' 49.92" N, 38° 16' 5.16" E, computed as the spec says (degrees, then minutes / 60,
    /// then seconds / 3600, left to right).
    static let palmyra = Location(latitude: 34.0 + 32.0 / 60 + 49.92 / 3600, longitude: 38.0 + 16.0 / 60 + 5.16 / 3600, accuracyMetres: 5)

    // MARK: photos made by the tools

    @Test func aCanonPhotoInIntelOrderGivesEveryField() throws {
        let m = try Self.read(try Self.photo("north-east-le.jpg"))
        #expect(m.takenAt == "2015-05-20T14:32:07+03:00")
        #expect(m.camera == "Canon EOS 80D")
        #expect(m.orientation == 6)
        #expect(m.location == Self.palmyra)
    }

    @Test func aNikonPhotoInMotorolaOrderIsSouthAndWest() throws {
        let m = try Self.read(try Self.photo("south-west-be.jpg"))
        #expect(m.takenAt == "2016-03-27T09:05:00")
        #expect(m.camera == "NIKON CORPORATION NIKON D750")
        #expect(m.orientation == 1)
        let l = try #require(m.location)
        #expect(abs(l.latitude - -13.1631) < 1e-9 && abs(l.longitude - -72.545) < 1e-9)
        #expect(l.accuracyMetres == nil)
    }

    @Test func aPhotoWithoutGPSHasNoLocation() throws {
        let m = try Self.read(try Self.photo("no-gps.jpg"))
        #expect(m == PhotoMetadata(takenAt: "2015-05-20T14:32:07", camera: "Canon EOS 5D"))
    }

    @Test func aJPEGWithoutEXIFAndFilesOfOtherKindsGiveEmptyMetadata() throws {
        #expect(try Self.read(try Self.photo("plain.jpg")).isEmpty)
        #expect(try Self.read([]).isEmpty)
        #expect(try Self.read([0xFF, 0xD8]).isEmpty)
        #expect(try Self.read([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]).isEmpty)
        #expect(try Self.read(Array("%PDF-1.7\n".utf8)).isEmpty)
        // A JPEG whose APP1 is XMP only: no EXIF block.
        #expect(try Self.read(EXIFBuilder.jpeg(app1: EXIF.xmpHeader + Array("<x:xmpmeta/>".utf8))).isEmpty)
    }

    @Test func aTIFFFileIsReadFromItsOwnHeader() throws {
        let m = try Self.read(try Self.photo("north-east.tif"))
        #expect(m.camera == "Canon EOS 80D")
        #expect(m.takenAt == "2015-05-20T14:32:07")
        #expect(m.location == Location(latitude: Self.palmyra.latitude, longitude: Self.palmyra.longitude))
    }

    @Test func theFixturesAreSmall() throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.path) {
            let size = try Self.photo(name).count
            #expect(size < 10_000, "\(name) is \(size) bytes")
        }
    }

    // MARK: blocks built by hand

    @Test func bothByteOrdersReadTheSame() throws {
        let expected = PhotoMetadata(takenAt: "2015-05-20T14:32:07+03:00", location: Self.palmyra, orientation: 6, camera: "Canon EOS 80D")
        #expect(try Self.read(EXIFBuilder.palmyra(little: true).jpeg) == expected)
        #expect(try Self.read(EXIFBuilder.palmyra(little: false).jpeg) == expected)
        #expect(try Self.read(EXIFBuilder.palmyra(little: false).tiff) == expected)
    }

    @Test func theMakeIsNotRepeatedWhenTheModelStartsWithIt() {
        #expect(EXIF.camera(make: "Canon", model: "Canon EOS 80D") == "Canon EOS 80D")
        #expect(EXIF.camera(make: "SONY", model: "Sony ILCE-7M3") == "Sony ILCE-7M3")
        #expect(EXIF.camera(make: "Apple", model: "iPhone 12") == "Apple iPhone 12")
        #expect(EXIF.camera(make: "", model: "X100V") == "X100V")
        #expect(EXIF.camera(make: "FUJIFILM", model: "") == "FUJIFILM")
        #expect(EXIF.camera(make: "", model: "") == nil)
    }

    @Test func aBlankOrZeroDateIsNoDateAndAMalformedOneIsRefused() throws {
        for blank in ["    :  :     :  :  ", "0000:00:00 00:00:00", ""] {
            var b = EXIFBuilder.palmyra()
            b.exif = [b.ascii(0x9003, blank), b.ascii(0x9011, "+03:00")]
            #expect(try Self.read(b.jpeg).takenAt == nil, "\(blank)")
        }
        for bad in ["2015-05-20 14:32:07", "2015:13:20 14:32:07", "2015:05:20 24:00:00", "2015:05:20"] {
            var b = EXIFBuilder.palmyra()
            b.exif = [b.ascii(0x9003, bad)]
            #expect(Self.code(b.jpeg) == "bad-value", "\(bad)")
        }
        var b = EXIFBuilder.palmyra()
        b.exif = [b.ascii(0x9003, "2015:05:20 14:32:07"), b.ascii(0x9011, "3 hours")]
        #expect(Self.code(b.jpeg) == "bad-value")
        b.exif = [b.ascii(0x9003, "2015:05:20 14:32:07"), b.ascii(0x9011, "-05:30")]
        #expect(try Self.read(b.jpeg).takenAt == "2015-05-20T14:32:07-05:30")
    }

    @Test func everyPrefixOfAPhotoIsEmptyTruncatedOrComplete() throws {
        for little in [true, false] {
            let full = EXIFBuilder.palmyra(little: little).jpeg
            let segmentEnd = full.count - 2  // before EOI
            for n in 0...full.count {
                let r = EXIF.metadata(of: Array(full.prefix(n)))
                switch r {
                case .success(let m):
                    #expect(n <= 6 ? m.isEmpty : n >= segmentEnd, "prefix \(n)")
                case .failure(let e):
                    #expect(e.code == "truncated" && n > 6 && n < segmentEnd, "prefix \(n): \(e)")
                    #expect(!e.description.contains("\n"))
                }
            }
        }
    }

    @Test func aBlockCutAtEveryByteNeverCrashes() throws {
        let tiff = EXIFBuilder.palmyra().tiff
        var codes: [String: Int] = [:]
        for n in 0...tiff.count {
            // A JPEG segment whose length matches its cut content (the cut is inside the TIFF).
            let c = Self.code(EXIFBuilder.jpeg(app1: EXIF.exifHeader + Array(tiff.prefix(n))))
            #expect(c == "ok" || Self.readCodes.contains(c))
            codes[c, default: 0] += 1
            // A TIFF file's head cut by the caller.
            let t = Self.code(Array(tiff.prefix(n)))
            #expect(t == "ok" || Self.readCodes.contains(t))
        }
        #expect(codes["malformed", default: 0] > 0 && codes["truncated", default: 0] > 0, "\(codes)")
    }

    @Test func aTruncatedSegmentSaysWhereItEnds() throws {
        let full = EXIFBuilder.palmyra().jpeg
        guard case .failure(let e) = EXIF.metadata(of: Array(full.prefix(100))) else {
            Issue.record("a cut photo was read")
            return
        }
        #expect(e.code == "truncated")
        #expect(e.description == "the photo's EXIF block is truncated: its APP1 segment at byte 2 declares \(full.count - 6) bytes, so it ends at byte \(full.count - 2), but the file ends at byte 100")
    }

    @Test func anIFDThatPointsBackIsALoop() throws {
        var b = EXIFBuilder.palmyra()
        b.exifPointer = 8
        #expect(Self.code(b.jpeg) == "malformed")
        b = EXIFBuilder.palmyra()
        b.gpsPointer = 8
        guard case .failure(let e) = EXIF.metadata(of: b.jpeg) else {
            Issue.record("a loop was read")
            return
        }
        #expect(e.description.contains("IFD loop"))
    }

    @Test func hugeCountsAreRefusedBeforeReading() throws {
        var b = EXIFBuilder.palmyra()
        b.ifd0[0] = EXIFBuilder.Entry(tag: 0x010F, type: 2, count: 1 << 31, data: [], rawOffset: 8)
        #expect(Self.code(b.jpeg) == "too-large")
        b = EXIFBuilder.palmyra()
        b.gps[2] = EXIFBuilder.Entry(tag: 2, type: 5, count: 1 << 31, data: [], rawOffset: 8)
        #expect(Self.code(b.jpeg) == "bad-value")
        // A tag that is not read may declare anything.
        b = EXIFBuilder.palmyra()
        b.ifd0.append(EXIFBuilder.Entry(tag: 0x927C, type: 7, count: UInt32.max, data: [], rawOffset: UInt32.max))
        #expect(Self.code(b.jpeg) == "ok")
        // An IFD declaring more entries than the limit.
        var raw = EXIFBuilder.palmyra().tiff
        raw[8] = 0xFF
        raw[9] = 0x7F
        #expect(Self.code(EXIFBuilder.jpeg(app1: EXIF.exifHeader + raw)) == "too-large")
    }

    @Test func hostileValuesAreRefusedWithTheirReason() throws {
        func with(_ change: (inout EXIFBuilder) -> Void) -> String {
            var b = EXIFBuilder.palmyra()
            change(&b)
            return Self.code(b.jpeg)
        }
        #expect(with { $0.gps[2] = $0.rationals(2, [(34, 0), (32, 1), (0, 1)]) } == "bad-value")  // NaN / inf
        #expect(with { $0.gps[5] = $0.rationals(0x1F, [(5, 0)]) } == "bad-value")
        #expect(with { $0.gps[2] = $0.rationals(2, [(91, 1), (0, 1), (0, 1)]) } == "bad-value")
        #expect(with { $0.gps[4] = $0.rationals(4, [(180, 1), (0, 1), (1, 1)]) } == "bad-value")
        #expect(with { $0.gps[1] = $0.ascii(1, "X") } == "bad-value")
        #expect(with { $0.gps.remove(at: 4) } == "bad-value")  // a latitude without a longitude
        #expect(with { $0.ifd0[2] = $0.short(0x0112, 9) } == "bad-value")
        #expect(with { $0.ifd0[2] = EXIFBuilder.Entry(tag: 0x0112, type: 4, count: 1, data: $0.u32(6)) } == "bad-value")
        #expect(with { $0.ifd0[0] = EXIFBuilder.Entry(tag: 0x010F, type: 2, count: 6, data: [0x43, 0xFF, 0xFE, 0x6E, 0x6F, 0]) } == "bad-value")
        #expect(with { $0.ifd0[0] = $0.ascii(0x010F, "Ca\u{202E}non") } == "bad-value")
        #expect(with { $0.ifd0[0] = EXIFBuilder.Entry(tag: 0x010F, type: 99, count: 1, data: [1]) } == "bad-value")
        #expect(with { $0.ifd0[0] = EXIFBuilder.Entry(tag: 0x010F, type: 2, count: 40, data: [], rawOffset: 60_000) } == "malformed")
        #expect(with { $0.exifPointer = 60_000 } == "malformed")
        #expect(with { $0.ifd0Offset = 1 << 30 } == "malformed")
        // A GPS IFD with only a version (a camera without a fix) has no position.
        var b = EXIFBuilder.palmyra()
        b.gps = [EXIFBuilder.Entry(tag: 0, type: 1, count: 4, data: [2, 3, 0, 0])]
        #expect(try Self.read(b.jpeg).location == nil)
        // Southern and western hemispheres, by hand.
        b = EXIFBuilder.palmyra(little: false)
        b.gps[1] = b.ascii(1, "S")
        b.gps[3] = b.ascii(3, "W")
        let l = try #require(try Self.read(b.jpeg).location)
        #expect(l.latitude == -Self.palmyra.latitude && l.longitude == -Self.palmyra.longitude)
    }

    @Test func aBadByteOrderIsMalformed() {
        var raw = EXIFBuilder.palmyra().tiff
        raw[0] = 0x58
        raw[1] = 0x58
        #expect(Self.code(EXIFBuilder.jpeg(app1: EXIF.exifHeader + raw)) == "malformed")
    }

    // MARK: stripping the location

    /// The bytes of a coordinate as its GPS IFD holds them (the seconds rational), in the
    /// photo's byte order.
    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
        return false
    }

    @Test func strippingRemovesThePositionAndKeepsEverythingElse() throws {
        for name in ["north-east-le.jpg", "south-west-be.jpg", "north-east.tif", "xmp-gps.jpg", "no-gps.jpg", "plain.jpg"] {
            let original = try Self.photo(name)
            let stripped = try EXIF.strippingLocation(original)
            let before = try Self.read(original)
            let after = try Self.read(stripped)
            #expect(after == before.withoutLocation, "\(name)")
            #expect(after.location == nil)
            if name != "xmp-gps.jpg" { #expect(stripped.count == original.count, "\(name)") }
            if before.location == nil && name != "xmp-gps.jpg" { #expect(stripped == original, "\(name)") }
            // The image data (from the start of scan) is untouched.
            if name.hasSuffix(".jpg") {
                let sos: [UInt8] = [0xFF, 0xDA]
                let a = try #require(original.indices.first { original[$0...].starts(with: sos) })
                let b = try #require(stripped.indices.first { stripped[$0...].starts(with: sos) })
                #expect(original[a...] == stripped[b...], "\(name)")
            }
        }
    }

    @Test func noCoordinateBytesSurviveAnywhere() throws {
        for little in [true, false] {
            let b = EXIFBuilder.palmyra(little: little)
            let photo = b.jpeg
            // The seconds of the latitude and longitude, and the accuracy, as stored.
            let needles = [b.u32(4992) + b.u32(100), b.u32(516) + b.u32(100), b.u32(5) + b.u32(1)]
            for n in needles { #expect(Self.contains(photo, n)) }
            let stripped = try EXIF.strippingLocation(photo)
            for n in needles { #expect(!Self.contains(stripped, n), "\(n)") }
            let m = try Self.read(stripped)
            #expect(m == PhotoMetadata(takenAt: "2015-05-20T14:32:07+03:00", orientation: 6, camera: "Canon EOS 80D"))
        }
        let xmp = try EXIF.strippingLocation(try Self.photo("xmp-gps.jpg"))
        #expect(!Self.contains(xmp, Array("GPS".utf8)))
        #expect(!Self.contains(xmp, Array("http://ns.adobe.com/xap/1.0/".utf8)))
    }

    @Test func anUnreadableEXIFSegmentIsDroppedWhole() throws {
        var b = EXIFBuilder.palmyra()
        b.ifd0Offset = 1 << 30  // IFD0 past the end: the stripper cannot find the GPS pointer
        let photo = b.jpeg
        let stripped = try EXIF.strippingLocation(photo)
        #expect(stripped == [0xFF, 0xD8, 0xFF, 0xD9])
    }

    @Test func strippingRefusesWhatItCannotWalk() throws {
        func code(_ b: [UInt8]) -> String {
            do {
                _ = try EXIF.strippingLocation(b)
                return "ok"
            } catch { return error.code }
        }
        #expect(code(Array("%PDF-1.7\n".utf8)) == "unsupported-format")
        #expect(code([0x89, 0x50, 0x4E, 0x47]) == "unsupported-format")
        let photo = EXIFBuilder.palmyra().jpeg
        #expect(code(Array(photo.prefix(40))) == "truncated")
        var junk = photo
        junk.insert(0x00, at: photo.count - 2)  // a byte where the marker after APP1 should be
        #expect(code(junk) == "malformed")
        var tiff = EXIFBuilder.palmyra().tiff
        tiff[2] = 0
        tiff[3] = 0
        #expect(code(tiff) == "unsupported-format")
    }

    // MARK: seeded mutations

    static let iterations = Int(ProcessInfo.processInfo.environment["STRATA_FUZZ_ITERATIONS"] ?? "") ?? 3000

    /// Mutated photos: reading never crashes and fails with a known code; stripping either
    /// refuses with a known code or gives a file whose reading has no position.
    @Test func mutatedPhotosNeverCrashAndStrippedOnesHaveNoPosition() throws {
        let seeds = try [
            Self.photo("north-east-le.jpg"), Self.photo("south-west-be.jpg"), Self.photo("north-east.tif"), Self.photo("xmp-gps.jpg"),
            EXIFBuilder.palmyra(little: true).jpeg, EXIFBuilder.palmyra(little: false).jpeg, EXIFBuilder.palmyra().tiff,
        ]
        var rng = SeededRNG(seed: 0xE81F)
        var codes: [String: Int] = [:]
        var stripped = 0
        for i in 0..<Self.iterations {
            let input = FuzzTests.mutate(seeds[i % seeds.count], &rng)
            let c = Self.code(input)
            #expect(c == "ok" || Self.readCodes.contains(c), "iteration \(i)")
            codes[c, default: 0] += 1
            do {
                let out = try EXIF.strippingLocation(input)
                if case .success(let m) = EXIF.metadata(of: out) { #expect(m.location == nil, "iteration \(i)") }
                stripped += 1
            } catch {
                #expect(Self.readCodes.contains(error.code) || error.code == "unsupported-format", "iteration \(i)")
                #expect(!error.description.contains("\n"))
            }
        }
        // Mutations that cut the file make most refusals (a segment past the end): 44% stripped at 3000.
        #expect(codes.count >= 4 && stripped > Self.iterations / 4, "\(codes), \(stripped) stripped")
    }

    // MARK: the real tools (opt-in)

    /// With STRATA_EXIF_TOOLS=1 (and exiftool and ImageMagick installed): exiftool finds no GPS
    /// tag in the stripped photos, ImageMagick decodes them to the same pixels, and the other
    /// tags survive.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["STRATA_EXIF_TOOLS"] == "1"))
    func exiftoolFindsNoGPSInStrippedPhotos() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("strata-exif-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func run(_ args: [String]) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = args
            let pipe = Pipe()
            p.standardOutput = pipe
            try p.run()
            let out = pipe.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: out, as: UTF8.self)
        }
        for name in ["north-east-le.jpg", "south-west-be.jpg", "north-east.tif", "xmp-gps.jpg"] {
            let original = Self.fixtures.appendingPathComponent(name)
            let out = dir.appendingPathComponent(name)
            try Data(try EXIF.strippingLocation(try Self.photo(name))).write(to: out)
            let before = try run(["exiftool", "-a", "-s", "-G1", original.path])
            let after = try run(["exiftool", "-a", "-s", "-G1", out.path])
            #expect(before.contains("GPSLatitude"), "\(name)")
            #expect(!after.contains("GPS"), "\(name): \(after)")
            #expect(after.contains("Make") && after.contains("Model"), "\(name)")
            #expect(try run(["convert", original.path, "ppm:-"]) == run(["convert", out.path, "ppm:-"]), "\(name)")
        }
    }
}
