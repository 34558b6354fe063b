import Foundation

/// Which attachments a sync with a remote downloads on its own (uploads are never held back):
/// every one, none, or those up to a size. Stored with the remote (`remotes.attachments`);
/// `strata fetch` downloads on demand whatever the policy.
public enum AttachmentPolicy: Sendable, Hashable, CustomStringConvertible {
    case all
    case none
    /// Attachments of at most this many bytes.
    case upTo(UInt64)

    /// Whether a sync downloads an attachment of `size` bytes.
    public func wants(_ size: UInt64) -> Bool {
        switch self {
        case .all: true
        case .none: false
        case .upTo(let limit): size <= limit
        }
    }

    /// `all`, `none`, or `up-to 2MB`: the stored form, and what `remote list` shows.
    public var description: String {
        switch self {
        case .all: "all"
        case .none: "none"
        case .upTo(let n): "up-to \(Self.sizeText(n))"
        }
    }

    /// Reads `all`, `none`, `up-to SIZE` (SIZE as `2MB`, `500KB`, `1.5GB`, `300000`; 1 MB is
    /// 1,000,000 bytes). Nil for anything else.
    public init?(text: String) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        if t == "all" {
            self = .all
        } else if t == "none" {
            self = .none
        } else if t.hasPrefix("up-to") {
            guard let n = Self.parseSize(String(t.dropFirst(5))) else { return nil }
            self = .upTo(n)
        } else {
            return nil
        }
    }

    /// `2MB`, `2 mb`, `500KB`, `1.5GB`, `300000` (bytes) → bytes.
    public static func parseSize(_ text: String) -> UInt64? {
        var t = text.trimmingCharacters(in: .whitespaces).lowercased()
        var unit: Double = 1
        for (suffix, factor) in [("kb", 1e3), ("mb", 1e6), ("gb", 1e9), ("k", 1e3), ("m", 1e6), ("g", 1e9), ("b", 1.0)]
        where t.hasSuffix(suffix) {
            unit = factor
            t = String(t.dropLast(suffix.count)).trimmingCharacters(in: .whitespaces)
            break
        }
        guard !t.isEmpty, t.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let v = Double(t), v >= 0,
            v * unit < 1e18
        else { return nil }
        return UInt64((v * unit).rounded())
    }

    /// Bytes as people read them: `812 B`, `2MB`, `1.5MB`, `3.2GB`.
    public static func sizeText(_ n: UInt64) -> String {
        func short(_ v: Double, _ u: String) -> String {
            let s = v == v.rounded() ? String(Int(v)) : String(format: "%.1f", v)
            return s + u
        }
        if n >= 1_000_000_000 { return short(Double(n) / 1e9, "GB") }
        if n >= 1_000_000 { return short(Double(n) / 1e6, "MB") }
        if n >= 1_000 { return short(Double(n) / 1e3, "KB") }
        return "\(n)B"
    }
}
