import ArgumentParser
import StrataStore

struct InitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create a new store (a replica) for this machine.")

    @OptionGroup var options: StoreOptions

    @Option(help: "Your name, written into every change you make.")
    var author: String

    func run() throws {
        let store = try Store.create(at: options.path, author: author)
        print("created replica \(store.replicaID.hex) at \(store.path)")
    }
}
