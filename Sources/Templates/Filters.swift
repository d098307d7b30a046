import Foundation
import JSON

/// jinja2's built-in filters that chat templates use, plus transformers' `tojson`.
extension Builtins {
    static func filter(_ name: String, _ v: Value, _ args: [Value], _ kwargs: [(String, Value)], _ interp: Interpreter) throws(TemplateError) -> Value {
        func arg(_ i: Int, _ key: String) -> Value? {
            if i < args.count { return args[i] }
            return kwargs.first { $0.0 == key }?.1
        }
        func requireString(_ what: String) -> Text {
            switch v {
            case .string(let t): return t
            default: return interp.text(of: v)  // str(Undefined) is ""

            }
        }
        switch name {
        case "tojson":
            var indent: Int?
            if case .int(let i)? = arg(0, "indent") { indent = i }
            let sortKeys = arg(1, "sort_keys")?.truthy ?? false
            let json = try v.json()
            return .string(Text(PythonJSON.dumps(json, indent: indent, sortKeys: sortKeys), trusted: !v.containsUntrusted))
        case "trim", "strip":
            var chars: Set<Unicode.Scalar>?
            if case .string(let c)? = arg(0, "chars") { chars = Set(c.string.unicodeScalars) }
            return .string(requireString(name).stripped(chars: chars))
        case "length", "count":
            switch v {
            case .string(let t): return .int(t.string.count)
            case .list(let l), .tuple(let l): return .int(l.count)
            case .dict(let d): return .int(d.count)
            case .undefined: return .int(0)
            default: throw interp.fail("object of type '\(v.typeName)' has no len()")
            }
        case "first":
            let items = try interp.iterate(v)
            return items.first ?? .undefined("first")
        case "last":
            let items = try interp.iterate(v)
            return items.last ?? .undefined("last")
        case "join":
            var sep = Text()
            if let s = arg(0, "d") { sep = interp.text(of: s) }
            var items = try interp.iterate(v)
            if case .string(let attr)? = arg(1, "attribute") {
                var mapped: [Value] = []
                for i in items { mapped.append(try interp.attribute(i, attr.string)) }
                items = mapped
            }
            var out = Text()
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(sep) }
                out.append(interp.text(of: item))
            }
            return .string(out)
        case "default", "d":
            let fallback = arg(0, "default_value") ?? .trusted("")
            let boolean = arg(1, "boolean")?.truthy ?? false
            if v.isUndefined || (boolean && !v.truthy) { return fallback }
            return v
        case "upper": let t = requireString(name); return .string(t.derived(t.string.uppercased()))
        case "lower": let t = requireString(name); return .string(t.derived(t.string.lowercased()))
        case "title": let t = requireString(name); return .string(t.derived(pyTitle(t.string)))
        case "capitalize": let t = requireString(name); return .string(t.derived(pyCapitalize(t.string)))
        case "replace":
            let t = requireString(name)
            guard case .string(let old)? = arg(0, "old"), case .string(let new)? = arg(1, "new") else {
                throw interp.fail("replace expects two strings")
            }
            var count = -1
            if case .int(let c)? = arg(2, "count") { count = c }
            let result = pyReplace(t.string, old.string, new.string, count: count)
            return .string(Text(result, trusted: t.isTrusted && old.isTrusted && new.isTrusted))
        case "string": return .string(interp.text(of: v))
        case "int":
            switch v {
            case .int: return v
            case .float(let d): return pyInt(d).map { .int($0) } ?? arg(0, "default") ?? .int(0)
            case .bool(let b): return .int(b ? 1 : 0)
            case .string(let t):
                let s = t.string.trimmingCharacters(in: .whitespaces)
                if let i = Int(s) { return .int(i) }
                return Double(s).flatMap(pyInt).map { .int($0) } ?? arg(0, "default") ?? .int(0)
            default: return arg(0, "default") ?? .int(0)
            }
        case "float":
            switch v {
            case .int(let i): return .float(Double(i))
            case .float: return v
            case .string(let t): return .float(Double(t.string.trimmingCharacters(in: .whitespaces)) ?? 0)
            default: return arg(0, "default") ?? .float(0)
            }
        case "abs":
            switch v {
            case .int(let i):
                guard i != .min else { throw interp.fail("integer overflow in abs") }
                return .int(abs(i))
            case .float(let d): return .float(abs(d))
            default: throw interp.fail("bad operand type for abs(): '\(v.typeName)'")
            }
        case "round":
            var precision = 0
            if case .int(let p)? = arg(0, "precision") { precision = p }
            guard let x = number(v) else { throw interp.fail("round expects a number") }
            let m = pow(10.0, Double(precision))
            return .float((x * m).rounded(.toNearestOrEven) / m)
        case "list": return .list(try interp.iterate(v))
        case "reverse":
            if case .string(let t) = v { return .string(t.derived(String(t.string.reversed()))) }
            return .list(try interp.iterate(v).reversed())
        case "sum":
            var total: Value = .int(0)
            for i in try interp.iterate(v) { total = try arithmetic("+", total, i, interp) }
            return total
        case "items":
            guard case .dict(let d) = v else {
                if v.isUndefined { return .list([]) }
                throw interp.fail("items expects a mapping")
            }
            return .list(d.pairs.map { .tuple([.untrusted($0.0), $0.1]) })
        case "dictsort":
            guard case .dict(let d) = v else { throw interp.fail("dictsort expects a mapping") }
            let caseSensitive = arg(0, "case_sensitive")?.truthy ?? false
            let byValue: Bool
            if case .string(let by)? = arg(1, "by") { byValue = by.string == "value" } else { byValue = false }
            let reverse = arg(2, "reverse")?.truthy ?? false
            var pairs = d.pairs.map { (Value.untrusted($0.0), $0.1) }
            try sortValues(&pairs, key: { byValue ? $0.1 : $0.0 }, caseSensitive: caseSensitive, interp)
            if reverse { pairs.reverse() }
            return .list(pairs.map { .tuple([$0.0, $0.1]) })
        case "sort":
            var items = try interp.iterate(v)
            let reverse = arg(0, "reverse")?.truthy ?? false
            let caseSensitive = arg(1, "case_sensitive")?.truthy ?? false
            var attribute: String?
            if case .string(let a)? = arg(2, "attribute") { attribute = a.string }
            var keyed: [(Value, Value)] = []
            for i in items { keyed.append((attribute == nil ? i : try interp.attribute(i, attribute!), i)) }
            try sortValues(&keyed, key: { $0.0 }, caseSensitive: caseSensitive, interp)
            items = keyed.map(\.1)
            return .list(reverse ? items.reversed() : items)
        case "unique":
            var out: [Value] = []
            for i in try interp.iterate(v) where !out.contains(where: { equal($0, i) }) { out.append(i) }
            return .list(out)
        case "min", "max":
            let items = try interp.iterate(v)
            guard var best = items.first else { return .undefined(name) }
            for i in items.dropFirst() where try (name == "min" ? less(i, best, "<", interp) : less(best, i, "<", interp)) { best = i }
            return best
        case "map":
            var out: [Value] = []
            if case .string(let attr)? = kwargs.first(where: { $0.0 == "attribute" })?.1 {
                let def = kwargs.first { $0.0 == "default" }?.1
                for i in try interp.iterate(v) {
                    let x = try interp.attribute(i, attr.string)
                    out.append(x.isUndefined ? (def ?? x) : x)
                }
                return .list(out)
            }
            guard case .string(let f)? = args.first else { throw interp.fail("map expects a filter name or attribute=") }
            for i in try interp.iterate(v) { out.append(try filter(f.string, i, Array(args.dropFirst()), [], interp)) }
            return .list(out)
        case "select", "reject":
            var out: [Value] = []
            for i in try interp.iterate(v) {
                let ok: Bool
                if case .string(let t)? = args.first { ok = try test(t.string, i, Array(args.dropFirst()), interp) } else { ok = i.truthy }
                if ok == (name == "select") { out.append(i) }
            }
            return .list(out)
        case "selectattr", "rejectattr":
            guard case .string(let attr)? = args.first else { throw interp.fail("\(name) expects an attribute name") }
            var out: [Value] = []
            for i in try interp.iterate(v) {
                let x = try interp.attribute(i, attr.string)
                let ok: Bool
                if args.count > 1, case .string(let t) = args[1] { ok = try test(t.string, x, Array(args.dropFirst(2)), interp) } else { ok = x.truthy }
                if ok == (name == "selectattr") { out.append(i) }
            }
            return .list(out)
        case "attr":
            guard case .string(let a)? = args.first else { throw interp.fail("attr expects a name") }
            return try interp.attribute(v, a.string)
        case "indent":
            let t = requireString(name)
            var width = "    "
            switch arg(0, "width") {
            case .int(let n)?:
                guard n <= 1 << 16 else { throw interp.fail("indent width \(n) is too large (at most 65536)") }
                width = String(repeating: " ", count: max(0, n))
            case .string(let s)?: width = s.string
            default: break
            }
            let first = arg(1, "first")?.truthy ?? false
            let blank = arg(2, "blank")?.truthy ?? false
            var lines = t.string.components(separatedBy: "\n")
            for k in lines.indices where (k > 0 || first) && (blank || !lines[k].isEmpty) { lines[k] = width + lines[k] }
            return .string(t.derived(lines.joined(separator: "\n")))
        case "wordcount":
            return .int(requireString(name).string.split(whereSeparator: { $0.isWhitespace }).count)
        case "safe", "e", "escape", "forceescape":
            if name == "safe" { return v }
            let t = requireString(name)
            var out = ""
            for c in t.string.unicodeScalars {
                switch c {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&#34;"
                case "'": out += "&#39;"
                default: out.unicodeScalars.append(c)
                }
            }
            return .string(t.derived(out))
        case "batch":
            guard case .int(let n)? = args.first, n > 0 else { throw interp.fail("batch expects a positive size") }
            let items = try interp.iterate(v)
            return .list(stride(from: 0, to: items.count, by: n).map { .list(Array(items[$0..<min($0 + n, items.count)])) })
        case "center":
            let t = requireString(name)
            var w = 80
            if case .int(let n)? = arg(0, "width") { w = n }
            guard w <= interp.limits.maxOutputBytes else { throw interp.fail("center width \(w) is too large") }
            let pad = max(0, w - t.string.count)
            let left = pad / 2
            return .string(t.derived(String(repeating: " ", count: left) + t.string + String(repeating: " ", count: pad - left)))
        case "pprint": return .string(Text(repr(v), trusted: !v.containsUntrusted))
        case "truncate":
            let t = requireString(name)
            var n = 255
            if case .int(let k)? = arg(0, "length") { n = k }
            return .string(t.derived(t.string.count <= n ? t.string : String(t.string.prefix(max(0, n - 3))) + "..."))
        default:
            throw interp.fail("no filter named '\(name)'")
        }
    }

    private static func sortValues<T>(_ items: inout [T], key: (T) -> Value, caseSensitive: Bool, _ interp: Interpreter) throws(TemplateError) {
        func norm(_ v: Value) -> Value {
            if !caseSensitive, case .string(let t) = v { return .string(t.derived(t.string.lowercased())) }
            return v
        }
        var failure: TemplateError?
        // A stable sort, as Python's.
        let indexed = items.enumerated().map { ($0.offset, $0.element) }
        let sorted = indexed.sorted { a, b in
            do throws(TemplateError) {
                if try less(norm(key(a.1)), norm(key(b.1)), "<", interp) { return true }
                if try less(norm(key(b.1)), norm(key(a.1)), "<", interp) { return false }
            } catch {
                failure = error
            }
            return a.0 < b.0
        }
        if let failure { throw failure }
        items = sorted.map { $0.1 }
    }

    static func pyTitle(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s {
            out += previousCased ? c.lowercased() : c.uppercased()
            previousCased = c.isLetter
        }
        return out
    }

    static func pyCapitalize(_ s: String) -> String {
        guard let f = s.first else { return s }
        return f.uppercased() + s.dropFirst().lowercased()
    }

    /// Python's `str.replace`, matching code points exactly.
    static func pyReplace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
        let src = Array(s.unicodeScalars), o = Array(old.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        var done = 0
        if o.isEmpty {
            // Python inserts `new` between every character (and at both ends).
            for u in src {
                if count < 0 || done < count { out.append(contentsOf: new.unicodeScalars); done += 1 }
                out.append(u)
            }
            if count < 0 || done < count { out.append(contentsOf: new.unicodeScalars) }
            return String(out)
        }
        while i < src.count {
            if (count < 0 || done < count) && i + o.count <= src.count && Array(src[i..<(i + o.count)]) == o {
                out.append(contentsOf: new.unicodeScalars)
                i += o.count
                done += 1
            } else {
                out.append(src[i])
                i += 1
            }
        }
        return String(out)
    }
}
