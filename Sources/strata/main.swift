import StrataCLI

await StrataCommand.runAsync()
