import ArgumentParser
import StrataCore
import StrataStore

struct SetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Set one field of a record (an empty value clears it).",
        discussion: "Example: strata set 0a1b2c3 state moved-for-safekeeping")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Argument(help: "The field, e.g. state.") var field: String
    @Argument(help: "The value; empty clears the field.") var value: String

    func run() throws {
        let store = try options.open()
        let r = try store.findEditable(id)
        let kind = try Fields.kind(of: r)
        let spec = try Fields.spec(field, of: kind)
        let v = try Schema.parse(value, for: spec, kind: kind)
        if try store.commitOrSay([.set(r.id, field: spec.name, v)]) != nil {
            print(v == .null ? "cleared \(spec.name)" : "\(spec.name): \(Output.oneLine(v))")
        }
    }
}

struct TagCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tag", abstract: "Add tags to a record, or remove them with --remove.")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Argument(help: "Tags.") var tags: [String]
    @Flag(help: "Remove the tags instead.") var remove = false

    func run() throws {
        let store = try options.open()
        let r = try store.findEditable(id)
        let ts = try tags.map { try Schema.tag($0) }
        let edits: [Edit] = Array(Set(ts)).sorted().map {
            remove ? .remove(r.id, field: SystemField.tags, element: $0) : .add(r.id, field: SystemField.tags, element: $0)
        }
        if try store.commitOrSay(edits) != nil {
            print("tags: \((try store.record(r.id)?.tags ?? []).joined(separator: ", "))")
        }
    }
}

struct RelateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relate", abstract: "Relate a record to another (or --remove the relation).",
        discussion: "Relations: \(Schema.relationTypes.joined(separator: ", ")). Example: strata relate 0a1b2c3 about 9z8y7x6")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String
    @Argument(help: "The relation: \(Schema.relationTypes.joined(separator: ", ")).", completion: .list(Schema.relationTypes))
    var relation: String
    @Argument(help: "The related record's id.") var target: String
    @Flag(help: "Remove the relation instead.") var remove = false

    func run() throws {
        let store = try options.open()
        let r = try store.findEditable(id)
        let type = try Schema.relationType(relation)
        let t = try store.resolve(prefix: target)
        if t == r.id { throw CLIError("a record cannot be related to itself") }
        let e = RelationElement.make(type, t)
        let edit: Edit = remove ? .remove(r.id, field: SystemField.relations, element: e) : .add(r.id, field: SystemField.relations, element: e)
        if try store.commitOrSay([edit]) != nil {
            let out = try Output(store: store)
            print("\(remove ? "removed" : "added") \(out.short(r.id)) \(type) \(out.short(t))")
        }
    }
}

struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Delete a record (reversible with `strata restore`).")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String

    func run() throws {
        let store = try options.open()
        let r = try store.find(id)
        let s = try Output(store: store).short(r.id)
        if try store.commitOrSay([.delete(r.id)], quiet: true) != nil {
            print("deleted \(s) (undo with `strata restore \(s)`)")
        } else {
            print("\(s) is already deleted")
        }
    }
}

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Bring back a deleted record.")

    @OptionGroup var options: StoreOptions
    @Argument(help: "The record's id (a prefix is enough).") var id: String

    func run() throws {
        let store = try options.open()
        let r = try store.find(id)
        let s = try Output(store: store).short(r.id)
        if try store.commitOrSay([.restore(r.id)], quiet: true) != nil {
            print("restored \(s)")
        } else {
            print("\(s) is not deleted")
        }
    }
}
