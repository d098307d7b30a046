import Foundation

/// Renders a parsed template. One per render; confined to the rendering thread.
final class Interpreter {
    let limits: TemplateLimits
    /// Seconds since 1970 for `strftime_now`.
    let now: Double
    private(set) var scopes: [[String: Value]]
    private var buffers: [Text] = [Text()]
    private var iterations = 0
    private var callDepth = 0
    private var outputBytes = 0
    /// The line of the statement being run, for error messages.
    var line = 0

    enum Flow { case normal, breakLoop, continueLoop }

    init(context: [String: Value], limits: TemplateLimits, now: Double) {
        self.limits = limits
        self.now = now
        self.scopes = [Builtins.globals, context]
    }

    func render(_ nodes: [Node]) throws(TemplateError) -> Text {
        _ = try exec(nodes)
        return buffers[0]
    }

    func fail(_ message: String) -> TemplateError { TemplateError(message, line: line) }

    // MARK: - Output

    private func write(_ t: Text) throws(TemplateError) {
        outputBytes += t.utf8Count
        guard outputBytes <= limits.maxOutputBytes else {
            throw fail("output exceeds \(limits.maxOutputBytes) bytes")
        }
        buffers[buffers.count - 1].append(t)
    }

    /// Runs `body` with output captured, and returns what it wrote.
    func capture(_ body: () throws(TemplateError) -> Void) throws(TemplateError) -> Text {
        buffers.append(Text())
        do {
            try body()
        } catch {
            buffers.removeLast()
            throw error
        }
        return buffers.removeLast()
    }

    // MARK: - Statements

    func exec(_ nodes: [Node]) throws(TemplateError) -> Flow {
        for node in nodes {
            let flow = try exec(node)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func exec(_ node: Node) throws(TemplateError) -> Flow {
        switch node {
        case .text(let s):
            try write(Text(s, trusted: true))
        case .output(let e, let l):
            line = l
            try write(text(of: try eval(e)))
        case .ifChain(let branches, let otherwise, let l):
            line = l
            for (cond, body) in branches where try eval(cond).truthy {
                return try exec(body)
            }
            return try exec(otherwise)
        case .forLoop(let loop):
            return try execFor(loop)
        case .set(let target, let e, let l):
            line = l
            try assign(target, try eval(e))
        case .setBlock(let target, let body, let filters, let l):
            var value = Value.string(try capture { () throws(TemplateError) in _ = try exec(body) })
            line = l
            for f in filters { value = try applyFilter(f, to: value) }
            try assign(target, value)
        case .macro(let def):
            scopes[scopes.count - 1][def.name] = .callable(makeMacro(def))
        case .callBlock(let call, let params, let body, let l):
            line = l
            guard case .call(let callee, let args, let kwargs, _) = call else { throw fail("invalid call block") }
            let saved = scopes
            let caller = Callable(name: "caller") { (args, kwargs, interp) throws(TemplateError) in
                try interp.invoke(params: params, args: args, kwargs: kwargs, body: body, scopes: saved, extra: [:], name: "caller")
            }
            let fn = try eval(callee)
            var evaluatedKwargs: [(String, Value)] = [("caller", .callable(caller))]
            for (k, e) in kwargs { evaluatedKwargs.append((k, try eval(e))) }
            var evaluatedArgs: [Value] = []
            for a in args { evaluatedArgs.append(try eval(a)) }
            try write(text(of: try callValue(fn, evaluatedArgs, evaluatedKwargs)))
        case .filterBlock(let filters, let body, let l):
            var value = Value.string(try capture { () throws(TemplateError) in _ = try exec(body) })
            line = l
            for f in filters { value = try applyFilter(f, to: value) }
            try write(text(of: value))
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        }
        return .normal
    }

    private func execFor(_ loop: ForLoop) throws(TemplateError) -> Flow {
        line = loop.line
        var items = try iterate(try eval(loop.iterable))
        if let cond = loop.condition {
            var kept: [Value] = []
            for item in items {
                scopes.append([:])
                try bind(loop.target, item)
                let keep = try eval(cond).truthy
                scopes.removeLast()
                if keep { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty { return try exec(loop.otherwise) }
        let n = items.count
        for (i, item) in items.enumerated() {
            iterations += 1
            guard iterations <= limits.maxIterations else { throw fail("more than \(limits.maxIterations) loop iterations") }
            var info = Dict()
            info["index"] = .int(i + 1)
            info["index0"] = .int(i)
            info["revindex"] = .int(n - i)
            info["revindex0"] = .int(n - i - 1)
            info["first"] = .bool(i == 0)
            info["last"] = .bool(i == n - 1)
            info["length"] = .int(n)
            info["depth"] = .int(1)
            info["depth0"] = .int(0)
            info["previtem"] = i > 0 ? items[i - 1] : .undefined("loop.previtem")
            info["nextitem"] = i < n - 1 ? items[i + 1] : .undefined("loop.nextitem")
            info["cycle"] = .callable(Callable(name: "cycle") { (args, _, interp) throws(TemplateError) in
                guard !args.isEmpty else { throw interp.fail("no items for cycling given") }
                return args[i % args.count]
            })
            scopes.append(["loop": .dict(info)])
            try bind(loop.target, item)
            let flow = try exec(loop.body)
            scopes.removeLast()
            if flow == .breakLoop { break }
        }
        return .normal
    }

    /// The items a `for` loop visits.
    func iterate(_ v: Value) throws(TemplateError) -> [Value] {
        switch v {
        case .list(let l), .tuple(let l): return l
        case .dict(let d): return d.keys.map { .untrusted($0) }
        case .string(let t): return t.string.map { t.derived(String($0)) }.map { .string($0) }
        case .undefined: return []
        case .namespace(let n): return n.values.keys.sorted().map { .trusted($0) }
        default: throw fail("'\(v.typeName)' object is not iterable")
        }
    }

    private func bind(_ target: Target, _ value: Value) throws(TemplateError) {
        switch target {
        case .name(let n):
            scopes[scopes.count - 1][n] = value
        case .tuple(let names):
            let items = try iterate(value)
            guard items.count == names.count else {
                throw fail("cannot unpack \(items.count) values into \(names.count) names")
            }
            for (n, v) in zip(names, items) { scopes[scopes.count - 1][n] = v }
        case .attribute:
            throw fail("cannot assign to an attribute here")
        }
    }

    private func assign(_ target: Target, _ value: Value) throws(TemplateError) {
        if case .attribute(let object, let attr) = target {
            guard case .namespace(let ns) = lookup(object) else {
                throw fail("cannot assign attribute on non-namespace object")
            }
            ns.values[attr] = value
            return
        }
        try bind(target, value)
    }

    func lookup(_ name: String) -> Value {
        for scope in scopes.reversed() {
            if let v = scope[name] { return v }
        }
        return .undefined(name)
    }

    // MARK: - Macros

    private func makeMacro(_ def: MacroDef) -> Callable {
        let definitionScopes = Array(scopes.prefix(2))
        return Callable(name: def.name) { (args, kwargs, interp) throws(TemplateError) in
            try interp.invoke(params: def.params, args: args, kwargs: kwargs, body: def.body,
                              scopes: definitionScopes, extra: [:], name: def.name)
        }
    }

    /// Runs a macro (or `caller`) body with its parameters bound; returns what it rendered.
    func invoke(params: [(String, Expr?)], args: [Value], kwargs: [(String, Value)], body: [Node],
                scopes base: [[String: Value]], extra: [String: Value], name: String) throws(TemplateError) -> Value {
        callDepth += 1
        defer { callDepth -= 1 }
        guard callDepth <= limits.maxDepth else { throw fail("macro calls nested deeper than \(limits.maxDepth)") }
        guard args.count <= params.count else { throw fail("macro '\(name)' takes \(params.count) arguments, got \(args.count)") }
        let saved = scopes
        let savedLine = line
        defer {
            scopes = saved
            line = savedLine
        }
        scopes = base
        var frame = extra
        var varargs: [Value] = []
        for (i, (pname, def)) in params.enumerated() {
            if i < args.count {
                frame[pname] = args[i]
            } else if let kw = kwargs.first(where: { $0.0 == pname }) {
                frame[pname] = kw.1
            } else if let def {
                scopes.append(frame)
                frame[pname] = try eval(def)
                scopes.removeLast()
            } else {
                frame[pname] = .undefined(pname)
            }
        }
        if args.count > params.count { varargs = Array(args[params.count...]) }
        frame["varargs"] = .list(varargs)
        var kw = Dict()
        for (k, v) in kwargs where !params.contains(where: { $0.0 == k }) { kw[k] = v }
        if let c = kw["caller"] { frame["caller"] = c; kw["caller"] = nil }
        frame["kwargs"] = .dict(kw)
        scopes.append(frame)
        let out = try capture { () throws(TemplateError) in _ = try exec(body) }
        return .string(out)
    }

    func callValue(_ fn: Value, _ args: [Value], _ kwargs: [(String, Value)]) throws(TemplateError) -> Value {
        switch fn {
        case .callable(let c): return try c.call(args, kwargs, self)
        case .undefined(let n): throw fail("'\(n)' is undefined")
        default: throw fail("'\(fn.typeName)' object is not callable")
        }
    }

    // MARK: - Expressions

    func eval(_ e: Expr) throws(TemplateError) -> Value {
        switch e {
        case .literal(let v): return v
        case .name(let n, _): return lookup(n)
        case .list(let items):
            var out: [Value] = []
            for i in items { out.append(try eval(i)) }
            return .list(out)
        case .tuple(let items):
            var out: [Value] = []
            for i in items { out.append(try eval(i)) }
            return .tuple(out)
        case .dict(let pairs):
            var d = Dict()
            for (k, v) in pairs {
                let key = try eval(k)
                guard case .string(let t) = key else { throw fail("dict keys must be strings") }
                d[t.string] = try eval(v)
            }
            return .dict(d)
        case .attribute(let base, let name, let l):
            line = l
            return try attribute(try eval(base), name)
        case .item(let base, let index, let l):
            line = l
            return try item(try eval(base), try eval(index))
        case .slice(let base, let a, let b, let c, let l):
            line = l
            return try slice(try eval(base), try a.map { (x) throws(TemplateError) in try eval(x) },
                             try b.map { (x) throws(TemplateError) in try eval(x) },
                             try c.map { (x) throws(TemplateError) in try eval(x) })
        case .call(let callee, let args, let kwargs, let l):
            let fn = try eval(callee)
            var a: [Value] = []
            for x in args { a.append(try eval(x)) }
            var k: [(String, Value)] = []
            for (n, x) in kwargs { k.append((n, try eval(x))) }
            line = l
            return try callValue(fn, a, k)
        case .filter(let base, let f):
            return try applyFilter(f, to: try eval(base))
        case .test(let base, let name, let args, let negated, let l):
            let v = try eval(base)
            var a: [Value] = []
            for x in args { a.append(try eval(x)) }
            line = l
            let r = try Builtins.test(name, v, a, self)
            return .bool(negated ? !r : r)
        case .unary(let op, let x, let l):
            let v = try eval(x)
            line = l
            switch (op, v) {
            case ("-", .int(let i)):
                guard i != .min else { throw fail("integer overflow in unary -") }
                return .int(-i)
            case ("-", .float(let d)): return .float(-d)
            case ("+", .int), ("+", .float): return v
            case ("-", .bool(let b)): return .int(b ? -1 : 0)
            default: throw operandError(op, v)
            }
        case .binary(let op, let a, let b, let l):
            let x = try eval(a), y = try eval(b)
            line = l
            return try Builtins.arithmetic(op, x, y, self)
        case .and(let a, let b):
            let x = try eval(a)
            return x.truthy ? try eval(b) : x
        case .or(let a, let b):
            let x = try eval(a)
            return x.truthy ? x : try eval(b)
        case .not(let a):
            return .bool(!(try eval(a)).truthy)
        case .compare(let first, let ops, let l):
            var left = try eval(first)
            for (op, rhs) in ops {
                let right = try eval(rhs)
                line = l
                guard try Builtins.compare(op, left, right, self) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .concat(let items, _):
            var t = Text()
            for i in items { t.append(text(of: try eval(i))) }
            return .string(t)
        case .conditional(let then, let test, let otherwise):
            if try eval(test).truthy { return try eval(then) }
            return try otherwise.map { (x) throws(TemplateError) in try eval(x) } ?? .undefined("conditional expression")
        }
    }

    func operandError(_ op: String, _ v: Value) -> TemplateError {
        if case .undefined(let n) = v { return fail("'\(n)' is undefined") }
        return fail("bad operand type for unary \(op): '\(v.typeName)'")
    }

    private func applyFilter(_ f: FilterCall, to v: Value) throws(TemplateError) -> Value {
        var args: [Value] = []
        for a in f.args { args.append(try eval(a)) }
        var kwargs: [(String, Value)] = []
        for (k, x) in f.kwargs { kwargs.append((k, try eval(x))) }
        line = f.line
        return try Builtins.filter(f.name, v, args, kwargs, self)
    }

    /// jinja2's `getattr`: a Python attribute (a method) first, then the item.
    func attribute(_ v: Value, _ name: String) throws(TemplateError) -> Value {
        switch v {
        case .undefined(let n): throw fail("'\(n)' is undefined")
        case .namespace(let ns): return ns.values[name] ?? .undefined(name)
        case .dict(let d):
            if let m = Builtins.method(of: v, name) { return m }
            return d[name] ?? .undefined(name)
        default:
            return Builtins.method(of: v, name) ?? .undefined(name)
        }
    }

    /// jinja2's `getitem`: the item first, then (for a string key) the attribute.
    func item(_ v: Value, _ key: Value) throws(TemplateError) -> Value {
        switch (v, key) {
        case (.undefined(let n), _): throw fail("'\(n)' is undefined")
        case (.dict(let d), .string(let k)):
            if let x = d[k.string] { return x }
            return Builtins.method(of: v, k.string) ?? .undefined(k.string)
        case (.list(let l), .int(let i)), (.tuple(let l), .int(let i)):
            let j = i < 0 ? l.count + i : i
            return (0..<l.count).contains(j) ? l[j] : .undefined("list index \(i)")
        case (.string(let t), .int(let i)):
            let chars = Array(t.string)
            let j = i < 0 ? chars.count + i : i
            return (0..<chars.count).contains(j) ? .string(t.derived(String(chars[j]))) : .undefined("string index \(i)")
        case (.namespace, .string(let k)):
            return try attribute(v, k.string)
        case (_, .string(let k)):
            return Builtins.method(of: v, k.string) ?? .undefined(k.string)
        default:
            return .undefined("item")
        }
    }

    private func slice(_ v: Value, _ a: Value?, _ b: Value?, _ c: Value?) throws(TemplateError) -> Value {
        func int(_ x: Value?) throws(TemplateError) -> Int? {
            switch x {
            case nil, .none?: return nil
            case .int(let i)?: return i
            default: throw fail("slice indices must be integers or None")
            }
        }
        let step = try int(c) ?? 1
        guard step != 0 else { throw fail("slice step cannot be zero") }
        func indices(_ count: Int) throws(TemplateError) -> [Int] {
            func clamp(_ x: Int?, _ def: Int, low: Int, high: Int) -> Int {
                guard var i = x else { return def }
                if i < 0 { i += count }
                return min(max(i, low), high)
            }
            var out: [Int] = []
            if step > 0 {
                var i = clamp(try int(a), 0, low: 0, high: count)
                let end = clamp(try int(b), count, low: 0, high: count)
                while i < end {
                    out.append(i)
                    let (next, overflow) = i.addingReportingOverflow(step)
                    if overflow { break }
                    i = next
                }
            } else {
                var i = clamp(try int(a), count - 1, low: -1, high: count - 1)
                let end = clamp(try int(b), -1, low: -1, high: count - 1)
                while i > end {
                    out.append(i)
                    let (next, overflow) = i.addingReportingOverflow(step)
                    if overflow { break }
                    i = next
                }
            }
            return out
        }
        switch v {
        case .list(let l): return .list(try indices(l.count).map { l[$0] })
        case .tuple(let l): return .tuple(try indices(l.count).map { l[$0] })
        case .string(let t):
            let chars = Array(t.string)
            return .string(t.derived(String(try indices(chars.count).map { chars[$0] })))
        case .undefined(let n): throw fail("'\(n)' is undefined")
        default: throw fail("'\(v.typeName)' object is not subscriptable")
        }
    }

    /// Python's `str()`, as text that keeps the trust of what it came from.
    func text(of v: Value) -> Text {
        switch v {
        case .string(let t): return t
        case .undefined: return Text()
        default: return Text(Builtins.str(v), trusted: !v.containsUntrusted)
        }
    }
}
