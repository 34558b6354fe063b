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
        func fail(_ kind: CodecError.Kind, at: Int? = nil) -> Result<[UInt8], CodecError> {
            .failure(CodecError(kind, offset: at, total: total, context: context))
        }
        var stream = z_stream()
        let rcInit = inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard rcInit == Z_OK else { return fail(.corruptCompression("zlib could not start (code \(rcInit))")) }
        defer { inflateEnd(&stream) }

        let chunkSize = 64 << 10
        var out = [UInt8]()
        out.reserveCapacity(min(declared, max(chunkSize, input.count * 4)))
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
        stream.avail_in = uInt(input.count)

        while true {
            let (rc, produced): (Int32, Int) = chunk.withUnsafeMutableBufferPointer { c in
                stream.next_out = c.baseAddress
                stream.avail_out = uInt(chunkSize)
                let rc = CStrataZlib.inflate(&stream, Z_NO_FLUSH)
                return (rc, chunkSize - Int(stream.avail_out))
            }
            let consumed = input.count - Int(stream.avail_in)
            if out.count + produced > declared {
                return fail(.lengthMismatch(declared: declared, actual: out.count + produced), at: offset + consumed)
            }
            out.append(contentsOf: chunk[0..<produced])
            switch rc {
            case Z_STREAM_END:
                if stream.avail_in > 0 {
                    return fail(.trailingBytes(count: Int(stream.avail_in), what: "zlib stream"), at: offset + consumed)
                }
                if out.count != declared {
                    return fail(.lengthMismatch(declared: declared, actual: out.count))
                }
                return .success(out)
            case Z_OK:
                continue
            case Z_BUF_ERROR:
                // No progress possible: the input ran out before the stream ended.
                if stream.avail_in == 0 {
                    return .failure(
                        CodecError(.truncated(what: "compressed payload"), offset: offset + input.count, total: total, context: context))
                }
                return fail(.corruptCompression("zlib made no progress"), at: offset + consumed)
            case Z_DATA_ERROR, Z_NEED_DICT:
                let why = stream.msg.map { String(cString: $0) } ?? "invalid deflate data"
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
