import ArgumentParser
import StrataCodec

/// The `strata` terminal client: field notes, artefacts, sites and article links, kept in a
/// local replica that syncs with colleagues without losing anyone's edits.
public struct StrataCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "strata",
        abstract: "Offline-first field notes for cultural heritage at risk.",
        discussion: """
            Records are notes, artefacts, sites and article links. Ids can be abbreviated like git \
            commits. Every read command takes --json. The store is --store PATH, else $STRATA_STORE, \
            else $XDG_DATA_HOME/strata/replica.strata.
            Shell completion: strata --generate-completion-script bash|zsh|fish
            """,
        version: StrataRelease.version,
        subcommands: StrataCommand.subcommands
    )

    /// Every subcommand, in help order. Add new ones here.
    static let subcommands: [any ParsableCommand.Type] = [
        InitCommand.self,
        AddCommand.self,
        ListCommand.self,
        ShowCommand.self,
        EditCommand.self,
        SetCommand.self,
        AppendCommand.self,
        TagCommand.self,
        RelateCommand.self,
        RemoveCommand.self,
        RestoreCommand.self,
        AttachCommand.self,
        DetachCommand.self,
        CaptionCommand.self,
        GetCommand.self,
        OpenCommand.self,
        SearchCommand.self,
        HistoryCommand.self,
        ConflictsCommand.self,
        ResolveCommand.self,
        ExportCommand.self,
        ImportCommand.self,
        StatusCommand.self,
        CheckCommand.self,
        BackupCommand.self,
        BundleCommand.self,
        RemoteCommand.self,
        SyncCommand.self,
        FetchCommand.self,
        ServeCommand.self,
        WebCommand.self,
        ServerCommand.self,
    ]

    public init() {}
}

extension StrataCommand {
    /// Runs the command line asynchronously (the subcommands that talk to the network are async).
    /// What argument-parser's `main()` does, except that a failure gets the CLI's advice
    /// (``Advice``) before it is printed.
    public static func runAsync() async {
        do {
            var command = try await asyncParseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: Advice.adding(to: error))
        }
    }
}
