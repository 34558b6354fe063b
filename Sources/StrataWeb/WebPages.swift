import Foundation
import Mustache
import StrataCore
import StrataJSON
import StrataStore

/// A page's data twice over: the values its template renders and its JSON twin (the shape the
/// CLI's `--json` prints, from the same ``RecordPresenter``).
struct WebPage {
    var template: String
    var title: String
    var values: [String: Any]
    var json: JSON
    var status = 200
    /// Extra response headers (the list's `Link` to its next page).
    var headers: [(String, String)] = []
}

/// Renders the templates (parsed once).
enum WebRenderer {
    static let library: MustacheLibrary = {
        var lib = MustacheLibrary()
        let all: [(String, String)] = [
            ("layout", WebTemplates.layout), ("signIn", WebTemplates.signIn), ("message", WebTemplates.message),
            ("overview", WebTemplates.overview), ("list", WebTemplates.list), ("record", WebTemplates.record),
            ("map", WebTemplates.map),
        ]
        for (name, text) in all {
            // The templates are this file's constants: a parse error is a bug caught by every test.
            do { try lib.register(text, named: name) } catch { fatalError("web template \(name): \(error)") }
        }
        return lib
    }()

    static func render(_ template: String, _ values: [String: Any]) -> String {
        library.render(values, withTemplate: template) ?? ""
    }
}

/// The pages of one project's replica.
struct ProjectPages {
    let store: Store
    let project: String
    let site: WebSite
    let presenter: RecordPresenter

    init(store: Store, project: String, site: WebSite) throws {
        self.store = store
        self.project = project
        self.site = site
        presenter = try RecordPresenter(store: store)
    }

    var base: String { "\(WebSite.prefix)/p/\(project)" }
    func href(_ id: RecordID) -> String { "\(base)/records/\(id.text)" }

    static func status(_ r: RecordState) -> String {
        r.kind == "artefact" ? (r.text("state") ?? r.text("condition") ?? "") : (r.text("condition") ?? "")
    }

    func item(_ r: RecordState) -> [String: Any] {
        [
            "href": href(r.id), "title": RecordPresenter.title(r), "kind": r.kind ?? "", "short": presenter.short(r.id),
            "status": Self.status(r), "tags": r.tags, "conflict": r.hasConflict,
        ]
    }

    /// The latest value written to a record, for "who changed it last".
    static func lastWrite(_ r: RecordState) -> LiveValue? {
        r.keys.values.flatMap(\.live).max { ($0.timestamp, $0.change) < ($1.timestamp, $1.change) }
    }

    // MARK: Overview

    func overview() throws -> WebPage {
        let all = try store.list(RecordFilter())
        var kinds: [String: Int] = [:]
        var states: [String: Int] = [:]
        var conditions: [String: Int] = [:]
        for r in all {
            kinds[r.kind ?? "", default: 0] += 1
            if r.kind == "artefact", let s = r.text("state") { states[s, default: 0] += 1 }
            if r.kind == "site", let c = r.text("condition") { conditions[c, default: 0] += 1 }
        }
        let conflicts = all.filter(\.hasConflict).count
        let recent = all.sorted {
            ($0.lastModified ?? HybridTimestamp(wallMillis: 0, counter: 0), $0.id.text)
                > ($1.lastModified ?? HybridTimestamp(wallMillis: 0, counter: 0), $1.id.text)
        }.prefix(20)
        func ordered(_ counts: [String: Int], _ order: [String]) -> [(String, Int)] {
            order.compactMap { v in counts[v].map { (v, $0) } } + counts.filter { !order.contains($0.key) }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        let kindRows = ordered(kinds, RecordKind.allCases.map(\.rawValue))
        let stateRows = ordered(states, Schema.artefactStates)
        let conditionRows = ordered(conditions, Schema.conditions)
        let recentRows: [(r: RecordState, at: String, author: String)] = recent.map { r in
            let w = Self.lastWrite(r)
            return (r, r.lastModified.map(RecordPresenter.iso) ?? "", w?.author ?? r.creation?.author ?? "")
        }
        let values: [String: Any] = [
            "projectTitle": project, "records": all.count, "conflicts": conflicts > 0 ? conflicts as Any : false,
            "kinds": kindRows.map { ["value": $0.0, "count": $0.1] },
            "states": stateRows.map { ["value": $0.0, "count": $0.1] },
            "conditions": conditionRows.map { ["value": $0.0, "count": $0.1] },
            "recent": recentRows.map { row -> [String: Any] in
                ["at": row.at, "author": row.author, "href": href(row.r.id), "title": RecordPresenter.title(row.r), "kind": row.r.kind ?? ""]
            },
        ]
        func counts(_ rows: [(String, Int)]) -> JSON { .object(Dictionary(uniqueKeysWithValues: rows.map { ($0.0, JSON.int(Int64($0.1))) })) }
        let json: JSON = .object([
            "project": .string(project), "records": .int(Int64(all.count)), "conflicts": .int(Int64(conflicts)),
            "kinds": counts(kindRows), "states": counts(stateRows), "conditions": counts(conditionRows),
            "recent": .array(
                recentRows.map { row in
                    .object([
                        "at": .string(row.at), "author": .string(row.author), "id": .string(row.r.id.text),
                        "short": .string(presenter.short(row.r.id)), "kind": .string(row.r.kind ?? ""),
                        "title": .string(RecordPresenter.title(row.r)),
                    ])
                }),
        ])
        return WebPage(template: "overview", title: project, values: values, json: json)
    }

    // MARK: List

    struct ListQuery {
        var kind: String?
        var tag: String?
        var state: String?
        var condition: String?
        var text: String?
        var conflicts = false
        var page = 1

        init(_ form: [String: String]) {
            func value(_ k: String) -> String? {
                guard let v = form[k]?.trimmingCharacters(in: .whitespaces), !v.isEmpty else { return nil }
                return v
            }
            kind = value("kind")
            tag = value("tag")
            state = value("state")
            condition = value("condition")
            text = value("q")
            conflicts = value("conflicts") == "1"
            page = max(1, min(Int(value("page") ?? "") ?? 1, 1_000_000))
        }

        /// The query string of this query on another page.
        func query(page: Int) -> String {
            var parts: [(String, String)] = []
            if let kind { parts.append(("kind", kind)) }
            if let state { parts.append(("state", state)) }
            if let condition { parts.append(("condition", condition)) }
            if let tag { parts.append(("tag", tag)) }
            if let text { parts.append(("q", text)) }
            if conflicts { parts.append(("conflicts", "1")) }
            if page > 1 { parts.append(("page", String(page))) }
            return parts.map { "\($0.0)=\(WebForm.encode($0.1))" }.joined(separator: "&")
        }
    }

    func list(_ q: ListQuery) throws -> WebPage {
        var problem: String?
        var filter = RecordFilter()
        if let k = q.kind {
            if let kind = RecordKind(rawValue: k) { filter.kind = kind } else {
                problem = "'\(k)' is not a kind; kinds: \(RecordKind.allCases.map(\.rawValue).joined(separator: ", "))"
            }
        }
        if let s = q.state {
            let c = Schema.canonicalChoice(s)
            if Schema.artefactStates.contains(c) { filter.state = c } else {
                problem = "'\(s)' is not an artefact state; states: \(Schema.artefactStates.joined(separator: ", "))"
            }
        }
        var condition: String?
        if let s = q.condition {
            let c = Schema.canonicalChoice(s)
            if Schema.conditions.contains(c) { condition = c } else {
                problem = "'\(s)' is not a condition; conditions: \(Schema.conditions.joined(separator: ", "))"
            }
        }
        if let t = q.tag {
            do { filter.tag = try Schema.tag(t) } catch { problem = "'\(t)' is not a tag: \(error)" }
        }
        filter.text = q.text
        filter.onlyConflicts = q.conflicts
        var records: [RecordState] = []
        if problem == nil {
            do {
                records = try store.list(filter)
            } catch let e as StoreError {
                problem = "the search could not be run: \(e)"
            }
        }
        if let condition { records = records.filter { $0.text("condition") == condition } }
        let size = site.pageSize
        let pages = max(1, (records.count + size - 1) / size)
        let page = min(q.page, pages)
        let slice = Array(records.dropFirst((page - 1) * size).prefix(size))
        let path = "\(base)/records"
        func link(_ p: Int) -> String {
            let query = q.query(page: p)
            return query.isEmpty ? path : path + "?" + query
        }
        let summary =
            records.isEmpty
            ? "No records match."
            : "\(records.count) record\(records.count == 1 ? "" : "s")" + (pages > 1 ? ", page \(page) of \(pages)" : "") + "."
        let values: [String: Any] = [
            "kindOptions": RecordKind.allCases.map { ["value": $0.rawValue, "selected": $0.rawValue == q.kind] },
            "stateOptions": Schema.artefactStates.map { ["value": $0, "selected": $0 == filter.state] },
            "conditionOptions": Schema.conditions.map { ["value": $0, "selected": $0 == condition] },
            "tag": q.tag ?? "", "q": q.text ?? "", "problem": problem as Any? ?? false, "summary": summary,
            "items": slice.map(item),
            "previous": page > 1 ? link(page - 1) as Any : false,
            "next": page < pages ? link(page + 1) as Any : false,
        ]
        var headers: [(String, String)] = []
        var rels: [String] = []
        if page > 1 { rels.append("<\(jsonPath(link(page - 1)))>; rel=\"prev\"") }
        if page < pages { rels.append("<\(jsonPath(link(page + 1)))>; rel=\"next\"") }
        if !rels.isEmpty { headers.append(("Link", rels.joined(separator: ", "))) }
        headers.append(("X-Total-Count", String(records.count)))
        var pageOut = WebPage(
            template: "list", title: "Records", values: values, json: .array(slice.map(presenter.recordJSON)), headers: headers)
        if problem != nil { pageOut.status = 400 }
        return pageOut
    }

    func jsonPath(_ link: String) -> String {
        guard let q = link.firstIndex(of: "?") else { return link + ".json" }
        return link[..<q] + ".json" + link[q...]
    }

    // MARK: Record

    /// An address a link may point at: http(s) only; anything else (`javascript:`) is text.
    static func safeLink(_ s: String) -> String? {
        let t = s.trimmingCharacters(in: .whitespaces)
        guard let u = URLComponents(string: t), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = u.host, !host.isEmpty
        else { return nil }
        return t
    }

    static let inlineImageTypes: Set<String> = ["image/jpeg", "image/png", "image/gif", "image/webp"]

    func record(_ r: RecordState) throws -> WebPage {
        let kind = RecordPresenter.kind(r)
        let conflicted = Set(r.conflictedKeys.map(\.field))
        let fields: [[String: Any]] = RecordPresenter.orderedFields(r).map { f in
            let spec = kind?.field(named: f.name)
            let text = RecordPresenter.text(f.value)
            var link: Any = false
            if spec?.type == .url, let l = Self.safeLink(text) { link = l }
            return [
                "name": f.name, "text": text, "long": spec?.type == .longText, "link": link,
                "conflict": conflicted.contains(f.name),
            ]
        }
        let conflicts: [[String: Any]] = r.conflictedKeys.filter { $0.field != SystemField.deleted || true }.map { key in
            let live = r.keys[key]?.live ?? []
            return [
                "field": key.element.isEmpty ? key.field : "\(key.field) \(key.element)",
                "values": live.enumerated().map { i, lv -> [String: Any] in
                    var text = RecordPresenter.text(lv.value)
                    if case .null = lv.value { text = "(cleared)" }
                    return ["text": text, "author": lv.author, "at": RecordPresenter.iso(lv.timestamp), "winner": i == 0]
                },
            ]
        }
        var captionConflicts: [[String: Any]] = []
        for a in r.attachments where a.isConflicted {
            captionConflicts.append([
                "field": "caption of \(a.ref.name)",
                "values": a.values.enumerated().map { i, lv -> [String: Any] in
                    var text = "(no caption)"
                    if case .attachment(let ref) = lv.value, !ref.caption.isEmpty { text = ref.caption }
                    return ["text": text, "author": lv.author, "at": RecordPresenter.iso(lv.timestamp), "winner": i == 0]
                },
            ])
        }
        var deleteConflict: Any = false
        if let dc = r.deleteConflict {
            deleteConflict = [
                "author": dc.deletion.author, "at": RecordPresenter.iso(dc.deletion.timestamp),
                "edits": dc.unseenEdits.map { e -> [String: Any] in
                    let what = e.key.element.isEmpty ? "\(e.key.field) = \(RecordPresenter.oneLine(e.value.value))" : "\(e.key.field) + \(e.key.element)"
                    return ["text": what, "author": e.value.author, "at": RecordPresenter.iso(e.value.timestamp)]
                },
            ]
        }
        let relations: [[String: Any]] = RecordPresenter.relations(r).map { rel in
            if let t = presenter.lookup(rel.target) {
                return ["type": rel.type, "href": href(rel.target), "title": RecordPresenter.title(t), "kind": t.kind ?? "", "target": rel.target.text]
            }
            return ["type": rel.type, "href": false, "target": rel.target.text]
        }
        let relatedRecords = try store.list(RecordFilter(relatedTo: r.id)).filter { $0.id != r.id }
        let related: [[String: Any]] = relatedRecords.map { o in
            let types = RecordPresenter.relations(o).filter { $0.target == r.id }.map(\.type)
            return ["href": href(o.id), "title": RecordPresenter.title(o), "kind": o.kind ?? "", "types": types.joined(separator: ", ")]
        }
        let attachments: [[String: Any]] = r.attachments.map { a in
            let ref = a.ref
            return [
                "href": "\(href(r.id))/attachments/\(ref.hash.hex)", "name": ref.name, "size": Display.bytes(ref.size),
                "mediaType": ref.mediaType, "caption": ref.caption.isEmpty ? false : ref.caption as Any,
                "image": Self.inlineImageTypes.contains(ref.mediaType.lowercased()),
                "here": store.blobs.presence(of: ref.hash) == .present, "conflict": a.isConflicted,
            ]
        }
        let entries = try store.history(of: r.id)
        let names = RecordPresenter.attachmentNames(entries)
        let history: [[String: Any]] = entries.map { e in
            let (action, value) = presenter.historyAction(e, attachmentNames: names)
            return [
                "at": RecordPresenter.iso(e.timestamp), "author": e.author,
                "field": e.key.field == SystemField.attachments ? "attachment" : e.key.field, "action": action,
                "value": value as Any? ?? false,
            ]
        }
        let allConflicts = conflicts + captionConflicts
        let values: [String: Any] = [
            "recordTitle": RecordPresenter.title(r), "kind": r.kind ?? "", "short": presenter.short(r.id), "deleted": r.isDeleted,
            "created": r.creation.map { ["at": RecordPresenter.iso($0.timestamp), "by": $0.author] as Any } ?? false,
            "modified": r.lastModified.map { RecordPresenter.iso($0) as Any } ?? false,
            "fields": fields, "hasConflicts": !allConflicts.isEmpty || r.deleteConflict != nil, "conflicts": allConflicts,
            "deleteConflict": deleteConflict, "tags": r.tags, "relations": relations,
            "relatedHeading": r.kind == "site" ? "Records related to this site" : "Records that refer to this one",
            "related": related, "attachments": attachments, "history": history,
        ]
        var json = presenter.recordJSON(r).object ?? [:]
        json["history"] = .array(entries.map { presenter.historyJSON($0, attachmentNames: names) })
        json["related"] = .array(
            relatedRecords.map { o in
                .object([
                    "id": .string(o.id.text), "short": .string(presenter.short(o.id)), "kind": .string(o.kind ?? ""),
                    "title": .string(RecordPresenter.title(o)),
                    "types": .array(RecordPresenter.relations(o).filter { $0.target == r.id }.map { .string($0.type) }),
                ])
            })
        return WebPage(template: "record", title: RecordPresenter.title(r), values: values, json: .object(json))
    }

    // MARK: Map

    /// Sites and artefacts with a location.
    func located() throws -> [RecordState] {
        try store.list(RecordFilter()).filter { r in
            guard r.kind == "site" || r.kind == "artefact" else { return false }
            if case .location? = r.value("location") { return true }
            return false
        }
    }

    func map() throws -> WebPage {
        let records = try located()
        let values: [String: Any] = [
            "tiles": site.mapTiles as Any? ?? false,
            "conditionLegend": WebPalette.conditions.map { ["value": $0.value, "color": $0.color, "cssClass": "condition-\($0.value)"] }
                + [["value": "no condition", "color": WebPalette.none.color, "cssClass": WebPalette.none.cssClass]],
            "stateLegend": WebPalette.states.map { ["value": $0.value, "color": $0.color, "cssClass": "state-\($0.value)"] },
            "located": records.map { r -> [String: Any] in
                ["href": href(r.id), "title": RecordPresenter.title(r), "kind": r.kind ?? "", "status": Self.status(r)]
            },
        ]
        return WebPage(template: "map", title: "Map", values: values, json: presenter.geojson(records))
    }
}

/// `application/x-www-form-urlencoded`, both ways.
enum WebForm {
    static func parse(_ s: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in s.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let k = decode(String(kv[0]))
            let v = kv.count > 1 ? decode(String(kv[1])) : ""
            if out[k] == nil { out[k] = v }
        }
        return out
    }

    static func decode(_ s: String) -> String {
        s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
    }

    static let unreserved = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")

    static func encode(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }
}
