/// jinja2's tests (`x is defined`, `x is string`, …).
extension Builtins {
    static func test(_ name: String, _ v: Value, _ args: [Value], _ interp: Interpreter) throws(TemplateError) -> Bool {
        func other() throws(TemplateError) -> Value {
            guard let a = args.first else { throw interp.fail("test '\(name)' needs an argument") }
            return a
        }
        switch name {
        case "defined": return !v.isUndefined
        case "undefined": return v.isUndefined
        case "none": if case .none = v { return true } else { return false }
        case "boolean": if case .bool = v { return true } else { return false }
        case "true": if case .bool(true) = v { return true } else { return false }
        case "false": if case .bool(false) = v { return true } else { return false }
        case "string": if case .string = v { return true } else { return false }
        case "number":
            switch v {
            case .int, .float, .bool: return true
            default: return false
            }
        case "integer": if case .int = v { return true } else { return false }
        case "float": if case .float = v { return true } else { return false }
        case "mapping": if case .dict = v { return true } else { return false }
        case "sequence":
            switch v {
            case .list, .tuple, .string, .dict: return true
            default: return false
            }
        case "iterable":
            switch v {
            case .list, .tuple, .string, .dict, .undefined: return true
            default: return false
            }
        case "callable": if case .callable = v { return true } else { return false }
        case "odd", "even":
            guard case .int(let i) = v else { throw interp.fail("test '\(name)' expects an integer") }
            return (i % 2 != 0) == (name == "odd")
        case "divisibleby":
            guard case .int(let i) = v, case .int(let d) = try other(), d != 0 else { throw interp.fail("divisibleby expects integers") }
            return i % d == 0
        case "eq", "equalto", "==": return equal(v, try other())
        case "ne", "!=": return !equal(v, try other())
        case "lt", "lessthan", "<": return try less(v, try other(), "<", interp)
        case "gt", "greaterthan", ">": return try less(try other(), v, ">", interp)
        case "le", "<=": return try !less(try other(), v, "<=", interp)
        case "ge", ">=": return try !less(v, try other(), ">=", interp)
        case "in": return try contains(try other(), v, interp)
        case "sameas":
            let o = try other()
            switch (v, o) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "lower":
            guard case .string(let t) = v else { return false }
            return t.string == t.string.lowercased()
        case "upper":
            guard case .string(let t) = v else { return false }
            return t.string == t.string.uppercased()
        case "escaped": return false
        default: throw interp.fail("no test named '\(name)'")
        }
    }
}
