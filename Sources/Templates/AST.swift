/// The parsed template: statements (`Node`) holding expressions (`Expr`), each with the line
/// it came from for error messages.
indirect enum Node: Sendable {
    case text(String)
    case output(Expr, line: Int)
    case ifChain([(Expr, [Node])], otherwise: [Node], line: Int)
    case forLoop(ForLoop)
    case set(Target, Expr, line: Int)
    case setBlock(Target, body: [Node], filters: [FilterCall], line: Int)
    case macro(MacroDef)
    case callBlock(call: Expr, params: [(String, Expr?)], body: [Node], line: Int)
    case filterBlock([FilterCall], body: [Node], line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}

struct ForLoop: Sendable {
    var target: Target
    var iterable: Expr
    var condition: Expr?
    var body: [Node]
    var otherwise: [Node]
    var line: Int
}

struct MacroDef: Sendable {
    var name: String
    var params: [(String, Expr?)]
    var body: [Node]
    var line: Int
}

/// An assignment target: a name, `ns.attr`, or a tuple of names.
enum Target: Sendable {
    case name(String)
    case attribute(String, String)
    case tuple([String])
}

struct FilterCall: Sendable {
    var name: String
    var args: [Expr]
    var kwargs: [(String, Expr)]
    var line: Int
}

indirect enum Expr: Sendable {
    case literal(Value)
    case name(String, line: Int)
    case list([Expr])
    case tuple([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String, line: Int)
    case item(Expr, Expr, line: Int)
    case slice(Expr, Expr?, Expr?, Expr?, line: Int)
    case call(Expr, args: [Expr], kwargs: [(String, Expr)], line: Int)
    case filter(Expr, FilterCall)
    case test(Expr, name: String, args: [Expr], negated: Bool, line: Int)
    case unary(String, Expr, line: Int)
    case binary(String, Expr, Expr, line: Int)
    case and(Expr, Expr)
    case or(Expr, Expr)
    case not(Expr)
    case compare(Expr, [(String, Expr)], line: Int)
    case concat([Expr], line: Int)
    case conditional(then: Expr, test: Expr, otherwise: Expr?)
}
