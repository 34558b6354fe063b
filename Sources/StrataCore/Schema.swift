/// The record kinds and their fields, with validation of controlled values.
///
/// Fields follow the brief: artefacts after Getty Object ID / CIDOC CRM, sites after EAMENA,
/// links after CSL "article-newspaper" / Dublin Core.

/// What a field holds and how its input is validated.
public enum FieldType: Hashable, Sendable {
    /// One line of free text.
    case text
    /// Long free text (a note body, a description).
    case longText
    /// One of a fixed list of values.
    case choice([String])
    /// An ISO 8601 date or date-time, possibly partial: `2015`, `2015-08`, `2015-08-30`,
    /// `2015-08-30T14:05`, `2015-08-30T14:05:00Z`.
    case date
    /// `lat,lon` or `lat,lon,accuracy-in-metres`.
    case location
    /// An http(s) URL.
    case url
}

/// One field of a record kind.
public struct FieldSpec: Hashable, Sendable {
    public let name: String
    public let type: FieldType
    public let help: String

    public init(_ name: String, _ type: FieldType, _ help: String) {
        self.name = name
        self.type = type
        self.help = help
    }
}

/// The four kinds of record.
public enum RecordKind: String, CaseIterable, Sendable {
    case note, artefact, site, link

    /// The field shown as the record's title in lists.
    public var titleField: String { self == .site ? "name" : "title" }

    public var fields: [FieldSpec] {
        switch self {
        case .note: Schema.noteFields
        case .artefact: Schema.artefactFields
        case .site: Schema.siteFields
        case .link: Schema.linkFields
        }
    }

    public func field(named name: String) -> FieldSpec? {
        let n = Schema.canonicalFieldName(name)
        return fields.first { $0.name == n }
    }
}

/// Controlled vocabularies and field lists.
public enum Schema {
    /// Artefact state (where it is and what happened to it).
    public static let artefactStates = [
        "in-situ", "moved-for-safekeeping", "missing", "looted", "damaged", "destroyed", "recovered", "unknown",
    ]
    /// Condition of an artefact or a site.
    public static let conditions = ["good", "fair", "poor", "very-bad", "destroyed", "unknown"]
    /// EAMENA damage extent bands.
    public static let damageExtents = [
        "none", "negligible", "1-10%", "11-30%", "31-60%", "61-90%", "91-100%", "unknown",
    ]
    /// Relation types between records: `note about site`, `link reports-on artefact`, ...
    public static let relationTypes = ["about", "reports-on", "origin", "located-at", "part-of", "see-also"]

    /// The long-text fields, merged character by character (``Action/editText(_:)``) instead
    /// of as registers. A field name means the same in every kind (a test checks it), so merge
    /// does not need the record's kind, which may not have arrived yet. Normative: the
    /// change-set format (Protocol/SPEC.md, "Text edits") names the same list. (Membership
    /// uses `String` equality, canonical equivalence; for these lowercase ASCII names it is the
    /// same as comparing bytes, as names compare: no other string is equivalent to them.)
    public static let textFields: Set<String> = Set(
        RecordKind.allCases.flatMap { $0.fields.filter { $0.type == .longText }.map(\.name) })

    static let noteFields: [FieldSpec] = [
        FieldSpec("title", .text, "short title"),
        FieldSpec("body", .longText, "the note itself"),
        FieldSpec("observed_at", .date, "when it was observed (ISO 8601)"),
        FieldSpec("location", .location, "lat,lon[,accuracy-m]"),
    ]
    static let artefactFields: [FieldSpec] = [
        FieldSpec("title", .text, "title or name of the object"),
        FieldSpec("object_type", .text, "e.g. funerary bust, relief, coin"),
        FieldSpec("materials", .text, "e.g. limestone"),
        FieldSpec("techniques", .text, "e.g. carved"),
        FieldSpec("measurements", .text, "e.g. h 54 cm"),
        FieldSpec("inscriptions", .text, "text and language of inscriptions"),
        FieldSpec("period", .text, "date or period, e.g. 2nd century AD"),
        FieldSpec("maker", .text, "maker or workshop"),
        FieldSpec("subject", .text, "what it depicts"),
        FieldSpec("features", .text, "distinguishing features"),
        FieldSpec("description", .longText, "free description"),
        FieldSpec("inventory_number", .text, "museum inventory number"),
        FieldSpec("origin", .text, "origin site (free text; relate to a site record with `origin`)"),
        FieldSpec("current_location", .text, "where it is now"),
        FieldSpec("keeper", .text, "who holds it"),
        FieldSpec("state", .choice(artefactStates), "what happened to it"),
        FieldSpec("condition", .choice(conditions), "physical condition"),
        FieldSpec("location", .location, "lat,lon[,accuracy-m] of where it is"),
    ]
    static let siteFields: [FieldSpec] = [
        FieldSpec("name", .text, "name of the heritage place"),
        FieldSpec("other_names", .text, "other names, separated by ;"),
        FieldSpec("location", .location, "lat,lon[,accuracy-m]"),
        FieldSpec("condition", .choice(conditions), "overall condition"),
        FieldSpec("damage_extent", .choice(damageExtents), "EAMENA damage extent"),
        FieldSpec("disturbances", .text, "disturbance causes, e.g. armed conflict; looting"),
        FieldSpec("threats", .text, "threats"),
        FieldSpec("designations", .text, "e.g. UNESCO World Heritage (1980)"),
        FieldSpec("description", .longText, "free description"),
    ]
    static let linkFields: [FieldSpec] = [
        FieldSpec("url", .url, "address of the article"),
        FieldSpec("title", .text, "headline"),
        FieldSpec("publisher", .text, "newspaper, agency or site"),
        FieldSpec("authors", .text, "authors, separated by ;"),
        FieldSpec("issued", .date, "publication date (ISO 8601)"),
        FieldSpec("accessed", .date, "date you read it (ISO 8601)"),
        FieldSpec("language", .text, "e.g. en, ar"),
        FieldSpec("quote", .longText, "abstract or quotation, e.g. who said what"),
        FieldSpec("archived_url", .url, "archived copy, e.g. web.archive.org"),
    ]

    /// `object-type`, `Object Type` and `object_type` all name the same field.
    public static func canonicalFieldName(_ name: String) -> String {
        String(name.lowercased().map { $0 == "-" || $0 == " " ? "_" : $0 })
    }

    /// Lowercase, spaces and underscores as hyphens: `Moved for safekeeping` → `moved-for-safekeeping`.
    public static func canonicalChoice(_ value: String) -> String {
        String(value.trimmed.lowercased().map { $0 == " " || $0 == "_" ? "-" : $0 })
    }

    /// Parses user input for a field into a value, or explains what is allowed.
    /// An empty input clears the field.
    public static func parse(_ input: String, for field: FieldSpec, kind: RecordKind) throws(SchemaError) -> FieldValue {
        let s = field.type == .longText ? input : input.trimmed
        if s.isEmpty { return .null }
        switch field.type {
        case .text:
            if s.contains("\n") {
                throw SchemaError("\(kind.rawValue) field \(field.name) is one line; use a long-text field for paragraphs")
            }
            return .text(s)
        case .longText:
            return .text(s)
        case .choice(let allowed):
            let c = canonicalChoice(s)
            guard allowed.contains(c) else {
                throw SchemaError(
                    "'\(s)' is not a valid \(kind.rawValue) \(field.name); allowed values: \(allowed.joined(separator: ", "))")
            }
            return .text(c)
        case .date:
            guard isISODate(s) else {
                throw SchemaError(
                    "'\(s)' is not a date for \(field.name); write ISO 8601: 2015, 2015-08, 2015-08-30 or 2015-08-30T14:05Z")
            }
            return .text(s)
        case .location:
            return .location(try parseLocation(s))
        case .url:
            let lower = s.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), s.count > 8, !s.contains(" ") else {
                throw SchemaError("'\(s)' is not a URL for \(field.name); write it in full, starting with https://")
            }
            return .text(s)
        }
    }

    /// `lat,lon` or `lat,lon,accuracy`, decimal degrees.
    public static func parseLocation(_ s: String) throws(SchemaError) -> Location {
        let parts = s.split(separator: ",").map { String($0).trimmed }
        guard parts.count == 2 || parts.count == 3, let lat = Double(parts[0]), let lon = Double(parts[1]) else {
            throw SchemaError("'\(s)' is not a location; write lat,lon or lat,lon,accuracy-in-metres, e.g. 34.5505,38.2684,25")
        }
        guard lat.isFinite, lon.isFinite, (-90...90).contains(lat), (-180...180).contains(lon) else {
            throw SchemaError("location '\(s)' is out of range: latitude must be within ±90 and longitude within ±180")
        }
        var acc: Double? = nil
        if parts.count == 3 {
            guard let a = Double(parts[2]), a.isFinite, a >= 0 else {
                throw SchemaError("accuracy '\(parts[2])' must be a non-negative number of metres")
            }
            acc = a
        }
        return Location(latitude: lat, longitude: lon, accuracyMetres: acc)
    }

    /// Validates a relation type, listing the allowed ones.
    public static func relationType(_ s: String) throws(SchemaError) -> String {
        let c = canonicalChoice(s)
        guard relationTypes.contains(c) else {
            throw SchemaError("'\(s)' is not a relation; allowed relations: \(relationTypes.joined(separator: ", "))")
        }
        return c
    }

    /// Tags are one word-ish token: no spaces or commas, at most 64 characters.
    public static func tag(_ s: String) throws(SchemaError) -> String {
        let t = s.trimmed.lowercased()
        guard !t.isEmpty, t.count <= 64, !t.contains(where: { $0 == " " || $0 == "," || $0.isNewline }) else {
            throw SchemaError("'\(s)' is not a tag; tags are single words of up to 64 characters, e.g. temple-of-bel")
        }
        return t
    }

    static func isISODate(_ s: String) -> Bool {
        let c = Array(s.utf8)
        func digits(_ r: Range<Int>) -> Bool {
            r.upperBound <= c.count && c[r].allSatisfy { $0 >= 48 && $0 <= 57 }
        }
        func num(_ r: Range<Int>) -> Int { c[r].reduce(0) { $0 * 10 + Int($1 - 48) } }
        guard digits(0..<4) else { return false }
        if c.count == 4 { return true }
        guard c.count >= 7, c[4] == UInt8(ascii: "-"), digits(5..<7), (1...12).contains(num(5..<7)) else { return false }
        if c.count == 7 { return true }
        guard c.count >= 10, c[7] == UInt8(ascii: "-"), digits(8..<10), (1...31).contains(num(8..<10)) else {
            return false
        }
        if c.count == 10 { return true }
        guard c.count >= 16, c[10] == UInt8(ascii: "T") || c[10] == UInt8(ascii: " "), digits(11..<13),
            c[13] == UInt8(ascii: ":"), digits(14..<16), num(11..<13) < 24, num(14..<16) < 60
        else { return false }
        var i = 16
        if i < c.count, c[i] == UInt8(ascii: ":") {
            guard digits(17..<19), num(17..<19) < 61 else { return false }
            i = 19
        }
        if i == c.count { return true }
        if c[i] == UInt8(ascii: "Z") { return i + 1 == c.count }
        if c[i] == UInt8(ascii: "+") || c[i] == UInt8(ascii: "-") {
            return c.count == i + 6 && digits(i + 1..<i + 3) && c[i + 3] == UInt8(ascii: ":") && digits(i + 4..<i + 6)
        }
        return false
    }
}

/// Input that does not fit the schema, with a message that lists what is allowed.
public struct SchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

extension String {
    /// Without leading and trailing white space.
    public var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
