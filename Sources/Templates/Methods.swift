/// Python methods of strings, dicts and lists that templates call (`content.strip()`,
/// `message.get('x')`, `d.items()`), returned as bound callables.
extension Builtins {
    static func method(of v: Value, _ name: String) -> Value? {
        func bound(_ body: @escaping ([Value], [(String, Value)], Interpreter) throws(TemplateError) -> Value) -> Value {
            .callable(Callable(name: name, call: body))
        }
        switch v {
        case .string(let t): return stringMethod(t, name).map { m in bound { (a, k, i) throws(TemplateError) in try m(a, k, i) } }
        case .dict(let d):
            switch name {
            case "items": return bound { (_, _, _) throws(TemplateError) in .list(d.pairs.map { .tuple([.untrusted($0.0), $0.1]) }) }
            case "keys": return bound { (_, _, _) throws(TemplateError) in .list(d.keys.map { .untrusted($0) }) }
            case "values": return bound { (_, _, _) throws(TemplateError) in .list(d.values) }
            case "get":
                return bound { (a, _, i) throws(TemplateError) in
                    guard case .string(let k)? = a.first else { return a.count > 1 ? a[1] : .none }
                    return d[k.string] ?? (a.count > 1 ? a[1] : .none)
                }
            default: return nil
            }
        case .list(let l):
            switch name {
            case "index":
                return bound { (a, _, i) throws(TemplateError) in
                    guard let x = a.first, let idx = l.firstIndex(where: { equal($0, x) }) else { throw i.fail("value is not in list") }
                    return .int(idx)
                }
            case "count":
                return bound { (a, _, _) throws(TemplateError) in
                    guard let x = a.first else { return .int(0) }
                    return .int(l.filter { equal($0, x) }.count)
                }
            default: return nil
            }
        default:
            return nil
        }
    }

    typealias Method = ([Value], [(String, Value)], Interpreter) throws(TemplateError) -> Value

    private static func stringMethod(_ t: Text, _ name: String) -> Method? {
        let s = t.string
        func argString(_ a: [Value], _ i: Int) -> String? {
            if i < a.count, case .string(let x) = a[i] { return x.string }
            return nil
        }
        switch name {
        case "strip", "lstrip", "rstrip":
            return { (a, _, _) throws(TemplateError) in
                let chars = argString(a, 0).map { Set($0.unicodeScalars) }
                return .string(t.stripped(leading: name != "rstrip", trailing: name != "lstrip", chars: chars))
            }
        case "upper": return { (_, _, _) throws(TemplateError) in .string(t.derived(s.uppercased())) }
        case "lower": return { (_, _, _) throws(TemplateError) in .string(t.derived(s.lowercased())) }
        case "title": return { (_, _, _) throws(TemplateError) in .string(t.derived(pyTitle(s))) }
        case "capitalize": return { (_, _, _) throws(TemplateError) in .string(t.derived(pyCapitalize(s))) }
        case "startswith", "endswith":
            return { (a, _, i) throws(TemplateError) in
                var candidates: [String] = []
                switch a.first {
                case .string(let p)?: candidates = [p.string]
                case .list(let l)?, .tuple(let l)?: candidates = l.compactMap { if case .string(let p) = $0 { return p.string } else { return nil } }
                default: throw i.fail("\(name) expects a string")
                }
                let u = Array(s.unicodeScalars)
                return .bool(candidates.contains { p in
                    let pu = Array(p.unicodeScalars)
                    guard pu.count <= u.count else { return false }
                    return name == "startswith" ? Array(u.prefix(pu.count)) == pu : Array(u.suffix(pu.count)) == pu
                })
            }
        case "split", "rsplit":
            return { (a, _, i) throws(TemplateError) in
                var maxSplit = -1
                if a.count > 1, case .int(let m) = a[1] { maxSplit = m }
                let parts: [String]
                if let sep = argString(a, 0) {
                    guard !sep.isEmpty else { throw i.fail("empty separator") }
                    parts = pySplit(s, sep, maxSplit: maxSplit, fromRight: name == "rsplit")
                } else {
                    var words = s.split(whereSeparator: { $0.isWhitespace }).map(String.init)
                    if maxSplit >= 0 && words.count > maxSplit + 1 {
                        // Python keeps the remainder (with its inner whitespace) as the last item.
                        words = pySplitWhitespace(s, maxSplit: maxSplit)
                    }
                    parts = words
                }
                return .list(parts.map { .string(t.derived($0)) })
            }
        case "replace":
            return { (a, _, i) throws(TemplateError) in
                guard let old = argString(a, 0), let new = argString(a, 1) else { throw i.fail("replace expects two strings") }
                var count = -1
                if a.count > 2, case .int(let c) = a[2] { count = c }
                let trusted = t.isTrusted && a.prefix(2).allSatisfy { !$0.containsUntrusted }
                return .string(Text(pyReplace(s, old, new, count: count), trusted: trusted))
            }
        case "find", "index", "rfind":
            return { (a, _, i) throws(TemplateError) in
                guard let sub = argString(a, 0) else { throw i.fail("\(name) expects a string") }
                let u = Array(s.unicodeScalars), p = Array(sub.unicodeScalars)
                let starts = name == "rfind" ? Array((0...max(0, u.count - p.count)).reversed()) : Array(0...max(0, u.count - p.count))
                for k in starts where k + p.count <= u.count && Array(u[k..<(k + p.count)]) == p { return .int(k) }
                if name == "index" { throw i.fail("substring not found") }
                return .int(-1)
            }
        case "count":
            return { (a, _, i) throws(TemplateError) in
                guard let sub = argString(a, 0), !sub.isEmpty else { throw i.fail("count expects a string") }
                return .int(pySplit(s, sub, maxSplit: -1, fromRight: false).count - 1)
            }
        case "format":
            return { (a, k, i) throws(TemplateError) in
                .string(Text(try pyFormat(s, a, k, i), trusted: t.isTrusted && !a.contains { $0.containsUntrusted } && !k.contains { $0.1.containsUntrusted }))
            }
        case "join":
            return { (a, _, i) throws(TemplateError) in
                guard let items = a.first else { throw i.fail("join expects a list") }
                var out = Text()
                for (n, item) in try i.iterate(items).enumerated() {
                    if n > 0 { out.append(t) }
                    out.append(i.text(of: item))
                }
                return .string(out)
            }
        case "isdigit": return { (_, _, _) throws(TemplateError) in .bool(!s.isEmpty && s.allSatisfy { $0.isNumber }) }
        case "isalpha": return { (_, _, _) throws(TemplateError) in .bool(!s.isEmpty && s.allSatisfy { $0.isLetter }) }
        case "isspace": return { (_, _, _) throws(TemplateError) in .bool(!s.isEmpty && s.allSatisfy { $0.isWhitespace }) }
        case "splitlines":
            return { (_, _, _) throws(TemplateError) in
                var lines = s.components(separatedBy: "\n")
                if lines.last == "" { lines.removeLast() }
                return .list(lines.map { .string(t.derived($0)) })
            }
        default: return nil
        }
    }

    static func pySplit(_ s: String, _ sep: String, maxSplit: Int, fromRight: Bool) -> [String] {
        let u = Array(s.unicodeScalars), p = Array(sep.unicodeScalars)
        var cuts: [Int] = []
        var i = 0
        while i + p.count <= u.count {
            if Array(u[i..<(i + p.count)]) == p { cuts.append(i); i += p.count } else { i += 1 }
        }
        if maxSplit >= 0 && cuts.count > maxSplit { cuts = fromRight ? Array(cuts.suffix(maxSplit)) : Array(cuts.prefix(maxSplit)) }
        var parts: [String] = []
        var start = 0
        for c in cuts {
            parts.append(String(String.UnicodeScalarView(u[start..<c])))
            start = c + p.count
        }
        parts.append(String(String.UnicodeScalarView(u[start...])))
        return parts
    }

    static func pySplitWhitespace(_ s: String, maxSplit: Int) -> [String] {
        var parts: [String] = []
        var rest = Substring(s).drop(while: { $0.isWhitespace })
        while parts.count < maxSplit, let end = rest.firstIndex(where: { $0.isWhitespace }) {
            parts.append(String(rest[..<end]))
            rest = rest[end...].drop(while: { $0.isWhitespace })
        }
        if !rest.isEmpty { parts.append(String(rest)) }
        return parts
    }

    /// `str.format` with `{}`, `{0}`, `{name}` and `{{`/`}}`.
    static func pyFormat(_ s: String, _ args: [Value], _ kwargs: [(String, Value)], _ interp: Interpreter) throws(TemplateError) -> String {
        var out = ""
        var auto = 0
        var it = Array(s)
        var i = 0
        while i < it.count {
            let c = it[i]
            if c == "{" {
                if i + 1 < it.count && it[i + 1] == "{" { out += "{"; i += 2; continue }
                guard let close = it[i...].firstIndex(of: "}") else { throw interp.fail("single '{' encountered in format string") }
                let field = String(it[(i + 1)..<close])
                let v: Value
                if field.isEmpty {
                    guard auto < args.count else { throw interp.fail("format: not enough arguments") }
                    v = args[auto]
                    auto += 1
                } else if let n = Int(field) {
                    guard n < args.count else { throw interp.fail("format: index \(n) out of range") }
                    v = args[n]
                } else {
                    guard let kv = kwargs.first(where: { $0.0 == field }) else { throw interp.fail("format: missing key '\(field)'") }
                    v = kv.1
                }
                out += str(v)
                i = close + 1
            } else if c == "}" {
                if i + 1 < it.count && it[i + 1] == "}" { out += "}"; i += 2; continue }
                throw interp.fail("single '}' encountered in format string")
            } else {
                out.append(c)
                i += 1
            }
        }
        it = []
        return out
    }
}
