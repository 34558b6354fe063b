/// How sizes and untrusted names are written for people (the same words in every layer).
public enum Display {
    /// `812 bytes`, `3.4 MB`, `1.2 GB` (powers of 1000, one decimal below 10 units).
    public static func bytes(_ n: UInt64) -> String {
        if n < 1000 { return n == 1 ? "1 byte" : "\(n) bytes" }
        let units = ["kB", "MB", "GB", "TB", "PB"]
        var value = Double(n)
        var unit = -1
        while value >= 1000 && unit < units.count - 1 {
            value /= 1000
            unit += 1
        }
        let rounded = value < 10 ? (value * 10).rounded() / 10 : value.rounded()
        let text = rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
        return "\(text) \(units[unit])"
    }

    /// A name in double quotes with every control and bidirectional control character shown
    /// as `<U+XXXX>`, so a hostile name cannot reorder or hide what the terminal prints.
    public static func quoted(_ s: String) -> String { "\"" + escaped(s) + "\"" }

    /// `s` with every control and bidirectional control character shown as `<U+XXXX>`
    /// (`keeping` line breaks and tabs when asked), for text a terminal prints: a title with
    /// U+202E cannot make the rest of the line read backwards.
    public static func escaped(_ s: String, keepingLineBreaks: Bool = false) -> String {
        guard s.unicodeScalars.contains(where: { AttachmentRef.isControl($0) || AttachmentRef.isBidiControl($0) }) else { return s }
        var out = ""
        for scalar in s.unicodeScalars {
            if keepingLineBreaks && (scalar == "\n" || scalar == "\t") {
                out.unicodeScalars.append(scalar)
            } else if AttachmentRef.isControl(scalar) || AttachmentRef.isBidiControl(scalar) {
                let h = String(scalar.value, radix: 16, uppercase: true)
                out += "<U+" + String(repeating: "0", count: max(0, 4 - h.count)) + h + ">"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
