import Crypto
import Foundation
import StrataCodec
import StrataTestSupport
import Testing

@testable import StrataCore
@testable import StrataStore

/// Attachments in the store (issue 12): blobs beside the store, the `att` set, merging.
@Suite struct AttachmentTests {
    static func bytes(_ n: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededRandom(seed: seed)
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static func file(_ dir: TemporaryDirectory, _ name: String, _ bytes: [UInt8]) throws -> String {
        let p = dir.file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    static func sha(_ b: [UInt8]) -> BlobHash { BlobHash(bytes: Array(SHA256.hash(data: b)))! }

    func site(_ store: Store) throws -> RecordID {
        let id = store.newRecordID()
        try store.commit([.create(id, kind: .artefact), .set(id, field: "title", .text("Funerary bust"))])
        return id
    }

    @Test func attachStoresTheBytesOnceAndTheRecordListsThem() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let id = try site(store)
        let photo = Self.bytes(300_000, seed: 1)
        let a = try Self.file(dir, "bust-east.jpg", [0xFF, 0xD8, 0xFF] + photo)
        let b = try Self.file(dir, "copy.jpg", [0xFF, 0xD8, 0xFF] + photo)
        let pdf = try Self.file(dir, "handover list.pdf", Array("%PDF-1.4\n".utf8) + Self.bytes(5000, seed: 2))
        let attached = try store.attach(
            [AttachmentInput(path: a, caption: "from the east"), AttachmentInput(path: b), AttachmentInput(path: pdf)], to: id)
        #expect(attached.count == 3)
        #expect(attached[0].ref.hash == Self.sha([0xFF, 0xD8, 0xFF] + photo))
        #expect(attached[0].ref.mediaType == "image/jpeg")
        #expect(attached[1].wasStored, "the same bytes again are not stored twice")
        #expect(attached[2].ref.mediaType == "application/pdf")
        let r = try #require(try store.record(id))
        #expect(r.attachments.map(\.ref.name) == ["bust-east.jpg", "handover list.pdf"], "two files with one content are one attachment")
        #expect(r.attachments[0].ref.caption == "from the east")
        #expect(store.blobs.allHashes().count == 2)
        var back: [UInt8] = []
        try store.blobs.read(r.attachments[0].ref.hash) { back.append(contentsOf: $0) }
        #expect(back == [0xFF, 0xD8, 0xFF] + photo)
        #expect(try store.referencedBlobs().map(\.hash).sorted() == r.attachments.map(\.ref.hash).sorted())
        #expect(try store.search("handover").map(\.id) == [id], "names and captions are searchable")
        #expect(try store.search("east").map(\.id) == [id])
        #expect(try store.check().isEmpty)
    }

    @Test func badFilesAreRefusedWithNothingAttached() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let id = try site(store)
        let empty = try Self.file(dir, "empty.jpg", [])
        try FileManager.default.createDirectory(atPath: dir.file("photos"), withIntermediateDirectories: true)
        let good = try Self.file(dir, "ok.txt", Array("fine".utf8))
        func kind(_ inputs: [AttachmentInput]) -> StoreError.Kind? {
            do {
                _ = try store.attach(inputs, to: id)
                return nil
            } catch let e as StoreError { return e.kind } catch { return nil }
        }
        #expect(kind([AttachmentInput(path: dir.file("missing.jpg"))]) == .attachmentMissing(path: dir.file("missing.jpg")))
        #expect(kind([AttachmentInput(path: dir.file("photos"))]) == .attachmentIsDirectory(path: dir.file("photos")))
        #expect(kind([AttachmentInput(path: empty)]) == .attachmentEmpty(path: empty))
        // One bad file in a list: nothing of the list is attached.
        #expect(kind([AttachmentInput(path: good), AttachmentInput(path: empty)]) == .attachmentEmpty(path: empty))
        if case .attachmentBadName? = kind([AttachmentInput(path: good, name: "gpj\u{202E}.exe")]) {} else {
            Issue.record("a bidi control in a name is refused")
        }
        if case .attachmentBadName? = kind([AttachmentInput(path: good, name: "a\u{7}b")]) {} else {
            Issue.record("a control character in a name is refused")
        }
        if case .attachmentBadCaption? = kind([AttachmentInput(path: good, caption: String(repeating: "x", count: 5000))]) {} else {
            Issue.record("an oversized caption is refused")
        }
        #expect(try store.record(id)?.attachments.isEmpty == true)
        #expect(try store.status().localChanges == 1)
    }

    @Test func attachAndDetachMergeLikeTagsAndCaptionsConflict() throws {
        let dir = try TemporaryDirectory()
        let khaled = try makeStore(dir, "k", author: "Khaled", seed: 1)
        let maria = try makeStore(dir, "m", author: "Maria", seed: 2)
        let id = try site(khaled)
        let t = Store.wallClockMillis()
        let photo = try Self.file(dir, "bust.jpg", [0xFF, 0xD8, 0xFF] + Self.bytes(1000, seed: 3))
        _ = try khaled.attach([AttachmentInput(path: photo, caption: "before")], to: id, now: t + 1)
        try maria.receive(try khaled.changes(missingFrom: maria.versionVector()), now: t + 1)
        let hash = try #require(try maria.record(id)?.attachments.first?.ref.hash)
        #expect(!maria.blobs.has(hash), "the bytes did not travel with the change")
        // Concurrent: Khaled detaches, Maria recaptions. Add wins: the attachment stays, with
        // Maria's caption.
        try khaled.detach(hash, from: id, now: t + 2)
        try maria.setCaption("before, east face", of: hash, on: id, now: t + 3)
        let fromK = try khaled.changes(missingFrom: maria.versionVector())
        let fromM = try maria.changes(missingFrom: khaled.versionVector())
        try maria.receive(fromK, now: t + 4)
        try khaled.receive(fromM, now: t + 4)
        for s in [khaled, maria] {
            let a = try #require(try s.record(id)?.attachments.first)
            #expect(a.ref.caption == "before, east face")
            #expect(!a.isConflicted)
        }
        // Concurrent captions: a conflict on both sides, both values kept, resolved by writing it.
        try khaled.setCaption("K's caption", of: hash, on: id, now: t + 5)
        try maria.setCaption("M's caption", of: hash, on: id, now: t + 6)
        try maria.receive(try khaled.changes(missingFrom: maria.versionVector()), now: t + 7)
        try khaled.receive(try maria.changes(missingFrom: khaled.versionVector()), now: t + 7)
        for s in [khaled, maria] {
            let r = try #require(try s.record(id))
            #expect(r.hasConflict)
            let a = try #require(r.conflictedAttachments.first)
            #expect(Set(a.values.compactMap { if case .attachment(let ref) = $0.value { ref.caption } else { nil } }) == ["K's caption", "M's caption"])
        }
        try maria.setCaption("agreed", of: hash, on: id, now: t + 8)
        try khaled.receive(try maria.changes(missingFrom: khaled.versionVector()), now: t + 8)
        #expect(try khaled.record(id)?.hasConflict == false)
        #expect(try khaled.record(id) == maria.record(id))
        #expect(try khaled.check().isEmpty)
        #expect(try maria.check().isEmpty)
    }

    @Test func piecesResumeWhereTheyStoppedAndBadBytesAreDropped() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let blob = Self.bytes(250_000, seed: 9)
        let hash = Self.sha(blob)
        let size = UInt64(blob.count)
        #expect(store.blobs.presence(of: hash) == .missing)
        #expect(try store.blobs.receive(hash, size: size, offset: 0, bytes: blob[0..<150_000]) == .partial(bytes: 150_000))
        #expect(store.blobs.presence(of: hash) == .partial(bytes: 150_000))
        #expect(!store.blobs.has(hash), "nothing under the hash before it is whole")
        #expect(throws: StoreError.self) { try store.blobs.receive(hash, size: size, offset: 0, bytes: blob[0..<10]) }
        #expect(throws: StoreError.self) { try store.blobs.receive(hash, size: size, offset: 150_000, bytes: blob[150_000...] + [0]) }
        #expect(try store.blobs.receive(hash, size: size, offset: 150_000, bytes: blob[150_000...]) == .present)
        #expect(try store.blobs.verify(hash))
        #expect(try store.blobs.read(hash, from: 249_990, maxBytes: 100) == Array(blob[249_990...]))
        #expect(throws: StoreError.self) { try store.blobs.read(hash, from: 250_001, maxBytes: 1) }

        // Bytes that do not hash to the name: dropped, nothing under the hash.
        var wrong = Self.bytes(1000, seed: 10)
        let wrongHash = Self.sha(wrong)
        wrong[500] ^= 1
        do {
            try store.blobs.receive(wrongHash, size: 1000, offset: 0, bytes: wrong)
            Issue.record("bytes that do not hash to the name are refused")
        } catch let e as StoreError {
            guard case .blobHashMismatch = e.kind else { throw e }
        }
        #expect(store.blobs.presence(of: wrongHash) == .missing)
    }

    @Test func aTransferResumedByAnotherProcessHashesItsPrefixOnce() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let blob = Self.bytes(3 * BlobStore.chunk + 12_345, seed: 11)
        let hash = Self.sha(blob)
        let size = UInt64(blob.count)
        let cut = 2 * BlobStore.chunk + 7
        for start in stride(from: 0, to: cut, by: 100_000) {
            _ = try store.blobs.receive(hash, size: size, offset: UInt64(start), bytes: blob[start..<min(start + 100_000, cut)])
        }
        // A new process knows no running hash: the bytes held are read once, then continued.
        ReceivingHashes.shared.drop(store.blobs.partialPath(of: hash))
        #expect(try store.blobs.receive(hash, size: size, offset: UInt64(cut), bytes: blob[cut..<(cut + 10)]) == .partial(bytes: UInt64(cut + 10)))
        #expect(try store.blobs.receive(hash, size: size, offset: UInt64(cut + 10), bytes: blob[(cut + 10)...]) == .present)
        #expect(try store.blobs.verify(hash))
    }

    @Test func bytesChangedUnderAPartialFileAreNotTrustedToTheRunningHash() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let blob = Self.bytes(200_000, seed: 12)
        let hash = Self.sha(blob)
        let size = UInt64(blob.count)
        #expect(try store.blobs.receive(hash, size: size, offset: 0, bytes: blob[0..<120_000]) == .partial(bytes: 120_000))
        // Someone else rewrites a byte of the partial file (its length unchanged): the hash in
        // memory no longer describes the file, so the prefix is read again and the end refused.
        let partial = store.blobs.partialPath(of: hash)
        // Past the kernel's coarse file-time tick (a few ms), so the change time moves.
        Thread.sleep(forTimeInterval: 0.05)
        let h = try #require(FileHandle(forUpdatingAtPath: partial))
        try h.seek(toOffset: 1000)
        try h.write(contentsOf: [blob[1000] ^ 0xFF])
        try h.close()
        do {
            try store.blobs.receive(hash, size: size, offset: 120_000, bytes: blob[120_000...])
            Issue.record("a partial file changed behind the running hash is refused at its end")
        } catch let e as StoreError {
            guard case .blobHashMismatch = e.kind else { throw e }
        }
        #expect(store.blobs.presence(of: hash) == .missing)
        #expect(!store.blobs.has(hash))
    }

    @Test func aDamagedBlobIsFoundOnRead() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let id = try site(store)
        let photo = try Self.file(dir, "bust.jpg", Self.bytes(10_000, seed: 4))
        let ref = try store.attach([AttachmentInput(path: photo)], to: id)[0].ref
        let path = store.blobs.path(of: ref.hash)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[42] ^= 0xFF
        _ = chmod(path, 0o600)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        #expect(try store.blobs.verify(ref.hash) == false)
        let out = dir.file("out.jpg")
        #expect(throws: StoreError.self) { try store.blobs.export(ref.hash, to: out) }
        #expect(!FileManager.default.fileExists(atPath: out), "a damaged blob leaves no file behind")
    }

    /// Flips one byte of a blob's file under its name, its length unchanged.
    static func damage(_ path: String, at i: Int) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[i] ^= 0xFF
        _ = chmod(path, 0o600)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func aDamagedCopyIsSetAsideByTheReadThatFindsItAndCountsAsNotHere() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let id = try site(store)
        let original = Self.bytes(3 * BlobStore.chunk + 777, seed: 21)
        let ref = try store.attach([AttachmentInput(path: try Self.file(dir, "bust.jpg", original))], to: id)[0].ref
        let path = store.blobs.path(of: ref.hash)
        try Self.damage(path, at: 2 * BlobStore.chunk + 5)
        #expect(store.blobs.presence(of: ref.hash) == .present, "by its name alone it looks whole")
        var seen = 0
        do {
            try store.blobs.read(ref.hash) { seen += $0.count }
            Issue.record("a damaged copy is refused")
        } catch let e as StoreError {
            guard case .blobSetAside(let hash, let moved) = e.kind else { throw e }
            #expect(hash == ref.hash.hex)
            #expect(moved == store.blobs.root + "/damaged/" + ref.hash.hex)
            #expect(e.description.contains("is damaged (its bytes do not hash to its name)"))
        }
        #expect(seen == original.count, "the check comes after the last piece")
        #expect(store.blobs.presence(of: ref.hash) == .missing)
        #expect(store.blobs.setAsideCopies() == [store.blobs.root + "/damaged/" + ref.hash.hex])
        #expect(!(try store.checkBlobs().notHere.isEmpty), "the record names a blob that is not here: it can be fetched")
        // Attached again, the original is whole again; the damaged copy stays set aside.
        _ = try store.attach([AttachmentInput(path: try Self.file(dir, "bust2.jpg", original))], to: id)
        #expect(try store.blobs.verify(ref.hash))
    }

    @Test func piecesReadInAnyStepsAreTheBlobAndADamagedOnesLastPieceIsRefused() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let id = try site(store)
        var rng = SeededRandom(seed: 22)
        let original = Self.bytes(2 * BlobStore.chunk + 4321, seed: 23)
        let ref = try store.attach([AttachmentInput(path: try Self.file(dir, "bust.jpg", original))], to: id)[0].ref
        // The oracle: the file's bytes. Pieces of random lengths, in order, from 0 or from an
        // offset no running hash covers (a resumed download: the prefix is hashed first).
        for start in [0, 1, 300_000, original.count - 1] {
            ReadingHashes.shared.drop(store.blobs.path(of: ref.hash))
            var at = start
            var got: [UInt8] = []
            for _ in 0..<10_000 where at < original.count {
                let piece = try store.blobs.read(ref.hash, from: UInt64(at), maxBytes: Int.random(in: 1...400_000, using: &rng))
                got += piece
                at += piece.count
            }
            #expect(got == Array(original[start...]), "from \(start)")
        }
        // Two readers in step share running hashes and both get the blob.
        var x: [UInt8] = []
        var y: [UInt8] = []
        while x.count < original.count {
            x += try store.blobs.read(ref.hash, from: UInt64(x.count), maxBytes: 100_000)
            y += try store.blobs.read(ref.hash, from: UInt64(y.count), maxBytes: 100_000)
        }
        #expect(x == original && y == original)

        // Damaged in its first piece: every piece but the last comes back, the last is refused
        // and the copy set aside, so a reader never holds the damaged blob whole.
        try Self.damage(store.blobs.path(of: ref.hash), at: 10)
        var at: UInt64 = 0
        var refused = false
        for _ in 0..<100 {
            do {
                at += UInt64(try store.blobs.read(ref.hash, from: at, maxBytes: 256 << 10).count)
            } catch let e as StoreError {
                guard case .blobSetAside = e.kind else { throw e }
                refused = true
                break
            }
        }
        #expect(refused && at < UInt64(original.count) && at >= UInt64(original.count - (256 << 10)))
        #expect(store.blobs.presence(of: ref.hash) == .missing)
        #expect(throws: StoreError.self) { try store.blobs.read(ref.hash, from: 0, maxBytes: 10) }
    }

    @Test func aDownloadIsPlacedUnflushedAndATornOneCountsAsMissing() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let blob = Self.bytes(1_000_000, seed: 24)
        let hash = Self.sha(blob)
        let size = UInt64(blob.count)
        // In pieces through one receiver, straight from the caller's buffers; closed midway
        // it keeps what arrived, and a second one resumes there.
        let first = try store.blobs.receiving(hash, size: size, offset: 0, durable: false)
        for start in stride(from: 0, to: 600_000, by: 65_536) {
            let piece = Array(blob[start..<min(start + 65_536, 600_000)])
            #expect(try piece.withUnsafeBytes { try first.append($0) } == .partial(bytes: UInt64(min(start + 65_536, 600_000))))
        }
        first.close()
        #expect(store.blobs.presence(of: hash) == .partial(bytes: 600_000))
        #expect(throws: StoreError.self) { try store.blobs.receiving(hash, size: size, offset: 0, durable: false) }
        let second = try store.blobs.receiving(hash, size: size, offset: 600_000, durable: false)
        let past = Array(blob[600_000...]) + [0]
        #expect(throws: StoreError.self) { try past.withUnsafeBytes { try second.append($0) } }
        #expect(try Array(blob[600_000...]).withUnsafeBytes { try second.append($0) } == .present)
        second.close()
        #expect(try store.blobs.verify(hash))

        // A copy a power cut left short under its name: set aside once its length is compared.
        #expect(truncate(store.blobs.path(of: hash), 4096) == 0)
        #expect(store.blobs.presence(of: hash) == .present)
        #expect(store.blobs.presence(of: hash, size: size) == .missing)
        #expect(store.blobs.setAsideCopies().count == 1)
        #expect(try store.blobs.receive(hash, size: size, offset: 0, bytes: blob, durable: false) == .present)
        #expect(store.blobs.presence(of: hash, size: size) == .present)
    }

    @Test func anAttachOfBytesHereAsAnUnflushedDownloadReplacesThatCopy() throws {
        let dir = try TemporaryDirectory()
        let store = try makeStore(dir)
        let id = try site(store)
        let original = Self.bytes(500_000, seed: 25)
        let hash = Self.sha(original)
        #expect(try store.blobs.receive(hash, size: UInt64(original.count), offset: 0, bytes: original, durable: false) == .present)
        // The downloaded copy is torn (as a power cut may leave it) but keeps its length; the
        // attach names the blob only after its own flushed copy took the name.
        try Self.damage(store.blobs.path(of: hash), at: 1234)
        for files in [["one.jpg"], ["two.jpg", "three.bin"]] {
            var inputs: [AttachmentInput] = []
            for f in files { inputs.append(AttachmentInput(path: try Self.file(dir, f, f == "three.bin" ? Self.bytes(10, seed: 26) : original))) }
            _ = try store.attach(inputs, to: id)
            #expect(try store.blobs.verify(hash), "attached as \(files)")
            try Self.damage(store.blobs.path(of: hash), at: 99)
        }
    }

    @Test func filesCopiedOnSeveralThreadsAreWhatOneThreadStores() throws {
        // The oracle: the same files through one worker, into a second store.
        let dir = try TemporaryDirectory()
        var files: [String] = []
        for i in 0..<23 {
            let n = [1, 4096, BlobStore.chunk, BlobStore.chunk + 1, 3 * BlobStore.chunk - 7][i % 5] + i
            files.append(try Self.file(dir, "photo-\(i).jpg", Self.bytes(n, seed: 100 + UInt64(i % 20))))
        }
        files.append(files[3])  // the same file twice
        let one = BlobStore(storePath: dir.file("one.strata"))
        let many = BlobStore(storePath: dir.file("many.strata"))
        let expected = try one.add(files: files, workers: 1)
        for workers in [2, 3, 8] {
            let got = try many.add(files: files, workers: workers)
            #expect(got.map(\.hash) == expected.map(\.hash) && got.map(\.size) == expected.map(\.size), "\(workers) workers")
            #expect(got.map(\.wasHere) == (workers == 2 ? expected.map(\.wasHere) : Array(repeating: true, count: files.count)))
        }
        for (f, r) in zip(files, expected) {
            #expect(r.hash == Self.sha([UInt8](try Data(contentsOf: URL(fileURLWithPath: f)))))
            #expect(try many.verify(r.hash))
        }
        #expect(many.strayTemporaryFiles().isEmpty)

        // One file that cannot be read: the error is the first failing file's, as with one
        // worker, and nothing is left under tmp/ or placed.
        let fresh = BlobStore(storePath: dir.file("fresh.strata"))
        var bad = files
        bad.insert(dir.file("no-such-photo.jpg"), at: 7)
        bad.insert(dir.file("another-missing.jpg"), at: 15)
        for workers in [1, 2, 4] {
            do {
                _ = try fresh.add(files: bad, workers: workers)
                Issue.record("a missing file fails the batch")
            } catch let e as StoreError {
                guard case .attachmentUnreadable(let path, _) = e.kind else { throw e }
                #expect(path == dir.file("no-such-photo.jpg"), "\(workers) workers")
            }
            #expect(fresh.strayTemporaryFiles().isEmpty)
            #expect(fresh.allHashes().isEmpty)
        }
    }
}
