import ArgumentParser
import Foundation
import Logging
import StrataWeb

/// The web view's options, shared by `strata web` and `strata serve`.
struct WebOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Where Leaflet is (leaflet.js, leaflet.css, images/); default $STRATA_LEAFLET_DIR, else Debian's libjs-leaflet in /usr/share/javascript/leaflet.", valueName: "dir"), completion: .directory)
    var leafletDir: String?
    @Option(help: ArgumentHelp("A tile URL for the map's base layer, e.g. https://tile.example.org/{z}/{x}/{y}.png (default: none, a graticule).", valueName: "url"))
    var mapTiles: String?

    func validate() throws {
        if let t = mapTiles {
            guard let u = URLComponents(string: t.replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")),
                let s = u.scheme?.lowercased(), s == "http" || s == "https", u.host?.isEmpty == false
            else {
                throw ValidationError("--map-tiles must be an http(s) URL template such as https://tile.example.org/{z}/{x}/{y}.png")
            }
        }
    }

    var leafletDirectory: String? { leafletDir.map(Paths.expand) }
}

struct WebCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "web", abstract: "Read this replica in a browser: its records, conflicts, history and a map, on 127.0.0.1 only.",
        discussion: """
            Serves read-only pages of your own replica on this machine only (no token: nothing
            listens beyond 127.0.0.1) and prints the address to open. Stop with Ctrl-C.
            A team server shows the same pages to its project's readers: see `strata serve`.
            """)

    @OptionGroup var options: StoreOptions
    @OptionGroup var web: WebOptions
    @Option(help: "Port to listen on (0: any free port). Default 7080.") var port = 7080

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535") }
    }

    func run() async throws {
        let store = try options.open()
        var logger = Logger(label: "strata.web")
        logger.logLevel = .warning
        let server = LocalWebServer(
            store: store, port: port, leafletDirectory: web.leafletDirectory, mapTiles: web.mapTiles, logger: logger)
        if !server.site.hasLeaflet {
            printError("the map needs Leaflet: apt-get install libjs-leaflet (or --leaflet-dir DIR); the other pages work without it")
        }
        try await server.run { bound in
            // Unbuffered, so a script reading the address sees it at once.
            let line = "open http://\(LocalWebServer.host):\(bound)\(WebSite.prefix)/p/\(LocalWebServer.project)/ (Ctrl-C to stop)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
    }
}
