import Foundation
import StrataJSON
import StrataTestSupport
import Testing

/// The chunked splitter `strata import` reads with, held to the whole-text parser it replaces.
@Suite struct JSONValueStreamTests {
    /// A random JSON value with the characters a splitter must not be fooled by: brackets and
    /// commas inside strings, escaped quotes and backslashes, nesting, numbers and literals.
    static func value(_ rng: inout SeededRandom, depth: Int = 0) -> JSON {
        let pieces = ["a", "]", "[", "{", "}", ",", "\"", "\\", " ", "\n", "é", "\u{1F3DB}", "\\\"", "x"]
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .int(Int64.random(in: -1_000_000...1_000_000, using: &rng))
        case 3: return .double(Double(Int.random(in: -999...999, using: &rng)) / 8)
        case 4:
            return .string((0..<Int.random(in: 0..<8, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined())
        case 5:
            return .array((0..<Int.random(in: 0..<4, using: &rng)).map { _ in value(&rng, depth: depth + 1) })
        default:
            var o: [String: JSON] = [:]
            for _ in 0..<Int.random(in: 0..<4, using: &rng) {
                o[pieces.randomElement(using: &rng)! + String(o.count)] = value(&rng, depth: depth + 1)
            }
            return .object(o)
        }
    }

    /// Every value of `data`, read in chunks of `chunk` bytes.
    static func values(_ data: Data, chunk: Int) throws -> [JSON] {
        var offset = 0
        var stream = JSONValueStream(read: {
            guard offset < data.count else { return nil }
            defer { offset += chunk }
            return data.subdata(in: offset..<min(data.count, offset + chunk))
        })
        var out: [JSON] = []
        while let v = try stream.next() { out.append(v) }
        #expect(try stream.next() == nil)
        #expect(stream.count == out.count)
        return out
    }

    @Test(arguments: 0..<200)
    func randomArraysSplitAsTheWholeTextParses(seed: Int) throws {
        var rng = SeededRandom(seed: UInt64(seed))
        let array = JSON.array((0..<Int.random(in: 0..<12, using: &rng)).map { _ in Self.value(&rng) })
        let text = Data(array.serialized(pretty: Bool.random(using: &rng)).utf8)
        let whole = try JSON.parse(text)
        for chunk in [1, 2, 7, Int.random(in: 1...64, using: &rng), 1 << 20] {
            #expect(.array(try Self.values(text, chunk: chunk)) == whole, "seed \(seed), chunks of \(chunk)")
        }
    }

    @Test func oneObjectIsOneValue() throws {
        let text = Data(#"  {"kind": "note", "fields": {"title": "a ] b"}}  "#.utf8)
        #expect(try Self.values(text, chunk: 3) == [try JSON.parse(text)])
    }

    @Test func aByteOrderMarkIsSkipped() throws {
        let text = Data([0xEF, 0xBB, 0xBF]) + Data(#"[{"kind": "note"}]"#.utf8)
        #expect(try Self.values(text, chunk: 1) == [.object(["kind": .string("note")])])
    }

    @Test func skippingCountsWhatIsLeftWithoutParsingIt() throws {
        var stream = JSONValueStream(data: Data(#"[{"a": 1}, {"b": nonsense}, [1, 2], "s"]"#.utf8))
        #expect(try stream.next() == .object(["a": .int(1)]))
        #expect(try stream.skipRest() == 3)
        #expect(stream.count == 4)
    }

    @Test func badTextSaysWhereAndWhat() {
        func failure(_ text: String) -> JSONValueStream.Failure? {
            var stream = JSONValueStream(data: Data(text.utf8))
            do {
                while try stream.next() != nil {}
                return nil
            } catch {
                return error as? JSONValueStream.Failure
            }
        }
        #expect(failure("") == .empty)
        #expect(failure("  \n") == .empty)
        #expect(failure("42") == .notAnArrayOrObject)
        #expect(failure(#"[{"a": 1}"#) == .truncated(index: 1))
        #expect(failure(#"[{"a": "1]"#) == .truncated(index: 1))
        #expect(failure("{not json") == .truncated(index: 1))
        #expect(failure(#"[{"a": 1} {"b": 2}]"#) == .unexpected(offset: 10, expected: ", or ] after record 1"))
        #expect(failure(#"[{"a": 1},]"#) == .unexpected(offset: 10, expected: "a record after the comma"))
        #expect(failure(#"[{"a": 1}] x"#) == .unexpected(offset: 11, expected: "the end of the text after its closing bracket"))
        guard case .invalidValue(let index, let detail)? = failure(#"[{"a": 1}, {"b": nonsense}]"#) else {
            Issue.record("a value that does not parse is not reported as one")
            return
        }
        #expect(index == 2)
        #expect(!detail.isEmpty)
        #expect(failure("[]") == nil)
        #expect(failure(" [ ] ") == nil)
    }
}
