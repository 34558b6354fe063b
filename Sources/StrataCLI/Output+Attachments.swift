import StrataCore
import StrataStore

extension Output {
    /// Whether an attachment's bytes are here, in words.
    func presence(_ a: AttachmentRef) -> String {
        switch store.blobs.presence(of: a.hash) {
        case .present: "here"
        case .partial(let bytes): "\(Display.bytes(bytes)) of \(Display.bytes(a.size)) downloaded"
        case .missing: "not downloaded"
        }
    }

    func presenceJSON(_ a: AttachmentRef) -> JSON {
        switch store.blobs.presence(of: a.hash) {
        case .present: .string("here")
        case .partial: .string("partial")
        case .missing: .string("missing")
        }
    }

    /// The `attachments:` block of `show`.
    func attachmentLines(_ r: RecordState) -> [String] {
        let all = r.attachments
        guard !all.isEmpty else { return ["attachments: (none)"] }
        var lines = ["attachments:"]
        for (i, a) in all.enumerated() {
            let ref = a.ref
            lines.append(
                "  [\(i + 1)] \(ref.name)  \(ref.mediaType), \(Display.bytes(ref.size)), \(presence(ref))"
                    + (a.isConflicted ? "  ! conflict" : ""))
            if !ref.caption.isEmpty { lines.append("      caption: \(Output.oneLine(.text(ref.caption), max: 100))") }
            var taken: [String] = []
            if let t = ref.photo.takenAt { taken.append("taken \(t)") }
            if let l = ref.photo.location { taken.append("at \(Output.text(.location(l)))") }
            if let c = ref.photo.camera { taken.append("with \(c)") }
            if !taken.isEmpty { lines.append("      \(taken.joined(separator: " "))") }
            if let first = a.values.last {
                lines.append("      attached by \(first.author), \(Output.iso(a.attachedAt)); \(ref.hash.short)")
            }
        }
        return lines
    }

    func attachmentsJSON(_ r: RecordState) -> JSON {
        .array(
            r.attachments.enumerated().map { i, a in
                var o = Output.attachmentJSON(a.ref).object ?? [:]
                o["number"] = .int(Int64(i + 1))
                o["bytes_here"] = presenceJSON(a.ref)
                o["attached_at"] = .string(Output.iso(a.attachedAt))
                if a.isConflicted { o["values"] = .array(a.values.enumerated().map { j, lv in json(lv, winner: j == 0) }) }
                return .object(o)
            })
    }
}
