import JSON

/// A value inside a template, with Python's semantics where jinja2 borrows them.
public indirect enum Value: Sendable {
    /// jinja2's default `Undefined`: renders empty, is false, and fails when used further.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(Text)
    case list([Value])
    /// A Python tuple: a list that prints with parentheses (`('a', 1)`).
    case tuple([Value])
    case dict(Dict)
    case namespace(Namespace)
    case callable(Callable)

    public static func trusted(_ s: String) -> Value { .string(Text(s, trusted: true)) }
    public static func untrusted(_ s: String) -> Value { .string(Text(s, trusted: false)) }

    /// A value from client JSON: every string in it is untrusted.
    public init(json: JSONValue, trusted: Bool = false) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .int(let i): self = .int(i)
        case .double(let d): self = .float(d)
        case .string(let s): self = .string(Text(s, trusted: trusted))
        case .array(let a): self = .list(a.map { Value(json: $0, trusted: trusted) })
        case .object(let o):
            var d = Dict()
            for (k, v) in o.pairs { d[k] = Value(json: v, trusted: trusted) }
            self = .dict(d)
        }
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    /// Python truthiness.
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .float(let d): return d != 0
        case .string(let t): return !t.isEmpty
        case .list(let l), .tuple(let l): return !l.isEmpty
        case .dict(let d): return d.count > 0
        case .namespace, .callable: return true
        }
    }

    /// Whether any string inside came from the conversation.
    var containsUntrusted: Bool {
        switch self {
        case .string(let t): return !t.isTrusted
        case .list(let l), .tuple(let l): return l.contains { $0.containsUntrusted }
        case .dict(let d): return d.values.contains { $0.containsUntrusted }
        case .namespace(let n): return n.values.values.contains { $0.containsUntrusted }
        default: return false
        }
    }

    /// Python's type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .float: return "float"
        case .string: return "str"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }

    /// The value as JSON, for `tojson`.
    func json() throws(TemplateError) -> JSONValue {
        switch self {
        case .undefined(let name): throw TemplateError("'\(name)' is undefined")
        case .none: return .null
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .float(let d): return .double(d)
        case .string(let t): return .string(t.string)
        case .list(let l), .tuple(let l):
            var a: [JSONValue] = []
            for v in l { a.append(try v.json()) }
            return .array(a)
        case .dict(let d):
            var o = JSONObject()
            for (k, v) in d.pairs { o[k] = try v.json() }
            return .object(o)
        case .namespace(let n):
            var o = JSONObject()
            for k in n.values.keys.sorted() { o[k] = try n.values[k]!.json() }
            return .object(o)
        case .callable: throw TemplateError("Object of type function is not JSON serializable")
        }
    }
}

/// A Python dict with string keys, in insertion order.
public struct Dict: Sendable {
    private(set) var keys: [String] = []
    private var storage: [String: Value] = [:]

    public init() {}

    public var count: Int { keys.count }

    public subscript(key: String) -> Value? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    var pairs: [(String, Value)] { keys.map { ($0, storage[$0]!) } }
    var values: [Value] { keys.map { storage[$0]! } }
}

/// `namespace()`: the one mutable object templates use to carry state out of loops.
public final class Namespace: @unchecked Sendable {
    // Confined to the render that created it (one thread).
    var values: [String: Value] = [:]
    init(_ values: [String: Value]) { self.values = values }
}

/// A function a template can call: a built-in, a bound method, or a macro.
public struct Callable: @unchecked Sendable {
    let name: String
    let call: (_ args: [Value], _ kwargs: [(String, Value)], _ interpreter: Interpreter) throws(TemplateError) -> Value
}
