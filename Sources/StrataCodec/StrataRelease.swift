/// This build's release: what `strata --version` prints and what the HTTP client sends as
/// `User-Agent: strata/<version>`, so a server's log names the client a person reports.
public enum StrataRelease {
    public static let version = "0.2.0"
    public static var userAgent: String { "strata/\(version)" }
}
