import Foundation
import JSON

/// Globals, operators and Python's `str`/`repr`, as jinja2 inherits them from Python.
enum Builtins {
    static let globals: [String: Value] = [
        "raise_exception": .callable(Callable(name: "raise_exception") { (args, _, interp) throws(TemplateError) in
            var e = TemplateError(args.first.map { interp.text(of: $0).string } ?? "raise_exception called", line: interp.line)
            e.raisedByTemplate = true
            throw e
        }),
        "strftime_now": .callable(Callable(name: "strftime_now") { (args, _, interp) throws(TemplateError) in
            guard case .string(let f)? = args.first else { throw interp.fail("strftime_now expects a format string") }
            return .trusted(strftime(f.string, interp.now))
        }),
        "namespace": .callable(Callable(name: "namespace") { (args, kwargs, interp) throws(TemplateError) in
            var values: [String: Value] = [:]
            if case .dict(let d)? = args.first { for (k, v) in d.pairs { values[k] = v } }
            for (k, v) in kwargs { values[k] = v }
            return .namespace(Namespace(values))
        }),
        "range": .callable(Callable(name: "range") { (args, _, interp) throws(TemplateError) in
            var ints: [Int] = []
            for a in args {
                guard case .int(let i) = a else { throw interp.fail("range() arguments must be integers") }
                ints.append(i)
            }
            let (start, stop, step): (Int, Int, Int)
            switch ints.count {
            case 1: (start, stop, step) = (0, ints[0], 1)
            case 2: (start, stop, step) = (ints[0], ints[1], 1)
            case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
            default: throw interp.fail("range expected 1 to 3 arguments, got \(ints.count)")
            }
            guard step != 0 else { throw interp.fail("range() arg 3 must not be zero") }
            // In Double: hostile bounds (Int.min...Int.max) must not overflow while counting.
            let span = step > 0 ? Double(stop) - Double(start) : Double(start) - Double(stop)
            let count = Int(max(0, min(Double(Int32.max), (span / abs(Double(step))).rounded(.up))))
            guard count <= interp.limits.maxIterations else { throw interp.fail("range of \(count) items is too large") }
            guard count == 0 || abs(Double(start) + Double(count - 1) * Double(step)) < 9e18 else { throw interp.fail("range overflows 64-bit integers") }
            return .list((0..<count).map { .int(start + $0 * step) })
        }),
        "dict": .callable(Callable(name: "dict") { (args, kwargs, _) throws(TemplateError) in
            var d = Dict()
            if case .dict(let src)? = args.first { for (k, v) in src.pairs { d[k] = v } }
            for (k, v) in kwargs { d[k] = v }
            return .dict(d)
        }),
    ]

    /// C `strftime` in the C locale, in UTC.
    static func strftime(_ format: String, _ seconds: Double) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        var buf = [CChar](repeating: 0, count: 512)
        let n = Foundation.strftime(&buf, buf.count, format, &tm)
        return String(decoding: buf[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: - str and repr

    /// Python's `str(v)`.
    static func str(_ v: Value) -> String {
        switch v {
        case .undefined: return ""
        case .string(let t): return t.string
        default: return repr(v)
        }
    }

    /// Python's `repr(v)`.
    static func repr(_ v: Value) -> String {
        switch v {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .float(let d): return PythonJSON.floatRepr(d)
        case .string(let t): return reprString(t.string)
        case .list(let l): return "[" + l.map(repr).joined(separator: ", ") + "]"
        case .tuple(let l): return "(" + l.map(repr).joined(separator: ", ") + (l.count == 1 ? ",)" : ")")
        case .dict(let d): return "{" + d.pairs.map { reprString($0.0) + ": " + repr($0.1) }.joined(separator: ", ") + "}"
        case .namespace(let n): return "<Namespace " + n.values.keys.sorted().joined(separator: ", ") + ">"
        case .callable(let c): return "<function \(c.name)>"
        }
    }

    /// Python's `repr(str)`: single quotes unless the text has a single quote and no double.
    static func reprString(_ s: String) -> String {
        let q: Unicode.Scalar = s.contains("'") && !s.contains("\"") ? "\"" : "'"
        var out = String(q)
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case q: out += "\\" + String(q)
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    let h = String(u.value, radix: 16)
                    out += "\\x" + (h.count < 2 ? "0" : "") + h
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out.unicodeScalars.append(q)
        return out
    }

    // MARK: - Operators

    static func number(_ v: Value) -> Double? {
        switch v {
        case .int(let i): return Double(i)
        case .float(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// Python's int(float) (truncation), or nil where Python raises (NaN, infinity) or the value
    /// does not fit in 64 bits (Python's ints are unbounded; ours are not).
    static func pyInt(_ d: Double) -> Int? { d.isFinite ? Int(exactly: d.rounded(.towardZero)) : nil }

    static func integer(_ v: Value) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    static func arithmetic(_ op: String, _ a: Value, _ b: Value, _ interp: Interpreter) throws(TemplateError) -> Value {
        if case .undefined(let n) = a { throw interp.fail("'\(n)' is undefined") }
        if case .undefined(let n) = b { throw interp.fail("'\(n)' is undefined") }
        let unsupported = interp.fail("unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)):
            guard x.utf8Count + y.utf8Count <= interp.limits.maxOutputBytes else { throw interp.fail("string too long") }
            return .string(x + y)
        case ("+", .list(let x), .list(let y)): return .list(x + y)
        case ("*", .string(let s), _), ("*", _, .string(let s)):
            let count: Value
            if case .string = a { count = b } else { count = a }
            guard let n = integer(count) else { throw unsupported }
            guard n <= 0 || s.utf8Count * n <= interp.limits.maxOutputBytes else { throw interp.fail("string too long") }
            return .string(s.derived(n <= 0 ? "" : String(repeating: s.string, count: n)))
        case ("%", .string(let fmt), _):
            return .string(fmt.derived(try percentFormat(fmt.string, b, interp)))
        default: break
        }
        if let x = integer(a), let y = integer(b) {
            switch op {
            case "+":
                let (r, o) = x.addingReportingOverflow(y)
                if !o { return .int(r) }
            case "-":
                let (r, o) = x.subtractingReportingOverflow(y)
                if !o { return .int(r) }
            case "*":
                let (r, o) = x.multipliedReportingOverflow(by: y)
                if !o { return .int(r) }
            case "/":
                guard y != 0 else { throw interp.fail("division by zero") }
                return .float(Double(x) / Double(y))
            case "//":
                guard y != 0 else { throw interp.fail("integer division or modulo by zero") }
                let q = x / y
                return .int((x % y != 0 && (x < 0) != (y < 0)) ? q - 1 : q)
            case "%":
                guard y != 0 else { throw interp.fail("integer division or modulo by zero") }
                let r = x % y
                return .int(r != 0 && (r < 0) != (y < 0) ? r + y : r)
            case "**":
                if y >= 0 {
                    var r = 1
                    for _ in 0..<min(y, 64) {
                        let (m, o) = r.multipliedReportingOverflow(by: x)
                        if o { throw interp.fail("integer overflow in **") }
                        r = m
                    }
                    if y <= 64 || abs(x) <= 1 { return .int(y > 64 ? (x == -1 && y % 2 == 1 ? -1 : r) : r) }
                    throw interp.fail("integer overflow in **")
                }
                return .float(pow(Double(x), Double(y)))
            default: break
            }
            throw interp.fail("integer overflow in \(op)")
        }
        guard let x = number(a), let y = number(b) else { throw unsupported }
        switch op {
        case "+": return .float(x + y)
        case "-": return .float(x - y)
        case "*": return .float(x * y)
        case "/":
            guard y != 0 else { throw interp.fail("float division by zero") }
            return .float(x / y)
        case "//":
            guard y != 0 else { throw interp.fail("float floor division by zero") }
            return .float((x / y).rounded(.down))
        case "%":
            guard y != 0 else { throw interp.fail("float modulo") }
            let r = x.truncatingRemainder(dividingBy: y)
            return .float(r != 0 && (r < 0) != (y < 0) ? r + y : r)
        case "**": return .float(pow(x, y))
        default: throw unsupported
        }
    }

    /// `"%s and %d" % (a, b)`: the conversions templates use (s, r, d, i, f).
    static func percentFormat(_ fmt: String, _ arg: Value, _ interp: Interpreter) throws(TemplateError) -> String {
        var args: [Value]
        if case .list(let l) = arg { args = l } else { args = [arg] }
        var out = ""
        var it = fmt.unicodeScalars.makeIterator()
        while let c = it.next() {
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            guard let conv = it.next() else { throw interp.fail("incomplete format") }
            if conv == "%" { out += "%"; continue }
            guard !args.isEmpty else { throw interp.fail("not enough arguments for format string") }
            let v = args.removeFirst()
            switch conv {
            case "s": out += str(v)
            case "r": out += repr(v)
            case "d", "i":
                guard let n = number(v) else { throw interp.fail("%d format: a number is required") }
                guard let i = pyInt(n) else { throw interp.fail("%d format: \(n) is not a finite integer") }
                out += String(i)
            case "f": out += String(format: "%f", number(v) ?? 0)
            default: throw interp.fail("unsupported format character '\(conv)'")
            }
        }
        return out
    }

    static func equal(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let x), .string(let y)): return x.string.pyEquals(y.string)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.dict(let x), .dict(let y)):
            return x.count == y.count && x.pairs.allSatisfy { k, v in y[k].map { equal(v, $0) } ?? false }
        case (.namespace(let x), .namespace(let y)): return x === y
        default:
            if let x = number(a), let y = number(b) { return x == y }
            return false
        }
    }

    static func less(_ a: Value, _ b: Value, _ op: String, _ interp: Interpreter) throws(TemplateError) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): return x.string.pyLess(y.string)
        case (.list(let x), .list(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where !equal(p, q) { return try less(p, q, op, interp) }
            return x.count < y.count
        default:
            if let x = number(a), let y = number(b) { return x < y }
            if case .undefined(let n) = a { throw interp.fail("'\(n)' is undefined") }
            if case .undefined(let n) = b { throw interp.fail("'\(n)' is undefined") }
            throw interp.fail("'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    static func contains(_ container: Value, _ item: Value, _ interp: Interpreter) throws(TemplateError) -> Bool {
        switch container {
        case .string(let t):
            guard case .string(let s) = item else { throw interp.fail("'in <string>' requires string as left operand, not \(item.typeName)") }
            return s.string.isEmpty || t.string.unicodeScalars.firstRange(of: s.string.unicodeScalars) != nil
        case .list(let l), .tuple(let l): return l.contains { equal($0, item) }
        case .dict(let d):
            guard case .string(let k) = item else { return false }
            return d[k.string] != nil
        case .undefined: return false
        case .namespace(let n):
            guard case .string(let k) = item else { return false }
            return n.values[k.string] != nil
        default: throw interp.fail("argument of type '\(container.typeName)' is not iterable")
        }
    }

    static func compare(_ op: String, _ a: Value, _ b: Value, _ interp: Interpreter) throws(TemplateError) -> Bool {
        switch op {
        case "==": return equal(a, b)
        case "!=": return !equal(a, b)
        case "<": return try less(a, b, op, interp)
        case ">": return try less(b, a, op, interp)
        case "<=": return try !less(b, a, op, interp)
        case ">=": return try !less(a, b, op, interp)
        case "in": return try contains(b, a, interp)
        case "notin": return try !contains(b, a, interp)
        default: throw interp.fail("unknown comparison \(op)")
        }
    }
}
