import ArgumentParser
import Dispatch
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
    /// The process's entry point (Sources/strata/main.swift): parses the command line and runs
    /// a command that only touches the replica straight away on the main thread; only the
    /// commands that talk to the network (sync, fetch, serve, server, web) start Swift concurrency's
    /// executor. A failure gets the CLI's advice (``Advice``) before it is printed.
    public static func start() -> Never {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: Advice.adding(to: error))
        }
        if let asyncCommand = command as? any AsyncParsableCommand {
            let box = AsyncCommandBox(command: asyncCommand)
            Task.detached {
                var command = box.command
                do {
                    try await command.run()
                } catch {
                    exit(withError: Advice.adding(to: error))
                }
                exit()
            }
            dispatchMain()
        }
        do {
            try command.run()
        } catch {
            exit(withError: Advice.adding(to: error))
        }
        exit()
    }
}

/// Hands the parsed command to the task that runs it: the main thread only waits in
/// `dispatchMain()` from then on, so the command is never shared.
private struct AsyncCommandBox: @unchecked Sendable {
    let command: any AsyncParsableCommand
}
