import ArgumentParser
import StrataCore
import StrataJSON
import StrataStore

struct ConflictsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflicts", abstract: "Every record where colleagues' edits disagree, with every value kept.")

    @OptionGroup var options: StoreOptions
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let store = try options.open()
        let records = try store.conflicts()
        let out = try Output(store: store)
        if json {
            printJSON(
                .array(
                    records.map { r in
                        .object([
                            "id": .string(r.id.text), "short": .string(out.short(r.id)), "kind": .string(r.kind ?? ""),
                            "title": .string(Output.title(r)), "deleted": .bool(r.isDeleted),
                            "conflicts": out.conflictsJSON(r), "delete_conflict": out.deleteConflictJSON(r),
                        ])
                    }))
            return
        }
        if records.isEmpty {
            print("no conflicts")
            return
        }
        for (i, r) in records.enumerated() {
            if i > 0 { print("") }
            print("\(r.kind ?? "?") \(out.short(r.id))  \(Output.shownTitle(r))\(r.isDeleted ? "  (deleted)" : "")")
            for l in out.conflictLines(r) { print("  " + l) }
        }
        print("")
        print("resolve with: strata resolve ID FIELD --keep N   or   strata resolve ID FIELD --value V")
    }
}

struct ResolveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Resolve a conflict: keep one of the values (--keep N, as numbered by `strata conflicts`) or write a new one.",
        discussion: """
            For a delete conflict use the field `deleted`: --keep 1 keeps the record deleted, --keep 2 restores it \
            (or run `strata rm ID` / `strata restore ID`).
            """)

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Argument(help: "The conflicting field (or `deleted`).") var field: String
    @Option(help: "Keep value number N (1 is the one shown).") var keep: Int?
    @Option(help: "Write this value instead.") var value: String?

    func validate() throws {
        if (keep == nil) == (value == nil) { throw ValidationError("give exactly one of --keep N or --value V") }
    }

    func run() throws {
        let store = try options.open()
        let r = try store.find(id)
        let out = try Output(store: store)
        let s = out.short(r.id)
        let name = Schema.canonicalFieldName(field)
        if name == SystemField.deleted {
            try resolveDelete(r, store: store, short: s)
            return
        }
        if r.isDeleted {
            throw CLIError("record \(s) is deleted; `strata restore \(s)` first")
        }
        let kind = try Fields.kind(of: r)
        let spec = try Fields.spec(field, of: kind)
        let ks = r.keys[FieldKey(spec.name)]
        guard let ks, ks.isConflicted else {
            throw CLIError("\(spec.name) of \(s) has no conflict; use `strata set \(s) \(spec.name) VALUE` to change it")
        }
        let chosen: FieldValue
        if let keep {
            guard (1...ks.live.count).contains(keep) else {
                throw CLIError("--keep must be between 1 and \(ks.live.count) (see `strata show \(s)`)")
            }
            chosen = ks.live[keep - 1].value
        } else {
            chosen = try Schema.parse(value ?? "", for: spec, kind: kind)
        }
        try store.commit([.set(r.id, field: spec.name, chosen)])
        print("resolved \(spec.name) of \(s): \(chosen == .null ? "(cleared)" : Output.oneLine(chosen))")
    }

    func resolveDelete(_ r: RecordState, store: Store, short s: String) throws {
        let ks = r.keys[FieldKey(SystemField.deleted)]
        var keepDeleted: Bool
        if let value {
            switch value.trimmed.lowercased() {
            case "true", "yes", "deleted", "delete", "1": keepDeleted = true
            case "false", "no", "restored", "restore", "0": keepDeleted = false
            default: throw CLIError("--value for deleted is `deleted` or `restored`")
            }
        } else if let ks, ks.isConflicted {
            guard let keep, (1...ks.live.count).contains(keep) else {
                throw CLIError("--keep must be between 1 and \(ks.live.count) (see `strata show \(s)`)")
            }
            if case .deletion = ks.live[keep - 1].value { keepDeleted = true } else { keepDeleted = false }
        } else if r.deleteConflict != nil {
            guard let keep, keep == 1 || keep == 2 else {
                throw CLIError("--keep 1 keeps \(s) deleted, --keep 2 restores it with the edits")
            }
            keepDeleted = keep == 1
        } else {
            throw CLIError("\(s) has no delete conflict; use `strata rm \(s)` or `strata restore \(s)`")
        }
        try store.commit([keepDeleted ? .delete(r.id) : .restore(r.id)])
        print(keepDeleted ? "resolved: \(s) stays deleted" : "resolved: \(s) restored")
    }
}
