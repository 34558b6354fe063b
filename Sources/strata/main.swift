import StrataCLI

// Synchronous: a top-level `await` would start Swift concurrency's executor for every command
// (see StrataCommand.start()).
StrataCommand.start()
