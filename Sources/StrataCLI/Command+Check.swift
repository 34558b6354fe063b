import ArgumentParser
import StrataStore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Check the store's integrity against its change log.")

    @OptionGroup var options: StoreOptions

    func run() throws {
        let store = try options.open()
        let problems = try store.check()
        if problems.isEmpty {
            print("ok")
            return
        }
        for p in problems { printError(p) }
        throw CLIError("\(problems.count) problem\(problems.count == 1 ? "" : "s") found in \(store.path)")
    }
}
