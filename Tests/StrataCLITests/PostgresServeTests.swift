import Foundation
import StrataPostgres
import StrataSyncTesting
import Testing

/// The PostgreSQL storage from the terminal: a bad URL or password stops `strata serve` with one
/// line; two `strata serve` processes on one database serve one team; a SQLite server moved
/// with `strata server migrate --to` keeps its tokens and data. Run when a test cluster is given
/// (`STRATA_TEST_DATABASE_URL`), always in CI.
@Suite("serve on PostgreSQL, from the terminal", .enabled(if: TestStorage.all.contains(.postgres)))
struct PostgresServeTests {
    @Test func aWrongPasswordOrAnUnreachableDatabaseStopsServeWithOneLine() async throws {
        let s = try Sandbox()
        var wrong = try TestPostgres.base()
        wrong.password = "not-the-password"
        let url = "postgres://\(wrong.user):not-the-password@\(wrong.host):\(wrong.port)/\(wrong.database)?sslmode=disable"
        let r = try s.run("serve", "--port", "0", "--database", url)
        #expect(r.status != 0)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("refused the user name or password") && !r.stderr.contains("not-the-password"))
        let down = try s.run("server", "project", "list", env: ["STRATA_DATABASE_URL": "postgres://postgres@127.0.0.1:1/strata"])
        #expect(down.status != 0 && down.stderr.contains("cannot reach PostgreSQL at postgres://postgres@127.0.0.1:1/strata"))
        #expect(down.stderr.split(separator: "\n").count == 1, "\(down.stderr)")
        let bad = try s.run("server", "project", "list", "--database", "mysql://x")
        #expect(bad.status != 0 && bad.stderr.contains("must start with postgres://"))
    }

    @Test func twoServersOnOneDatabaseServeOneTeam() async throws {
        let s = try Sandbox()
        try await TestPostgres.withFreshDatabase { db in try twoServers(s, url: cliURL(db)) }
    }

    func twoServers(_ s: Sandbox, url: String) throws {
        let env = ["STRATA_DATABASE_URL": url]
        #expect(try s.ok("server", "migrate", env: env).contains("has the Strata schema, version"))
        try s.ok("server", "project", "add", "palmyra", env: env)
        let khaledToken = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Khaled", env: env)
        let mariaToken = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Maria", "--database", url)
        #expect(try s.ok("server", "token", "list", env: env).contains("Maria"))
        let one = try ServerProcess(["serve", "--port", "0"], env: env, cwd: s.dir)
        let two = try ServerProcess(["serve", "--port", "0", "--database", url], env: [:], cwd: s.dir)
        let a = s.path("khaled.strata")
        let b = s.path("maria.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.initStore(author: "Maria", store: b)
        try s.ok("remote", "add", "origin", one.url, "--project", "palmyra", "--token", khaledToken, store: a)
        try s.ok("remote", "add", "origin", two.url, "--project", "palmyra", "--token", mariaToken, store: b)
        try s.ok("add", "site", "Temple of Bel", "--set", "condition=destroyed", store: a)
        try s.ok("add", "note", "Theatre", store: b)
        for store in [a, b, a] { try s.ok("sync", store: store) }
        #expect(try s.ok("export", "--format", "json", store: a) == (try s.ok("export", "--format", "json", store: b)))
        #expect(one.stop() == 0)
        #expect(two.stop() == 0)
    }

    @Test func aSQLiteServerMovedToPostgreSQLKeepsItsTokensAndData() async throws {
        let s = try Sandbox()
        let data = s.path("server")
        let sqlite = ["STRATA_SERVER_DATA": data]
        try s.ok("server", "project", "add", "palmyra", env: sqlite)
        let token = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Khaled", env: sqlite)
        let server = try ServerProcess(["serve", "--port", "0"], env: sqlite, cwd: s.dir)
        let a = s.path("khaled.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", token, store: a)
        let lion = try s.ok("add", "artefact", "Lion of Al-lat", "--set", "state=moved-for-safekeeping", store: a)
        let p = try photo(s, "lion.jpg", bytes: 1_500_000)
        try s.ok("attach", lion, p, store: a)
        try s.ok("sync", store: a)
        #expect(server.stop() == 0)

        try await TestPostgres.withFreshDatabase { db in try moveAndServe(s, data: data, url: cliURL(db), token: token, a: a, lion: lion, photo: p) }
    }

    func moveAndServe(_ s: Sandbox, data: String, url: String, token: String, a: String, lion: String, photo p: String) throws {
        let first = try s.ok("server", "migrate", "--data", data, "--to", url)
        #expect(first.contains("1 projects, 1 tokens, 2 changes copied (0 already there), 2 changes verified byte for byte"))
        #expect(first.contains("1 attachments copied (1.5 MB, 0 already there), 1 attachments verified by their hash"), "\(first)")
        let again = try s.ok("server", "migrate", "--data", data, "--to", url)
        #expect(again.contains("0 changes copied (2 already there), 2 changes verified"))
        #expect(again.contains("0 attachments copied (0 bytes, 1 already there), 1 attachments verified"), "\(again)")
        let moved = try ServerProcess(["serve", "--port", "0", "--database", url], env: [:], cwd: s.dir)
        let b = s.path("fresh.strata")
        try s.initStore(author: "Khaled", store: b)
        try s.ok("remote", "add", "origin", moved.url, "--project", "palmyra", "--token", token, store: b)
        #expect(try s.ok("sync", store: b).contains("pulled 2 changes"))
        #expect(try s.ok("export", "--format", "json", store: a) == (try s.ok("export", "--format", "json", store: b)))
        // The photo's bytes moved too: the new replica downloaded them from PostgreSQL.
        try s.ok("get", lion, "1", "-o", s.path("lion-copy.jpg"), store: b)
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.path("lion-copy.jpg"))) == Data(contentsOf: URL(fileURLWithPath: p)))
        #expect(moved.stop() == 0)
    }

    @Test func aConfigFileNamesTheDatabaseAndTheFlagOrEnvironmentStillWin() async throws {
        let s = try Sandbox()
        try await TestPostgres.withFreshDatabase { db in try configDatabase(s, url: cliURL(db), password: db.password) }
    }

    func configDatabase(_ s: Sandbox, url: String, password: String?) throws {
        try s.ok("server", "project", "add", "palmyra", "--database", url)
        let token = try s.ok("server", "token", "create", "--project", "palmyra", "--researcher", "Khaled", "--database", url)
        let file = s.path("serve.json")
        try Data(#"{"port": 0, "log-format": "json", "database": "\#(url)", "database-connections": 7, "database-timeout": 25}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        // The file's database serves the team, and its password shows in no log line.
        let server = try ServerProcess(["serve", "--config", file], env: [:], cwd: s.dir)
        #expect(server.log.contains("at most 7 connections, operations time out after 25 s"), "\(server.log)")
        let a = s.path("khaled.strata")
        try s.initStore(author: "Khaled", store: a)
        try s.ok("remote", "add", "origin", server.url, "--project", "palmyra", "--token", token, store: a)
        try s.ok("add", "note", "Theatre", store: a)
        #expect(try s.ok("sync", store: a).contains("pushed 1 change"))
        #expect(server.stop() == 0)
        if let password { #expect(!server.log.contains(password), "the database password in the log: \(server.log)") }
        #expect(!server.log.contains(token))

        // --data on the command line wins over the file's database: an empty SQLite server.
        let sqlite = try ServerProcess(["serve", "--config", file, "--data", s.path("sqlite"), "--log-format", "human"], env: [:], cwd: s.dir)
        #expect(sqlite.log.contains("no projects yet") && sqlite.log.contains("--data \(s.path("sqlite"))"), "\(sqlite.log)")
        #expect(sqlite.stop() == 0)

        // $STRATA_DATABASE_URL wins over the file: a file naming a database nothing listens for
        // serves the environment's.
        let unreachable = s.path("unreachable.json")
        try Data(#"{"port": 0, "database": "postgres://postgres:hunter2@127.0.0.1:1/strata"}"#.utf8)
            .write(to: URL(fileURLWithPath: unreachable))
        let env = try ServerProcess(
            ["serve", "--config", unreachable, "--database-connections", "3"], env: ["STRATA_DATABASE_URL": url], cwd: s.dir)
        #expect(env.log.contains("at most 3 connections, operations time out after 10 s"), "\(env.log)")
        try s.ok("remote", "add", "second", env.url, "--project", "palmyra", "--token", token, store: a)
        try s.ok("add", "note", "Citadel", store: a)
        #expect(try s.ok("sync", "second", store: a).contains("pushed 1 change"))
        #expect(env.stop() == 0)
        // Without it the file's database is used: one line, no password.
        let refused = try s.run("serve", "--port", "0", "--config", unreachable)
        #expect(refused.status != 0)
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("cannot reach PostgreSQL at postgres://postgres@127.0.0.1:1/strata"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("hunter2"))
    }

    /// The URL of a test database with its password, as a person would type it.
    func cliURL(_ l: PostgresLocation) -> String {
        let password = l.password.map { ":\($0)" } ?? ""
        return "postgres://\(l.user)\(password)@\(l.host):\(l.port)/\(l.database)?sslmode=disable"
    }
}
