import Testing

@testable import StrataCore

@Suite struct SchemaTests {
    @Test func controlledValuesAreNormalisedAndValidated() throws {
        let state = RecordKind.artefact.field(named: "state")!
        let v = try Schema.parse("Moved for safekeeping", for: state, kind: .artefact)
        #expect(v == .text("moved-for-safekeeping"))
        do {
            _ = try Schema.parse("gone", for: state, kind: .artefact)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("allowed values: in-situ, moved-for-safekeeping"))
        }
    }

    @Test func fieldNamesAcceptHyphensAndSpaces() {
        #expect(RecordKind.artefact.field(named: "object-type")?.name == "object_type")
        #expect(RecordKind.artefact.field(named: "Inventory Number")?.name == "inventory_number")
        #expect(RecordKind.note.field(named: "state") == nil)
    }

    @Test func locationsAreParsedAndRangeChecked() throws {
        let loc = try Schema.parseLocation("34.5505, 38.2684, 25")
        #expect(loc == Location(latitude: 34.5505, longitude: 38.2684, accuracyMetres: 25))
        #expect(throws: SchemaError.self) { try Schema.parseLocation("91,0") }
        #expect(throws: SchemaError.self) { try Schema.parseLocation("palmyra") }
        #expect(throws: SchemaError.self) { try Schema.parseLocation("1,2,-3") }
    }

    @Test(arguments: [
        ("2015", true), ("2015-08", true), ("2015-08-30", true), ("2015-08-30T14:05", true),
        ("2015-08-30T14:05:09Z", true), ("2015-08-30T14:05+03:00", true), ("2015-13", false),
        ("30/08/2015", false), ("2015-08-30T25:00", false), ("", false), ("2015-08-30Tx", false),
    ])
    func isoDates(input: String, valid: Bool) {
        #expect(Schema.isISODate(input) == valid)
    }

    @Test func emptyInputClearsAField() throws {
        let f = RecordKind.note.field(named: "title")!
        #expect(try Schema.parse("  ", for: f, kind: .note) == .null)
    }

    @Test func urlsAndTagsAndRelationsAreChecked() throws {
        let url = RecordKind.link.field(named: "url")!
        #expect(throws: SchemaError.self) { try Schema.parse("example.org", for: url, kind: .link) }
        #expect(try Schema.parse("https://www.bbc.com/news", for: url, kind: .link) == .text("https://www.bbc.com/news"))
        #expect(try Schema.tag("UNESCO") == "unesco")
        #expect(throws: SchemaError.self) { try Schema.tag("two words") }
        #expect(try Schema.relationType("Reports On") == "reports-on")
        #expect(throws: SchemaError.self) { try Schema.relationType("likes") }
    }
}
