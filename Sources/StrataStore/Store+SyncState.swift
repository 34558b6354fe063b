import Foundation
import GRDB
import StrataCodec
import StrataCore

/// A server or a colleague's replica (`strata serve --peer`) this replica syncs with.
public struct RemoteConfig: Sendable, Hashable {
    /// A short name, e.g. `origin`.
    public var name: String
    /// The server's base URL.
    public var url: String
    /// The project on that server.
    public var project: String
    /// The bearer token: kept with the replica (an owner-only file), never printed.
    public var token: String
    /// Which attachments a sync downloads on its own.
    public var attachments: AttachmentPolicy

    public init(name: String, url: String, project: String, token: String, attachments: AttachmentPolicy = .all) {
        self.name = name
        self.url = url
        self.project = project
        self.token = token
        self.attachments = attachments
    }
}

/// A sync with a remote that ran to its end.
public struct SyncRecord: Sendable, Equatable {
    /// When it ended (Unix ms, this machine's clock).
    public var atMillis: UInt64
    /// Changes pulled; nil for a sync recorded before sync state had tables.
    public var pulled: Int?
    /// Changes pushed; nil for a sync recorded before sync state had tables.
    public var pushed: Int?

    public init(atMillis: UInt64, pulled: Int?, pushed: Int?) {
        self.atMillis = atMillis
        self.pulled = pulled
        self.pushed = pushed
    }
}

/// A sync with a remote that stopped before its end.
public struct FailedSync: Sendable, Equatable {
    /// When it stopped (Unix ms, this machine's clock).
    public var atMillis: UInt64
    /// Why, in one line.
    public var reason: String

    public init(atMillis: UInt64, reason: String) {
        self.atMillis = atMillis
        self.reason = reason
    }
}

/// What this replica knows of a remote from its syncs.
public struct RemoteState: Sendable, Equatable {
    /// The server's version vector as of the last batch pulled or pushed: what it holds.
    public var serverVersion: VersionVector?
    /// The last sync that ran to its end.
    public var lastSync: SyncRecord?
    /// The last sync that stopped, when no sync has completed since.
    public var lastFailure: FailedSync?

    public init(serverVersion: VersionVector? = nil, lastSync: SyncRecord? = nil, lastFailure: FailedSync? = nil) {
        self.serverVersion = serverVersion
        self.lastSync = lastSync
        self.lastFailure = lastFailure
    }
}

/// Another replica this one has applied bundles from, and what it had when it wrote them.
public struct BundlePeer: Sendable, Equatable {
    public var replica: ReplicaID
    /// The author its last bundle named ("" when unknown).
    public var author: String
    /// The union of the sender's version vectors of its bundles applied here: what it holds
    /// at least, so what `bundle create --for` leaves out.
    public var version: VersionVector
    /// When the latest of those bundles was written (the sender's clock); nil if unknown.
    public var lastWrittenAtMillis: UInt64?
    /// When a bundle from it was last applied here (this machine's clock); nil if unknown.
    public var lastAppliedAtMillis: UInt64?

    public init(
        replica: ReplicaID, author: String, version: VersionVector, lastWrittenAtMillis: UInt64? = nil,
        lastAppliedAtMillis: UInt64? = nil
    ) {
        self.replica = replica
        self.author = author
        self.version = version
        self.lastWrittenAtMillis = lastWrittenAtMillis
        self.lastAppliedAtMillis = lastAppliedAtMillis
    }
}

/// What an apply says about the peer its changes came from, written in the apply's own
/// transaction (``Store/apply(_:now:recording:)``): the state never claims changes that were
/// not applied, nor misses changes that were.
public enum SyncStateUpdate: Sendable, Equatable {
    /// The remote's server holds `version` (its answer to the pull whose changes are applied).
    case serverVersion(remote: String, VersionVector)
    /// A bundle written by `sender` (named `author`) when it held `version`, at `writtenAtMillis`.
    case bundle(sender: ReplicaID, author: String, version: VersionVector, writtenAtMillis: UInt64)

    /// The update that applying `bundle` records.
    public static func bundle(_ bundle: ChangeBundle) -> SyncStateUpdate {
        .bundle(
            sender: bundle.sender, author: bundle.senderAuthor, version: bundle.senderVersion,
            writtenAtMillis: bundle.createdAtMillis)
    }
}

/// How a sync with a remote ended, for ``Store/recordSyncResult(remote:_:serverVersion:now:)``.
public enum SyncOutcome: Sendable, Equatable {
    case completed(pulled: Int, pushed: Int)
    case failed(reason: String)
}

/// Remotes, bundle peers and what each sync did, as tables (`remotes`, `remote_state`,
/// `bundle_peers`).
///
/// > Invariant: sync state that describes an apply is written in the apply's transaction
/// > (`apply(_:now:recording:)`), so it is never ahead of or behind the changes it describes.
extension Store {
    // MARK: Remotes

    /// Every remote, by name.
    public func remotes() throws -> [RemoteConfig] {
        try db.read { db in
            try Row.fetchAll(db, sql: "SELECT name, url, project, token, attachments FROM remotes ORDER BY name").map(Self.remote(from:))
        }
    }

    /// The remote called `name`, if there is one.
    public func remote(named name: String) throws -> RemoteConfig? {
        try db.read { db in
            try Row.fetchOne(db, sql: "SELECT name, url, project, token, attachments FROM remotes WHERE name = ?", arguments: [name])
                .map(Self.remote(from:))
        }
    }

    /// Adds a remote; refuses a name that is taken.
    public func addRemote(_ remote: RemoteConfig) throws {
        try db.write { db in
            if try Self.remoteExists(db, remote.name) {
                throw StoreError(.remoteExists(name: remote.name))
            }
            try db.execute(
                sql: "INSERT INTO remotes(name, url, project, token, attachments) VALUES (?, ?, ?, ?, ?)",
                arguments: [remote.name, remote.url, remote.project, remote.token, remote.attachments.description])
        }
    }

    /// Sets which attachments syncs with `name` download on their own.
    public func setAttachmentPolicy(_ policy: AttachmentPolicy, forRemote name: String) throws {
        try db.write { db in
            try Self.requireRemote(db, name)
            try db.execute(sql: "UPDATE remotes SET attachments = ? WHERE name = ?", arguments: [policy.description, name])
        }
    }

    /// Forgets a remote, its token and its sync state. Returns false when there was none.
    @discardableResult
    public func removeRemote(named name: String) throws -> Bool {
        try db.write { db in
            try db.execute(sql: "DELETE FROM remote_state WHERE remote = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM remotes WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    /// What the syncs with `name` left; nil when there is no such remote.
    public func remoteState(named name: String) throws -> RemoteState? {
        try db.read { db in
            guard try Self.remoteExists(db, name) else { return nil }
            return try Self.remoteState(db, name)
        }
    }

    /// Records how a sync with `remote` ended, in one transaction. A completed sync replaces
    /// the last one and clears a failure; `serverVersion`, if given, replaces the known one.
    public func recordSyncResult(
        remote name: String, _ outcome: SyncOutcome, serverVersion: VersionVector? = nil,
        now: UInt64 = Store.wallClockMillis()
    ) throws {
        try db.write { db in
            try Self.requireRemote(db, name)
            try db.execute(sql: "INSERT OR IGNORE INTO remote_state(remote) VALUES (?)", arguments: [name])
            if let serverVersion {
                try db.execute(
                    sql: "UPDATE remote_state SET server_version = ? WHERE remote = ?",
                    arguments: [serverVersion.description, name])
            }
            switch outcome {
            case .completed(let pulled, let pushed):
                try db.execute(
                    sql: """
                        UPDATE remote_state SET synced_at = ?, pulled = ?, pushed = ?, failed_at = NULL, failure = NULL
                        WHERE remote = ?
                        """,
                    arguments: [Int64(bitPattern: now), pulled, pushed, name])
            case .failed(let reason):
                try db.execute(
                    sql: "UPDATE remote_state SET failed_at = ?, failure = ? WHERE remote = ?",
                    arguments: [Int64(bitPattern: now), Self.oneLine(reason), name])
            }
        }
    }

    // MARK: Bundle peers

    /// Every replica a bundle has been applied from, by replica id.
    public func bundlePeers() throws -> [BundlePeer] {
        try db.read { db in
            try Row.fetchAll(
                db, sql: "SELECT replica, author, version, written_at, applied_at FROM bundle_peers ORDER BY replica"
            ).compactMap(Self.bundlePeer(from:))
        }
    }

    /// What this replica knows of `replica` from its bundles; nil if none was applied here.
    public func bundlePeer(_ replica: ReplicaID) throws -> BundlePeer? {
        try db.read { db in try Self.bundlePeer(db, replica) }
    }

    // MARK: Updates

    /// Writes `update` on its own, in one transaction (when there is nothing to apply with it).
    public func record(_ update: SyncStateUpdate, now: UInt64 = Store.wallClockMillis()) throws {
        try db.write { db in try Self.write(update, in: db, replica: replicaID, now: now) }
    }

    /// Writes `update` inside the caller's transaction (that of an apply).
    static func write(_ update: SyncStateUpdate, in db: Database, replica: ReplicaID, now: UInt64) throws {
        switch update {
        case .serverVersion(let name, let version):
            try requireRemote(db, name)
            try db.execute(
                sql: """
                    INSERT INTO remote_state(remote, server_version) VALUES (?, ?)
                    ON CONFLICT(remote) DO UPDATE SET server_version = excluded.server_version
                    """,
                arguments: [name, version.description])
        case .bundle(let sender, let author, let version, let writtenAt):
            // A bundle this replica wrote itself says nothing about another replica.
            guard sender != replica else { return }
            let known = try bundlePeer(db, sender)
            // Keep the larger view if an older bundle from the same peer is applied late.
            let merged = known.map { $0.version.merged(with: version) } ?? version
            let latest = max(known?.lastWrittenAtMillis ?? 0, writtenAt)
            try db.execute(
                sql: """
                    INSERT INTO bundle_peers(replica, author, version, written_at, applied_at) VALUES (?, ?, ?, ?, ?)
                    ON CONFLICT(replica) DO UPDATE SET author = excluded.author, version = excluded.version,
                        written_at = excluded.written_at, applied_at = excluded.applied_at
                    """,
                arguments: [
                    Data(sender.bytes), author, merged.description, Int64(bitPattern: latest), Int64(bitPattern: now),
                ])
        }
    }

    // MARK: Rows

    static func remoteExists(_ db: Database, _ name: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM remotes WHERE name = ?", arguments: [name]) ?? false
    }

    static func requireRemote(_ db: Database, _ name: String) throws {
        guard try remoteExists(db, name) else {
            throw StoreError(.noRemote(name: name))
        }
    }

    static func remote(from row: Row) -> RemoteConfig {
        RemoteConfig(
            name: row[0], url: row[1], project: row[2], token: row[3],
            attachments: (row[4] as String?).flatMap(AttachmentPolicy.init(text:)) ?? .all)
    }

    static func remoteState(_ db: Database, _ name: String) throws -> RemoteState {
        guard
            let row = try Row.fetchOne(
                db, sql: "SELECT server_version, synced_at, pulled, pushed, failed_at, failure FROM remote_state WHERE remote = ?",
                arguments: [name])
        else { return RemoteState() }
        var state = RemoteState()
        state.serverVersion = (row[0] as String?).flatMap(VersionVector.init(text:))
        if let at = row[1] as Int64? {
            state.lastSync = SyncRecord(atMillis: UInt64(bitPattern: at), pulled: row[2], pushed: row[3])
        }
        if let at = row[4] as Int64? {
            state.lastFailure = FailedSync(atMillis: UInt64(bitPattern: at), reason: row[5] ?? "")
        }
        return state
    }

    static func bundlePeer(_ db: Database, _ replica: ReplicaID) throws -> BundlePeer? {
        try Row.fetchOne(
            db, sql: "SELECT replica, author, version, written_at, applied_at FROM bundle_peers WHERE replica = ?",
            arguments: [Data(replica.bytes)]
        ).flatMap(bundlePeer(from:))
    }

    static func bundlePeer(from row: Row) -> BundlePeer? {
        guard let id = ReplicaID(bytes: row[0] as Data), let version = VersionVector(text: row[2]) else { return nil }
        return BundlePeer(
            replica: id, author: row[1], version: version,
            lastWrittenAtMillis: (row[3] as Int64?).map { UInt64(bitPattern: $0) },
            lastAppliedAtMillis: (row[4] as Int64?).map { UInt64(bitPattern: $0) })
    }

    /// A reason as one line of bounded length.
    static func oneLine(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return line.count > 500 ? String(line.prefix(499)) + "…" : line
    }
}

/// The sync-state tables, and the migration of the settings they replace.
enum SyncStateSchema {
    static func create(_ db: Database) throws {
        try db.execute(
            sql: """
                -- Servers and peers this replica syncs with over HTTP.
                CREATE TABLE remotes(
                    name TEXT PRIMARY KEY,
                    url TEXT NOT NULL,
                    project TEXT NOT NULL,
                    token TEXT NOT NULL) WITHOUT ROWID;
                -- What the syncs with a remote left: the server's last known version vector
                -- (text form), the last completed sync, and a failure since then.
                CREATE TABLE remote_state(
                    remote TEXT PRIMARY KEY REFERENCES remotes(name) ON DELETE CASCADE,
                    server_version TEXT,
                    synced_at INTEGER,
                    pulled INTEGER,
                    pushed INTEGER,
                    failed_at INTEGER,
                    failure TEXT) WITHOUT ROWID;
                -- Replicas bundles were applied from: the union of their version vectors
                -- (text form) as of the bundles' writing.
                CREATE TABLE bundle_peers(
                    replica BLOB PRIMARY KEY,
                    author TEXT NOT NULL,
                    version TEXT NOT NULL,
                    written_at INTEGER,
                    applied_at INTEGER) WITHOUT ROWID;
                """)
    }

    /// The settings that held remotes and bundle peers before: `x.remote.NAME.FIELD` (url,
    /// project, token, last_sync in Unix ms, server_version in text form) and `x.peer.HEX.FIELD`
    /// (vv in text form, author).
    static let remotePrefix = "x.remote."
    static let peerPrefix = "x.peer."

    /// Moves those settings into the tables and deletes them. A remote without a URL and a peer
    /// without a readable id or version vector were ignored by every reader, and are dropped.
    static func moveSettings(_ db: Database) throws {
        let condition = "(key >= '\(remotePrefix)' AND key < 'x.remote/') OR (key >= '\(peerPrefix)' AND key < 'x.peer/')"
        var remotes: [String: [String: String]] = [:]
        var peers: [String: [String: String]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT key, value FROM meta WHERE \(condition)") {
            let key: String = row[0]
            let value: String = row[1]
            let isRemote = key.hasPrefix(remotePrefix)
            let rest = key.dropFirst(isRemote ? remotePrefix.count : peerPrefix.count)
            guard let dot = rest.lastIndex(of: ".") else { continue }
            let name = String(rest[..<dot])
            let field = String(rest[rest.index(after: dot)...])
            if isRemote { remotes[name, default: [:]][field] = value } else { peers[name, default: [:]][field] = value }
        }
        for (name, fields) in remotes.sorted(by: { $0.key < $1.key }) {
            guard let url = fields["url"] else { continue }
            try db.execute(
                sql: "INSERT INTO remotes(name, url, project, token) VALUES (?, ?, ?, ?)",
                arguments: [name, url, fields["project"] ?? "", fields["token"] ?? ""])
            let version = fields["server_version"].flatMap(VersionVector.init(text:))
            let synced = fields["last_sync"].flatMap(UInt64.init)
            guard version != nil || synced != nil else { continue }
            try db.execute(
                sql: "INSERT INTO remote_state(remote, server_version, synced_at) VALUES (?, ?, ?)",
                arguments: [name, version?.description, synced.map { Int64(bitPattern: $0) }])
        }
        for (hex, fields) in peers.sorted(by: { $0.key < $1.key }) {
            guard let id = ReplicaID(hex: hex), let version = fields["vv"].flatMap(VersionVector.init(text:)) else { continue }
            try db.execute(
                sql: "INSERT OR REPLACE INTO bundle_peers(replica, author, version) VALUES (?, ?, ?)",
                arguments: [Data(id.bytes), fields["author"] ?? "", version.description])
        }
        try db.execute(sql: "DELETE FROM meta WHERE \(condition)")
    }
}
