import Foundation

/// The values of a JSON text holding one array (or one object), read a chunk at a time and
/// handed out one by one: a file of any length is held in memory for its largest value, not as
/// a whole tree. Only the split is done here (strings, escapes and nesting are followed byte by
/// byte); each value is parsed by `JSON.parse`, which reports what is wrong inside it.
public struct JSONValueStream {
    /// What is wrong with the text, with where it is.
    public enum Failure: Error, Equatable, CustomStringConvertible {
        /// The text is empty or only whitespace.
        case empty
        /// The text starts with something other than `[` or `{`.
        case notAnArrayOrObject
        /// A byte where the structure wanted another (`offset` counts from 0).
        case unexpected(offset: Int, expected: String)
        /// The text ends inside value `index` (counted from 1) or before the array is closed.
        case truncated(index: Int)
        /// Value `index` (counted from 1) is split right but does not parse.
        case invalidValue(index: Int, detail: String)

        public var description: String {
            switch self {
            case .empty: "it is empty"
            case .notAnArrayOrObject: "it must hold an array of records, as `strata export` writes"
            case .unexpected(let offset, let expected): "at byte \(offset + 1): expected \(expected)"
            case .truncated(let index): "it ends inside record \(index) (is the file cut short?)"
            case .invalidValue(let index, let detail): "record \(index) does not parse (\(detail))"
            }
        }
    }

    private enum Place { case start, beforeValue(first: Bool), afterValue, done }

    private let read: () throws -> Data?
    private var chunk: [UInt8] = []
    private var position = 0
    /// Bytes of the text before `chunk`.
    private var consumed = 0
    private var pushedBack: UInt8?
    private var place = Place.start
    private var atEnd = false
    /// The values split off so far (handed out or skipped).
    public private(set) var count = 0

    /// `read` returns the next chunk of the text, or nil (or empty data) at its end.
    public init(read: @escaping () throws -> Data?) {
        self.read = read
    }

    /// A stream over text already in memory.
    public init(data: Data) {
        var given: Data? = data
        self.init(read: {
            defer { given = nil }
            return given
        })
    }

    /// The next value, or nil after the last.
    public mutating func next() throws -> JSON? {
        guard let bytes = try nextValueBytes() else { return nil }
        do {
            return try JSON.parse(Data(bytes))
        } catch {
            throw Failure.invalidValue(index: count, detail: Self.describe(error))
        }
    }

    /// Splits off the values not yet handed out without parsing them; returns how many there were.
    public mutating func skipRest() throws -> Int {
        let before = count
        while try nextValueBytes() != nil {}
        return count - before
    }

    private mutating func nextValueBytes() throws -> [UInt8]? {
        while true {
            switch place {
            case .done:
                return nil
            case .start:
                guard var b = try nonSpace() else { throw Failure.empty }
                // A UTF-8 byte order mark, as some editors write, is not part of the text.
                if b == 0xEF, offset == 1 {
                    guard try byte() == 0xBB, try byte() == 0xBF else { throw Failure.notAnArrayOrObject }
                    guard let next = try nonSpace() else { throw Failure.empty }
                    b = next
                }
                switch b {
                case UInt8(ascii: "["):
                    place = .beforeValue(first: true)
                case UInt8(ascii: "{"):
                    count += 1
                    let value = try valueBytes(startingWith: b)
                    try expectEnd()
                    return value
                default:
                    throw Failure.notAnArrayOrObject
                }
            case .beforeValue(let first):
                guard let b = try nonSpace() else { throw Failure.truncated(index: count + 1) }
                if b == UInt8(ascii: "]") {
                    guard first else { throw Failure.unexpected(offset: offset - 1, expected: "a record after the comma") }
                    try expectEnd()
                    return nil
                }
                count += 1
                let value = try valueBytes(startingWith: b)
                place = .afterValue
                return value
            case .afterValue:
                guard let b = try nonSpace() else { throw Failure.truncated(index: count) }
                switch b {
                case UInt8(ascii: ","):
                    place = .beforeValue(first: false)
                case UInt8(ascii: "]"):
                    try expectEnd()
                    return nil
                default:
                    throw Failure.unexpected(offset: offset - 1, expected: ", or ] after record \(count)")
                }
            }
        }
    }

    /// After the top-level value only whitespace may follow.
    private mutating func expectEnd() throws {
        place = .done
        if try nonSpace() != nil {
            throw Failure.unexpected(offset: offset - 1, expected: "the end of the text after its closing bracket")
        }
    }

    /// The bytes of one value that starts with `first`: a container up to its matching close,
    /// a string up to its closing quote, or a number or literal up to the next delimiter.
    private mutating func valueBytes(startingWith first: UInt8) throws -> [UInt8] {
        var out: [UInt8] = [first]
        switch first {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 1
            var inString = false
            var escaped = false
            while depth > 0 {
                guard let b = try byte() else { throw Failure.truncated(index: count) }
                out.append(b)
                if inString {
                    if escaped {
                        escaped = false
                    } else if b == UInt8(ascii: "\\") {
                        escaped = true
                    } else if b == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch b {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                default: break
                }
            }
        case UInt8(ascii: "\""):
            var escaped = false
            while true {
                guard let b = try byte() else { throw Failure.truncated(index: count) }
                out.append(b)
                if escaped {
                    escaped = false
                } else if b == UInt8(ascii: "\\") {
                    escaped = true
                } else if b == UInt8(ascii: "\"") {
                    break
                }
            }
        default:
            while let b = try byte() {
                if Self.isSpace(b) || b == UInt8(ascii: ",") || b == UInt8(ascii: "]") || b == UInt8(ascii: "}") {
                    pushedBack = b
                    break
                }
                out.append(b)
            }
        }
        return out
    }

    /// Bytes read so far.
    private var offset: Int { consumed + position - (pushedBack == nil ? 0 : 1) }

    private mutating func nonSpace() throws -> UInt8? {
        while let b = try byte() {
            if !Self.isSpace(b) { return b }
        }
        return nil
    }

    private mutating func byte() throws -> UInt8? {
        if let b = pushedBack {
            pushedBack = nil
            return b
        }
        while position == chunk.count {
            if atEnd { return nil }
            consumed += chunk.count
            position = 0
            guard let next = try read(), !next.isEmpty else {
                chunk = []
                atEnd = true
                return nil
            }
            chunk = Array(next)
        }
        defer { position += 1 }
        return chunk[position]
    }

    private static func isSpace(_ b: UInt8) -> Bool {
        b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09
    }

    /// Foundation's decoding errors carry their useful part in the context's description.
    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let c): c.debugDescription
        default: "\(error)"
        }
    }
}
