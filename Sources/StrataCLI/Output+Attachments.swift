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
}
