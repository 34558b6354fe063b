import CStrataZlib

/// The zlib (RFC 1950) calls the codec needs: whole-buffer deflate, bounded inflate, CRC-32.
enum Zlib {
    /// Compresses `input` into one complete zlib stream.
    static func deflate(_ input: [UInt8], level: Int32) -> [UInt8] {
        var stream = z_stream()
        let level = min(max(level, -1), 9)
        var rc = deflateInit_(&stream, level, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        precondition(rc == Z_OK, "deflateInit failed (\(rc)): out of memory?")
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let produced: Int = input.withUnsafeBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = uInt(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = uInt(outBuf.count)
                rc = CStrataZlib.deflate(&stream, Z_FINISH)
                precondition(rc == Z_STREAM_END, "deflate did not finish within deflateBound (\(rc))")
                return outBuf.count - Int(stream.avail_out)
            }
        }
        out.removeLast(out.count - produced)
        return out
    }

    /// Inflates one zlib stream that must fill exactly `declared` bytes and end exactly at the
    /// end of `input`. Never holds more than `declared` bytes plus one 64 KiB chunk.
    /// `offset` is where `input` starts in the enclosing structure, for messages.
    static func inflate(
        _ input: UnsafeBufferPointer<UInt8>, declared: Int, offset: Int, total: Int, context: String?
    ) -> Result<[UInt8], CodecError> {
        let inflater: Inflater
        switch Inflater.start(declared: declared, offset: offset, total: total, context: context) {
        case .success(let i): inflater = i
        case .failure(let e): return .failure(e)
        }
        var out = [UInt8]()
        out.reserveCapacity(min(declared, max(Inflater.chunkSize, input.count * 4)))
        while true {
            switch inflater.step(input, appendingTo: &out) {
            case .failure(let e): return .failure(e)
            case .success(true): return .success(out)
            case .success(false): continue
            }
        }
    }

    /// One zlib stream inflated a step at a time: each ``step(_:appendingTo:)`` produces at most
    /// ``chunkSize`` bytes, checked as they come against the declared length, so a reader can
    /// stop, decode what it has, and go on. ``Zlib/inflate(_:declared:offset:total:context:)``
    /// is these steps run to the end, so both fail alike on the same input.
    final class Inflater {
        static let chunkSize = 64 << 10
        /// zlib's state points back at its stream: it must not move.
        private let stream: UnsafeMutablePointer<z_stream>
        private var chunk = [UInt8](repeating: 0, count: chunkSize)
        let declared: Int
        let offset: Int
        let total: Int
        let context: String?
        /// Input bytes consumed and output bytes produced so far.
        private(set) var consumed = 0
        private(set) var produced = 0
        /// The stream ended where it had to (output `declared` bytes, input at its end).
        private(set) var ended = false
        /// A step failed; the stream is unusable.
        private(set) var failed = false

        private init(stream: UnsafeMutablePointer<z_stream>, declared: Int, offset: Int, total: Int, context: String?) {
            self.stream = stream
            self.declared = declared
            self.offset = offset
            self.total = total
            self.context = context
        }

        static func start(declared: Int, offset: Int, total: Int, context: String?) -> Result<Inflater, CodecError> {
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            let rc = inflateInit_(stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard rc == Z_OK else {
                stream.deallocate()
                return .failure(CodecError(.corruptCompression("zlib could not start (code \(rc))"), total: total, context: context))
            }
            return .success(Inflater(stream: stream, declared: declared, offset: offset, total: total, context: context))
        }

        deinit {
            inflateEnd(stream)
            stream.deallocate()
        }

        /// Inflates at most one chunk from `input` (the whole compressed stream, the same buffer
        /// at every step) onto `out`; true when the stream has ended, checked.
        func step(_ input: UnsafeBufferPointer<UInt8>, appendingTo out: inout [UInt8]) -> Result<Bool, CodecError> {
            precondition(!ended && !failed, "Zlib.Inflater stepped after its end")
            func fail(_ kind: CodecError.Kind, at: Int? = nil) -> Result<Bool, CodecError> {
                failed = true
                return .failure(CodecError(kind, offset: at, total: total, context: context))
            }
            let before = consumed
            let (rc, n): (Int32, Int) = chunk.withUnsafeMutableBufferPointer { c in
                stream.pointee.next_in = input.baseAddress.map { UnsafeMutablePointer(mutating: $0 + before) }
                stream.pointee.avail_in = uInt(input.count - before)
                stream.pointee.next_out = c.baseAddress
                stream.pointee.avail_out = uInt(Self.chunkSize)
                let rc = CStrataZlib.inflate(stream, Z_NO_FLUSH)
                return (rc, Self.chunkSize - Int(stream.pointee.avail_out))
            }
            consumed = input.count - Int(stream.pointee.avail_in)
            if produced + n > declared {
                return fail(.lengthMismatch(declared: declared, actual: produced + n), at: offset + consumed)
            }
            out.append(contentsOf: chunk[0..<n])
            produced += n
            switch rc {
            case Z_STREAM_END:
                if stream.pointee.avail_in > 0 {
                    return fail(.trailingBytes(count: Int(stream.pointee.avail_in), what: "zlib stream"), at: offset + consumed)
                }
                if produced != declared {
                    return fail(.lengthMismatch(declared: declared, actual: produced))
                }
                ended = true
                return .success(true)
            case Z_OK:
                return .success(false)
            case Z_BUF_ERROR:
                // No progress possible: the input ran out before the stream ended.
                if stream.pointee.avail_in == 0 {
                    return fail(.truncated(what: "compressed payload"), at: offset + input.count)
                }
                return fail(.corruptCompression("zlib made no progress"), at: offset + consumed)
            case Z_DATA_ERROR, Z_NEED_DICT:
                let why = stream.pointee.msg.map { String(cString: $0) } ?? "invalid deflate data"
                return fail(.corruptCompression(why), at: offset + consumed)
            case Z_MEM_ERROR:
                return fail(.corruptCompression("zlib ran out of memory"))
            default:
                return fail(.corruptCompression("zlib error \(rc)"), at: offset + consumed)
            }
        }
    }

    /// CRC-32 (ISO-HDLC, as in zlib, PNG and gzip) of `bytes`.
    static func crc32(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 { crc32(bytes, continuing: 0) }

    /// The CRC-32 of `bytes` appended to bytes whose CRC-32 is `previous` (0 for none).
    static func crc32(_ bytes: UnsafeBufferPointer<UInt8>, continuing previous: UInt32) -> UInt32 {
        var crc = uLong(previous)
        var p = bytes.baseAddress
        var left = bytes.count
        while left > 0, let base = p {
            let n = min(left, Int(UInt32.max >> 1))
            crc = CStrataZlib.crc32(crc, base, uInt(n))
            p = base + n
            left -= n
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}
