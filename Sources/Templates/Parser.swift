/// Builds the syntax tree from the lexer's tokens, with jinja2's grammar and precedence:
/// conditional < or < and < not < comparisons < `+ -` < `~` < `* / // %` < `**` < unary,
/// then postfix (`.attr`, `[item]`, calls) and filters/tests.
struct Parser {
    private let tokens: [Lexer.Token]
    private var p = 0
    private var depth = 0
    private let maxDepth: Int

    init(tokens: [Lexer.Token], maxDepth: Int) {
        self.tokens = tokens
        self.maxDepth = maxDepth
    }

    static func parse(_ source: String, limits: TemplateLimits) throws(TemplateError) -> [Node] {
        var parser = Parser(tokens: try Lexer.tokenize(source), maxDepth: limits.maxDepth)
        let (nodes, end) = try parser.parseBody(until: [])
        if let end { throw TemplateError("unexpected '\(end)'", line: parser.line) }
        return nodes
    }

    private var current: Lexer.Kind { tokens[p].kind }
    private var line: Int { tokens[p].line }

    private mutating func next() -> Lexer.Token {
        let t = tokens[p]
        if p < tokens.count - 1 { p += 1 }
        return t
    }

    private func isOp(_ op: String) -> Bool { current == .op(op) }
    private func isName(_ n: String) -> Bool { current == .name(n) }

    private mutating func expectOp(_ op: String) throws(TemplateError) {
        guard isOp(op) else { throw TemplateError("expected '\(op)', got \(describe(current))", line: line) }
        _ = next()
    }

    private mutating func expect(_ kind: Lexer.Kind, _ what: String) throws(TemplateError) {
        guard current == kind else { throw TemplateError("expected \(what), got \(describe(current))", line: line) }
        _ = next()
    }

    private mutating func expectName() throws(TemplateError) -> String {
        guard case .name(let n) = current else { throw TemplateError("expected a name, got \(describe(current))", line: line) }
        _ = next()
        return n
    }

    private func describe(_ k: Lexer.Kind) -> String {
        switch k {
        case .text: return "text"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .varBegin: return "'{{'"
        case .varEnd: return "'}}'"
        case .name(let n): return "'\(n)'"
        case .string(let s): return "string \(s.debugDescription)"
        case .int(let i): return "\(i)"
        case .float(let d): return "\(d)"
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }

    // MARK: - Statements

    /// Parses nodes until a block tag whose keyword is in `until`; returns that keyword (the
    /// tag's remaining tokens are left for the caller).
    private mutating func parseBody(until: Set<String>) throws(TemplateError) -> ([Node], String?) {
        var nodes: [Node] = []
        while true {
            switch current {
            case .eof:
                if !until.isEmpty {
                    throw TemplateError("unexpected end of template, expected one of \(until.sorted().joined(separator: ", "))", line: line)
                }
                return (nodes, nil)
            case .text(let t):
                _ = next()
                nodes.append(.text(t))
            case .varBegin:
                let l = line
                _ = next()
                let e = try parseExpression()
                try expect(.varEnd, "'}}'")
                nodes.append(.output(e, line: l))
            case .blockBegin:
                let l = line
                _ = next()
                let keyword = try expectName()
                if until.contains(keyword) { return (nodes, keyword) }
                nodes.append(try parseStatement(keyword, line: l))
            default:
                throw TemplateError("unexpected \(describe(current))", line: line)
            }
        }
    }

    private mutating func endTag() throws(TemplateError) { try expect(.blockEnd, "'%}'") }

    private mutating func parseStatement(_ keyword: String, line l: Int) throws(TemplateError) -> Node {
        switch keyword {
        case "if":
            var branches: [(Expr, [Node])] = []
            var cond = try parseExpression()
            try endTag()
            while true {
                let (body, end) = try parseBody(until: ["elif", "else", "endif"])
                branches.append((cond, body))
                switch end {
                case "elif":
                    cond = try parseExpression()
                    try endTag()
                case "else":
                    try endTag()
                    let (otherwise, _) = try parseBody(until: ["endif"])
                    try endTag()
                    return .ifChain(branches, otherwise: otherwise, line: l)
                default:
                    try endTag()
                    return .ifChain(branches, otherwise: [], line: l)
                }
            }
        case "for":
            let target = try parseTarget(allowAttribute: false)
            guard isName("in") else { throw TemplateError("expected 'in' in for loop", line: line) }
            _ = next()
            let iterable = try parseConditionalFree()
            var condition: Expr?
            if isName("if") {
                _ = next()
                condition = try parseConditionalFree()
            }
            if isName("recursive") { throw TemplateError("recursive loops are not supported", line: line) }
            try endTag()
            let (body, end) = try parseBody(until: ["else", "endfor"])
            var otherwise: [Node] = []
            try endTag()
            if end == "else" {
                (otherwise, _) = try parseBody(until: ["endfor"])
                try endTag()
            }
            return .forLoop(ForLoop(target: target, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: l))
        case "set":
            let target = try parseTarget(allowAttribute: true)
            if isOp("=") {
                _ = next()
                let value = try parseTupleOrExpression()
                try endTag()
                return .set(target, value, line: l)
            }
            var filters: [FilterCall] = []
            while isOp("|") {
                _ = next()
                filters.append(try parseFilterCall())
            }
            try endTag()
            let (body, _) = try parseBody(until: ["endset"])
            try endTag()
            return .setBlock(target, body: body, filters: filters, line: l)
        case "macro":
            let name = try expectName()
            let params = try parseParams()
            try endTag()
            let (body, _) = try parseBody(until: ["endmacro"])
            if case .name = current { _ = next() }  // {% endmacro name %}
            try endTag()
            return .macro(MacroDef(name: name, params: params, body: body, line: l))
        case "call":
            var params: [(String, Expr?)] = []
            if isOp("(") { params = try parseParams() }
            let call = try parseExpression()
            guard case .call = call else { throw TemplateError("expected a macro call after 'call'", line: l) }
            try endTag()
            let (body, _) = try parseBody(until: ["endcall"])
            try endTag()
            return .callBlock(call: call, params: params, body: body, line: l)
        case "filter":
            var filters = [try parseFilterCall()]
            while isOp("|") {
                _ = next()
                filters.append(try parseFilterCall())
            }
            try endTag()
            let (body, _) = try parseBody(until: ["endfilter"])
            try endTag()
            return .filterBlock(filters, body: body, line: l)
        case "generation":
            // transformers' {% generation %} marks assistant text; it renders its body.
            try endTag()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try endTag()
            return .ifChain([(.literal(.bool(true)), body)], otherwise: [], line: l)
        case "break":
            try endTag()
            return .breakLoop(line: l)
        case "continue":
            try endTag()
            return .continueLoop(line: l)
        default:
            throw TemplateError("unknown or unsupported tag '\(keyword)'", line: l)
        }
    }

    private mutating func parseParams() throws(TemplateError) -> [(String, Expr?)] {
        try expectOp("(")
        var params: [(String, Expr?)] = []
        while !isOp(")") {
            let name = try expectName()
            var def: Expr?
            if isOp("=") {
                _ = next()
                def = try parseExpression()
            }
            params.append((name, def))
            if !isOp(")") { try expectOp(",") }
        }
        _ = next()
        return params
    }

    private mutating func parseTarget(allowAttribute: Bool) throws(TemplateError) -> Target {
        let first = try expectName()
        if allowAttribute && isOp(".") {
            _ = next()
            return .attribute(first, try expectName())
        }
        var names = [first]
        var parenthesized = false
        while isOp(",") {
            _ = next()
            if case .name = current { names.append(try expectName()) } else { break }
            parenthesized = true
        }
        return names.count == 1 && !parenthesized ? .name(first) : .tuple(names)
    }

    // MARK: - Expressions

    mutating func parseTupleOrExpression() throws(TemplateError) -> Expr {
        let first = try parseExpression()
        guard isOp(",") else { return first }
        var items = [first]
        while isOp(",") {
            _ = next()
            if isOp(")") || current == .blockEnd || current == .varEnd { break }
            items.append(try parseExpression())
        }
        return .tuple(items)
    }

    mutating func parseExpression() throws(TemplateError) -> Expr {
        depth += 1
        defer { depth -= 1 }
        guard depth < maxDepth else { throw TemplateError("expression nested too deeply", line: line) }
        let then = try parseOr()
        guard isName("if") else { return then }
        _ = next()
        let test = try parseOr()
        var otherwise: Expr?
        if isName("else") {
            _ = next()
            otherwise = try parseExpression()
        }
        return .conditional(then: then, test: test, otherwise: otherwise)
    }

    /// An expression without a trailing `if` (for-loop headers use `if` for filtering).
    mutating func parseConditionalFree() throws(TemplateError) -> Expr { try parseOr() }

    private mutating func parseOr() throws(TemplateError) -> Expr {
        var left = try parseAnd()
        while isName("or") {
            _ = next()
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws(TemplateError) -> Expr {
        var left = try parseNot()
        while isName("and") {
            _ = next()
            left = .and(left, try parseNot())
        }
        return left
    }

    private mutating func parseNot() throws(TemplateError) -> Expr {
        if isName("not") {
            _ = next()
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    private mutating func parseCompare() throws(TemplateError) -> Expr {
        let l = line
        let left = try parseMath1()
        var ops: [(String, Expr)] = []
        while true {
            if case .op(let o) = current, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                _ = next()
                ops.append((o, try parseMath1()))
            } else if isName("in") {
                _ = next()
                ops.append(("in", try parseMath1()))
            } else if isName("not"), p + 1 < tokens.count, tokens[p + 1].kind == .name("in") {
                _ = next(); _ = next()
                ops.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? left : .compare(left, ops, line: l)
    }

    private mutating func parseMath1() throws(TemplateError) -> Expr {
        var left = try parseConcat()
        while case .op(let o) = current, o == "+" || o == "-" {
            let l = line
            _ = next()
            left = .binary(o, left, try parseConcat(), line: l)
        }
        return left
    }

    private mutating func parseConcat() throws(TemplateError) -> Expr {
        let l = line
        var items = [try parseMath2()]
        while isOp("~") {
            _ = next()
            items.append(try parseMath2())
        }
        return items.count == 1 ? items[0] : .concat(items, line: l)
    }

    private mutating func parseMath2() throws(TemplateError) -> Expr {
        var left = try parsePow()
        while case .op(let o) = current, ["*", "/", "//", "%"].contains(o) {
            let l = line
            _ = next()
            left = .binary(o, left, try parsePow(), line: l)
        }
        return left
    }

    private mutating func parsePow() throws(TemplateError) -> Expr {
        var left = try parseUnary(withFilter: true)
        while isOp("**") {
            let l = line
            _ = next()
            left = .binary("**", left, try parseUnary(withFilter: true), line: l)
        }
        return left
    }

    private mutating func parseUnary(withFilter: Bool) throws(TemplateError) -> Expr {
        let l = line
        var node: Expr
        if isOp("-") || isOp("+") {
            guard case .op(let o) = next().kind else { preconditionFailure() }
            node = .unary(o, try parseUnary(withFilter: false), line: l)
        } else {
            node = try parsePostfix(try parsePrimary())
        }
        if withFilter { node = try parseFilterExpr(node) }
        return node
    }

    private mutating func parsePrimary() throws(TemplateError) -> Expr {
        let l = line
        let t = next()
        switch t.kind {
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n, line: l)
            }
        case .string(var s):
            while case .string(let more) = current {  // adjacent literals concatenate
                s += more
                _ = next()
            }
            return .literal(.trusted(s))
        case .int(let i): return .literal(.int(i))
        case .float(let d): return .literal(.float(d))
        case .op("("):
            if isOp(")") {
                _ = next()
                return .tuple([])
            }
            let e = try parseTupleOrExpression()
            try expectOp(")")
            return e
        case .op("["):
            var items: [Expr] = []
            while !isOp("]") {
                items.append(try parseExpression())
                if !isOp("]") { try expectOp(",") }
            }
            _ = next()
            return .list(items)
        case .op("{"):
            var pairs: [(Expr, Expr)] = []
            while !isOp("}") {
                let k = try parseExpression()
                try expectOp(":")
                pairs.append((k, try parseExpression()))
                if !isOp("}") { try expectOp(",") }
            }
            _ = next()
            return .dict(pairs)
        default:
            throw TemplateError("unexpected \(describe(t.kind))", line: l)
        }
    }

    private mutating func parsePostfix(_ base: Expr) throws(TemplateError) -> Expr {
        var node = base
        while true {
            let l = line
            if isOp(".") {
                _ = next()
                if case .int(let i) = current {  // foo.0
                    _ = next()
                    node = .item(node, .literal(.int(i)), line: l)
                } else {
                    node = .attribute(node, try expectName(), line: l)
                }
            } else if isOp("[") {
                _ = next()
                node = try parseSubscript(node, line: l)
            } else if isOp("(") {
                let (args, kwargs) = try parseCallArgs()
                node = .call(node, args: args, kwargs: kwargs, line: l)
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ base: Expr, line l: Int) throws(TemplateError) -> Expr {
        var parts: [Expr?] = [nil]
        var isSlice = false
        while !isOp("]") {
            if isOp(":") {
                _ = next()
                isSlice = true
                parts.append(nil)
                continue
            }
            parts[parts.count - 1] = try parseExpression()
        }
        _ = next()
        if !isSlice {
            guard let index = parts[0] else { throw TemplateError("empty subscript", line: l) }
            return .item(base, index, line: l)
        }
        guard parts.count <= 3 else { throw TemplateError("invalid slice", line: l) }
        return .slice(base, parts[0], parts.count > 1 ? parts[1] : nil, parts.count > 2 ? parts[2] : nil, line: l)
    }

    private mutating func parseCallArgs() throws(TemplateError) -> ([Expr], [(String, Expr)]) {
        try expectOp("(")
        var args: [Expr] = []
        var kwargs: [(String, Expr)] = []
        while !isOp(")") {
            if case .name(let n) = current, p + 1 < tokens.count, tokens[p + 1].kind == .op("=") {
                _ = next(); _ = next()
                kwargs.append((n, try parseExpression()))
            } else {
                args.append(try parseExpression())
            }
            if !isOp(")") { try expectOp(",") }
        }
        _ = next()
        return (args, kwargs)
    }

    private mutating func parseFilterCall() throws(TemplateError) -> FilterCall {
        let l = line
        var name = try expectName()
        while isOp(".") {  // dotted filter names
            _ = next()
            name += "." + (try expectName())
        }
        var args: [Expr] = []
        var kwargs: [(String, Expr)] = []
        if isOp("(") { (args, kwargs) = try parseCallArgs() }
        return FilterCall(name: name, args: args, kwargs: kwargs, line: l)
    }

    private mutating func parseFilterExpr(_ base: Expr) throws(TemplateError) -> Expr {
        var node = base
        while true {
            if isOp("|") {
                _ = next()
                node = .filter(node, try parseFilterCall())
            } else if isName("is") {
                let l = line
                _ = next()
                var negated = false
                if isName("not") {
                    _ = next()
                    negated = true
                }
                var name: String
                switch current {
                case .name(let n): name = n; _ = next()
                case .op(let o) where ["==", "!=", "<", ">", "<=", ">="].contains(o): name = o; _ = next()
                default: throw TemplateError("expected a test name after 'is'", line: l)
                }
                if name == "none" || name == "None" { name = "none" }
                var args: [Expr] = []
                if isOp("(") {
                    let (a, _) = try parseCallArgs()
                    args = a
                } else if startsPrimary() && !isName("and") && !isName("or") && !isName("else") && !isName("if") {
                    // `x is divisibleby 3`, `x is sameas none`
                    args = [try parsePostfix(try parsePrimary())]
                }
                node = .test(node, name: name, args: args, negated: negated, line: l)
            } else if isOp("(") {
                let l = line
                let (args, kwargs) = try parseCallArgs()
                node = .call(node, args: args, kwargs: kwargs, line: l)
            } else {
                return node
            }
        }
    }

    private func startsPrimary() -> Bool {
        switch current {
        case .name(let n): return !["in", "not", "is"].contains(n)
        case .string, .int, .float: return true
        case .op(let o): return o == "[" || o == "{"
        default: return false
        }
    }
}
