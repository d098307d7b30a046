import JSON

/// Compiles a JSON schema into a `Grammar` whose documents are exactly the JSON texts that
/// the schema accepts (within the supported keywords), so constrained decoding can only
/// produce output that parses and validates. A keyword that is not supported is refused with
/// its name, never ignored. Tighter than the schema in one way only: objects get no
/// properties beyond those declared (which a valid document may always omit).
struct JSONSchemaGrammar {
    struct Unsupported: Error { let keyword: String; let path: String }

    private(set) var grammar = Grammar()
    private(set) var root = 0
    private let document: JSONValue
    private var refs: [String: Int] = [:]
    /// References being compiled, with the count of containers entered when each began: meeting
    /// one again with no container (object, array) in between is a loop that reads nothing.
    private var compiling: [String: Int] = [:]
    private var containers = 0
    private var cache: [String: Int] = [:]
    private var ws = 0

    static let annotations: Set<String> = ["title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated",
                                           "readOnly", "writeOnly", "strict", "$defs", "definitions"]
    static let keywords: Set<String> = ["type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum",
                                        "const", "anyOf", "oneOf", "$ref", "minLength", "maxLength", "minimum", "maximum",
                                        "exclusiveMinimum", "exclusiveMaximum"]
    /// Bounded numbers are written without exponent, with at most this many digits.
    static let maxDigits = 15
    static let maxRepetition = 2000

    /// Any JSON value (`schema` nil), or a schema.
    init(schema: JSONValue?) throws(Unsupported) {
        document = schema ?? .object(JSONObject())
        ws = makeWhitespace()
        root = try compile(schema ?? .object(JSONObject()), path: "#")
    }

    /// `{"type": "json_object"}`: any JSON object.
    static func anyObject() -> JSONSchemaGrammar {
        // swiftlint:disable:next force_try
        try! JSONSchemaGrammar(schema: .object(JSONObject([("type", .string("object")), ("additionalProperties", .bool(true))])))
    }

    // MARK: - Pieces

    private func b(_ s: String) -> [Grammar.Element] { Array(s.utf8).map { .bytes(ByteSet([$0])) } }

    /// Up to 24 characters of whitespace: enough for any layout, not enough for a model to
    /// loop in it forever.
    private mutating func makeWhitespace() -> Int {
        var tail = grammar.rule([[]])
        let indent = ByteSet([0x20, 0x09])
        for _ in 0..<24 { tail = grammar.rule([[], [.bytes(indent), .rule(tail)]]) }
        return grammar.rule([[], b(" "), [.bytes(ByteSet([0x0A])), .rule(tail)]])
    }

    private mutating func repeated(_ item: [Grammar.Element], min: Int, max: Int?, separator: [Grammar.Element] = []) -> Int {
        // Optional tail: up to `extra` more items (nil: any number), each after a separator.
        func tail(_ extra: Int?) -> Int {
            if let extra {
                var r = grammar.rule([[]])
                for _ in 0..<extra { r = grammar.rule([[], separator + item + [.rule(r)]]) }
                return r
            }
            let r = grammar.declare()
            grammar.define(r, [[], separator + item + [.rule(r)]])
            return r
        }
        if min == 0 {
            guard max != 0 else { return grammar.rule([[]]) }
            let rest = tail(max.map { $0 - 1 })
            return grammar.rule([[], item + [.rule(rest)]])
        }
        var seq = item
        for _ in 1..<min { seq += separator + item }
        return grammar.rule([seq + [.rule(tail(max.map { $0 - min }))]])
    }

    private mutating func stringRule(minLength: Int, maxLength: Int?) -> Int {
        let key = "string:\(minLength):\(maxLength ?? -1)"
        if let r = cache[key] { return r }
        let cont = ByteSet(ranges: [0x80...0xBF])
        let plain = ByteSet(ranges: [0x20...0x21, 0x23...0x5B, 0x5D...0x7F])
        let hex = ByteSet(ranges: [0x30...0x39, 0x41...0x46, 0x61...0x66])
        let char = grammar.rule([
            [.bytes(plain)],
            [.bytes(ByteSet(ranges: [0xC2...0xDF])), .bytes(cont)],
            [.bytes(ByteSet(ranges: [0xE0...0xEF])), .bytes(cont), .bytes(cont)],
            [.bytes(ByteSet(ranges: [0xF0...0xF4])), .bytes(cont), .bytes(cont), .bytes(cont)],
            [.bytes(ByteSet([0x5C])), .bytes(ByteSet(Array("\"\\/bfnrt".utf8)))],
            [.bytes(ByteSet([0x5C])), .bytes(ByteSet([0x75])), .bytes(hex), .bytes(hex), .bytes(hex), .bytes(hex)],
        ])
        let body = repeated([.rule(char)], min: minLength, max: maxLength)
        let r = grammar.rule([b("\"") + [.rule(body)] + b("\"")])
        cache[key] = r
        return r
    }

    private mutating func numberRule(integer: Bool) -> Int {
        let key = integer ? "integer" : "number"
        if let r = cache[key] { return r }
        let digit = ByteSet(ranges: [0x30...0x39])
        let digits = repeated([.bytes(digit)], min: 1, max: 16)
        let intPart = grammar.rule([b("0"), [.bytes(ByteSet(ranges: [0x31...0x39])), .rule(repeated([.bytes(digit)], min: 0, max: 15))]])
        let sign = grammar.rule([[], b("-")])
        var alts: [[Grammar.Element]] = [[.rule(sign), .rule(intPart)]]
        if !integer {
            let frac = grammar.rule([[], b(".") + [.rule(digits)]])
            let exp = grammar.rule([[], [.bytes(ByteSet(Array("eE".utf8))), .rule(grammar.rule([[], b("+"), b("-")])), .rule(digits)]])
            alts = [[.rule(sign), .rule(intPart), .rule(frac), .rule(exp)]]
        }
        let r = grammar.rule(alts)
        cache[key] = r
        return r
    }

    // MARK: - Numbers with bounds

    private func bound(_ o: JSONObject, _ key: String, _ path: String) throws(Unsupported) -> Double? {
        switch o[key] {
        case nil: return nil
        case .int(let i)?: return Double(i)
        case .double(let d)? where d.isFinite: return d
        default: throw Unsupported(keyword: "\(key) (a number)", path: path)
        }
    }

    /// A number between the schema's bounds. Integers are matched exactly; a number with a
    /// fraction is allowed where every fraction of its integer part stays inside the bounds
    /// (a little tighter than the schema near a fractional bound, never looser).
    private mutating func boundedNumber(_ o: JSONObject, integer: Bool, path: String) throws(Unsupported) -> Int? {
        let minimum = try bound(o, "minimum", path), maximum = try bound(o, "maximum", path)
        let exMin = try bound(o, "exclusiveMinimum", path), exMax = try bound(o, "exclusiveMaximum", path)
        guard minimum != nil || maximum != nil || exMin != nil || exMax != nil else { return nil }
        let limit = Double(Int(pow10(Self.maxDigits)) - 1)
        // The smallest and largest integers allowed.
        var lo = -limit, hi = limit
        if let m = minimum { lo = max(lo, m.rounded(.up)) }
        if let m = exMin { lo = max(lo, m.rounded(.down) + 1) }
        if let m = maximum { hi = min(hi, m.rounded(.down)) }
        if let m = exMax { hi = min(hi, m.rounded(.up) - 1) }
        guard lo <= hi else { throw Unsupported(keyword: "minimum/maximum (bounds that allow no number)", path: path) }
        var alts: [[Grammar.Element]] = intRange(Int(lo), Int(hi)).map { $0 }
        if !integer {
            // Integer parts k whose fractions all lie inside the bounds: [k, k+1) for k ≥ 0,
            // (k-1, k] for k < 0.
            let upper = min(maximum ?? limit, exMax ?? limit), lower = max(minimum ?? -limit, exMin ?? -limit)
            let digit = ByteSet(ranges: [0x30...0x39])
            let frac = b(".") + [.rule(repeated([.bytes(digit)], min: 1, max: Self.maxDigits))]
            let nonNegative = (max(0, lo), upper.rounded(.down) - 1), negative = (lower.rounded(.up) + 1, min(-1, hi))
            for (a, z) in [nonNegative, negative] where a <= z {
                for alt in intRange(Int(a), Int(z)) { alts.append(alt + frac) }
            }
            // "-0.f": (-1, 0).
            if lower <= -1 && hi >= 0 { alts.append(b("-0") + frac) }
        }
        return grammar.rule(alts)
    }

    private func pow10(_ n: Int) -> Double { (0..<n).reduce(1.0) { x, _ in x * 10 } }

    /// Alternatives matching exactly the integers lo…hi, written without leading zeros.
    private func intRange(_ lo: Int, _ hi: Int) -> [[Grammar.Element]] {
        var alts: [[Grammar.Element]] = []
        if lo < 0 {
            // Negative numbers: "-" and a magnitude in max(1, -hi)…-lo.
            for alt in magnitudes(max(1, -hi), -lo) { alts.append(b("-") + alt) }
        }
        if hi >= 0 { alts += magnitudes(max(0, lo), hi) }
        return alts
    }

    /// Digit patterns for the non-negative integers a…b.
    private func magnitudes(_ a: Int, _ b: Int) -> [[Grammar.Element]] {
        guard a <= b else { return [] }
        var alts: [[Grammar.Element]] = []
        let la = String(a).count, lb = String(b).count
        for length in la...lb {
            let from = length == la ? a : Int(pow10(length - 1))
            let to = length == lb ? b : Int(pow10(length)) - 1
            alts += sameLength(Array(String(from).utf8), Array(String(to).utf8))
        }
        return alts
    }

    /// Patterns for the numbers between two digit strings of one length.
    private func sameLength(_ x: [UInt8], _ y: [UInt8]) -> [[Grammar.Element]] {
        let any = ByteSet(ranges: [0x30...0x39])
        if x.count == 1 { return [[.bytes(ByteSet(ranges: [x[0]...y[0]]))]] }
        if x[0] == y[0] { return sameLength(Array(x.dropFirst()), Array(y.dropFirst())).map { [.bytes(ByteSet([x[0]]))] + $0 } }
        var alts = sameLength(Array(x.dropFirst()), Array(repeating: 0x39, count: x.count - 1)).map { [.bytes(ByteSet([x[0]]))] + $0 }
        if x[0] + 1 <= y[0] - 1 {
            alts.append([.bytes(ByteSet(ranges: [(x[0] + 1)...(y[0] - 1)]))] + Array(repeating: .bytes(any), count: x.count - 1))
        }
        alts += sameLength(Array(repeating: 0x30, count: x.count - 1), Array(y.dropFirst())).map { [.bytes(ByteSet([y[0]]))] + $0 }
        return alts
    }

    private mutating func literalRule(_ v: JSONValue) -> Int {
        grammar.rule([b(PythonJSON.dumps(v))])
    }

    /// Any JSON value.
    private mutating func anyValue() -> Int {
        if let r = cache["any"] { return r }
        let value = grammar.declare()
        cache["any"] = value
        let string = stringRule(minLength: 0, maxLength: nil)
        let member = [.rule(string), .rule(ws)] + b(":") + [.rule(ws), .rule(value)]
        let members = repeated(member, min: 0, max: nil, separator: [.rule(ws)] + b(",") + [.rule(ws)])
        let object = grammar.rule([b("{") + [.rule(ws), .rule(members), .rule(ws)] + b("}")])
        let items = repeated([.rule(value)], min: 0, max: nil, separator: [.rule(ws)] + b(",") + [.rule(ws)])
        let array = grammar.rule([b("[") + [.rule(ws), .rule(items), .rule(ws)] + b("]")])
        grammar.define(value, [[.rule(object)], [.rule(array)], [.rule(string)], [.rule(numberRule(integer: false))],
                               b("true"), b("false"), b("null")])
        return value
    }

    // MARK: - Schemas

    private func int(_ o: JSONObject, _ key: String, _ path: String) throws(Unsupported) -> Int? {
        guard let v = o[key] else { return nil }
        guard case .int(let i) = v, i >= 0, i <= Self.maxRepetition else { throw Unsupported(keyword: "\(key) (a whole number up to \(Self.maxRepetition))", path: path) }
        return i
    }

    private mutating func compile(_ schema: JSONValue, path: String) throws(Unsupported) -> Int {
        if schema == .bool(true) { return anyValue() }
        guard case .object(let o) = schema else { throw Unsupported(keyword: "a schema that is not an object", path: path) }
        for key in o.keys where !Self.keywords.contains(key) && !Self.annotations.contains(key) {
            throw Unsupported(keyword: key, path: path)
        }
        if case .string(let ref)? = o["$ref"] { return try reference(ref, path: path) }
        if let c = o["const"] { return literalRule(c) }
        if let e = o["enum"] {
            guard case .array(let values) = e, !values.isEmpty else { throw Unsupported(keyword: "enum (a non-empty array)", path: path) }
            return grammar.rule(values.map { [.rule(literalRule($0))] })
        }
        for key in ["anyOf", "oneOf"] {
            guard let v = o[key] else { continue }
            guard case .array(let subs) = v, !subs.isEmpty else { throw Unsupported(keyword: "\(key) (a non-empty array)", path: path) }
            var alts: [[Grammar.Element]] = []
            for (i, sub) in subs.enumerated() { alts.append([.rule(try compile(sub, path: "\(path)/\(key)/\(i)"))]) }
            return grammar.rule(alts)
        }
        switch o["type"] {
        case nil:
            if o["properties"] != nil { return try object(o, path: path) }
            return anyValue()
        case .string(let t)?:
            return try typed(t, o, path: path)
        case .array(let types)?:
            var alts: [[Grammar.Element]] = []
            for t in types {
                guard case .string(let name) = t else { throw Unsupported(keyword: "type (names of types)", path: path) }
                alts.append([.rule(try typed(name, o, path: path))])
            }
            return grammar.rule(alts)
        default:
            throw Unsupported(keyword: "type (a name or a list of names)", path: path)
        }
    }

    private mutating func typed(_ type: String, _ o: JSONObject, path: String) throws(Unsupported) -> Int {
        switch type {
        case "string": return stringRule(minLength: try int(o, "minLength", path) ?? 0, maxLength: try int(o, "maxLength", path))
        case "integer", "number":
            if let bounded = try boundedNumber(o, integer: type == "integer", path: path) { return bounded }
            return numberRule(integer: type == "integer")
        case "boolean": return grammar.rule([b("true"), b("false")])
        case "null": return grammar.rule([b("null")])
        case "array":
            containers += 1
            defer { containers -= 1 }
            let item = try o["items"].map { sub throws(Unsupported) in try compile(sub, path: "\(path)/items") } ?? anyValue()
            let lo = try int(o, "minItems", path) ?? 0, hi = try int(o, "maxItems", path)
            let items = repeated([.rule(item)], min: lo, max: hi, separator: [.rule(ws)] + b(",") + [.rule(ws)])
            return grammar.rule([b("[") + [.rule(ws), .rule(items), .rule(ws)] + b("]")])
        case "object": return try object(o, path: path)
        default: throw Unsupported(keyword: "type '\(type)'", path: path)
        }
    }

    private mutating func object(_ o: JSONObject, path: String) throws(Unsupported) -> Int {
        containers += 1
        defer { containers -= 1 }
        var props: [(String, JSONValue)] = []
        if let p = o["properties"] {
            guard case .object(let po) = p else { throw Unsupported(keyword: "properties (an object)", path: path) }
            props = po.pairs.map { ($0.key, $0.value) }
        }
        var required: Set<String> = []
        if case .array(let r)? = o["required"] { for v in r { if case .string(let s) = v { required.insert(s) } } }
        for name in required where !props.contains(where: { $0.0 == name }) {
            throw Unsupported(keyword: "required '\(name)' without a schema in properties", path: path)
        }
        let sep: [Grammar.Element] = [.rule(ws)] + b(",") + [.rule(ws)]
        let open: [Grammar.Element] = b("{") + [.rule(ws)], close: [Grammar.Element] = [.rule(ws)] + b("}")
        // A map: no declared properties, values of one schema.
        if props.isEmpty, let extra = o["additionalProperties"], extra != .bool(false) {
            let value = extra == .bool(true) ? anyValue() : try compile(extra, path: "\(path)/additionalProperties")
            let member = [.rule(stringRule(minLength: 0, maxLength: nil)), .rule(ws)] + b(":") + [.rule(ws), .rule(value)]
            return grammar.rule([open + [.rule(repeated(member, min: 0, max: nil, separator: sep))] + close])
        }
        if case .object? = o["additionalProperties"] {
            throw Unsupported(keyword: "additionalProperties (a schema) together with properties", path: path)
        }
        // Members in the declared order; optional ones may be left out. rest(i, first) reads
        // members i… with a comma before each but the first written.
        var members: [[Grammar.Element]] = []
        for (name, sub) in props {
            let value = try compile(sub, path: "\(path)/properties/\(name)")
            members.append([.rule(literalRule(.string(name))), .rule(ws)] + b(":") + [.rule(ws), .rule(value)])
        }
        var rest: [[Int]] = Array(repeating: [0, 0], count: props.count + 1)
        rest[props.count] = [grammar.rule([[]]), grammar.rule([[]])]
        for i in stride(from: props.count - 1, through: 0, by: -1) {
            for first in 0..<2 {
                let take = (first == 1 ? [] : sep) + members[i] + [.rule(rest[i + 1][0])]
                let alts: [[Grammar.Element]] = required.contains(props[i].0) ? [take] : [take, [.rule(rest[i + 1][first])]]
                rest[i][first] = grammar.rule(alts)
            }
        }
        return grammar.rule([open + [.rule(rest[0][1])] + close])
    }

    private mutating func reference(_ ref: String, path: String) throws(Unsupported) -> Int {
        if let started = compiling[ref], started == containers {
            throw Unsupported(keyword: "$ref '\(ref)' (it leads back to itself without any object or array in between)", path: path)
        }
        if let r = refs[ref] { return r }
        let parts = ref.split(separator: "/").map(String.init)
        guard parts.count == 3, parts[0] == "#", parts[1] == "$defs" || parts[1] == "definitions",
              let target = document[parts[1]]?[parts[2]] else {
            throw Unsupported(keyword: "$ref '\(ref)' (only #/$defs/NAME)", path: path)
        }
        // Declared before compiling, so a recursive reference finds it.
        let r = grammar.declare()
        refs[ref] = r
        compiling[ref] = containers
        defer { compiling[ref] = nil }
        let body = try compile(target, path: ref)
        grammar.define(r, [[.rule(body)]])
        return r
    }
}
