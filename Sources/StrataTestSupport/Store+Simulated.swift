import Foundation
import StrataCore
import StrataStore

extension Store: SimulatedReplica {
    public func state(of id: RecordID) throws -> RecordState? { try record(id) }

    public func visibleRecordIDs() throws -> [RecordID] {
        try list(RecordFilter(includeDeleted: true)).map(\.id)
    }

    public func commitEdits(_ edits: [Edit], now: UInt64) throws -> Change? {
        try commit(edits, now: now)
    }

    public func receive(_ changes: [Change], now: UInt64) throws {
        try apply(changes, now: now)
    }

    public func snapshot() throws -> [RecordID: RecordState] {
        try allRecordStates()
    }
}

/// A temporary directory removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "strata-test") throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
