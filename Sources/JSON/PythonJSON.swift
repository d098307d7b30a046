/// Writes JSON exactly as Python's `json.dumps(..., ensure_ascii=False)` does, which is what
/// chat templates' `tojson` produces: `", "` and `": "` separators (or `","` with `indent`),
/// non-ASCII text unescaped, floats in Python's `repr`.
public enum PythonJSON {
    public static func dumps(_ v: JSONValue, indent: Int? = nil, sortKeys: Bool = false) -> String {
        var out = ""
        write(v, indent: indent, sortKeys: sortKeys, level: 0, into: &out)
        return out
    }

    static func write(_ v: JSONValue, indent: Int?, sortKeys: Bool, level: Int, into out: inout String) {
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += floatRepr(d, json: true)
        case .string(let s): out += quote(s)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (k, e) in a.enumerated() {
                if k > 0 { out += indent == nil ? ", " : "," }
                newline(indent, level + 1, &out)
                write(e, indent: indent, sortKeys: sortKeys, level: level + 1, into: &out)
            }
            newline(indent, level, &out)
            out += "]"
        case .object(let o):
            if o.count == 0 { out += "{}"; return }
            out += "{"
            var pairs = o.pairs
            if sortKeys { pairs.sort { Array($0.key.unicodeScalars.map(\.value)).lexicographicallyPrecedes($1.key.unicodeScalars.map(\.value)) } }
            for (k, p) in pairs.enumerated() {
                if k > 0 { out += indent == nil ? ", " : "," }
                newline(indent, level + 1, &out)
                out += quote(p.key) + ": "
                write(p.value, indent: indent, sortKeys: sortKeys, level: level + 1, into: &out)
            }
            newline(indent, level, &out)
            out += "}"
        }
    }

    private static func newline(_ indent: Int?, _ level: Int, _ out: inout String) {
        guard let indent else { return }
        out += "\n" + String(repeating: " ", count: indent * level)
    }

    /// A JSON string literal with Python's escapes (`ensure_ascii=False`).
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// Python's `repr(float)`: the shortest digits that round-trip, in positional notation
    /// for exponents -4 through 15 and scientific (`1e-05`, `1e+16`) outside; `json.dumps`
    /// writes `NaN` and `Infinity` where `repr` writes `nan` and `inf`.
    public static func floatRepr(_ d: Double, json: Bool = false) -> String {
        if d.isNaN { return json ? "NaN" : "nan" }
        if d.isInfinite { return d < 0 ? (json ? "-Infinity" : "-inf") : (json ? "Infinity" : "inf") }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description gives the same shortest round-trip digits; reformat them.
        let (negative, digits, exponent) = decompose(d)
        var s = negative ? "-" : ""
        // `exponent` is the power of ten of the first digit.
        if exponent < -4 || exponent >= 16 {
            s += String(digits.first!)
            if digits.count > 1 { s += "." + digits.dropFirst() }
            s += "e" + (exponent < 0 ? "-" : "+")
            let e = String(abs(exponent))
            s += (e.count < 2 ? "0" : "") + e
        } else if exponent < 0 {
            s += "0." + String(repeating: "0", count: -exponent - 1) + digits
        } else if digits.count > exponent + 1 {
            let cut = digits.index(digits.startIndex, offsetBy: exponent + 1)
            s += digits[..<cut] + "." + digits[cut...]
        } else {
            s += digits + String(repeating: "0", count: exponent + 1 - digits.count) + ".0"
        }
        return s
    }

    /// Sign, significant digits and decimal exponent of the shortest round-trip form.
    private static func decompose(_ d: Double) -> (Bool, String, Int) {
        var text = "\(abs(d))"  // e.g. "1.5", "1e-05", "1.2345e+17", "100.0"
        var exp = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exp = Int(text[text.index(after: e)...])!
            text = String(text[..<e])
        }
        var intPart = text
        var frac = ""
        if let dot = text.firstIndex(of: ".") {
            intPart = String(text[..<dot])
            frac = String(text[text.index(after: dot)...])
        }
        var digits = intPart + frac
        var pointExp = intPart.count - 1 + exp
        // Strip leading zeros (0.001 → "0001" with the point after the first digit).
        while digits.count > 1 && digits.first == "0" {
            digits.removeFirst()
            pointExp -= 1
        }
        while digits.count > 1 && digits.last == "0" { digits.removeLast() }
        return (d < 0, digits, pointExp)
    }
}
