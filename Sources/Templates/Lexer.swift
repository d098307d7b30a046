/// Splits a template into text and tag tokens with jinja2's whitespace rules as transformers
/// configures them: `trim_blocks` (the newline after a block or comment tag goes),
/// `lstrip_blocks` (spaces and tabs before a block or comment tag on its own line go),
/// `{%-`/`-%}` (all whitespace on that side goes), `+` to opt out, `{% raw %}`, and no
/// trailing newline at the end of the template (`keep_trailing_newline=False`).
struct Lexer {
    enum Kind: Equatable {
        case text(String)
        case blockBegin, blockEnd, varBegin, varEnd
        case name(String)
        case string(String)
        case int(Int)
        case float(Double)
        case op(String)
        case eof
    }

    struct Token {
        var kind: Kind
        var line: Int
    }

    private let s: [Unicode.Scalar]
    private var i = 0
    private var line = 1
    private var tokens: [Token] = []
    private var pending: [Unicode.Scalar] = []
    private var pendingLine = 1
    private var stripNextText = false

    init(_ source: String) {
        var src = source.replacingCRLF()
        if src.hasSuffix("\n") { src.removeLast() }
        s = Array(src.unicodeScalars)
    }

    static func tokenize(_ source: String) throws(TemplateError) -> [Token] {
        var l = Lexer(source)
        try l.run()
        return l.tokens
    }

    private func at(_ k: Int) -> Unicode.Scalar? { k < s.count ? s[k] : nil }
    private func starts(_ text: String, at k: Int) -> Bool {
        var j = k
        for u in text.unicodeScalars {
            guard j < s.count, s[j] == u else { return false }
            j += 1
        }
        return true
    }

    private mutating func advance(_ n: Int = 1) {
        for _ in 0..<n {
            if i < s.count && s[i] == "\n" { line += 1 }
            i += 1
        }
    }

    private mutating func flushText() {
        if stripNextText {
            while let f = pending.first, f.properties.isWhitespace { pending.removeFirst() }
        }
        if !pending.isEmpty {
            tokens.append(Token(kind: .text(String(String.UnicodeScalarView(pending))), line: pendingLine))
        }
        pending = []
        stripNextText = false
    }

    private mutating func stripPendingTrailingWhitespace() {
        while let l = pending.last, l.properties.isWhitespace { pending.removeLast() }
    }

    /// lstrip_blocks: drop spaces and tabs before a tag that starts its line.
    private mutating func lstripBeforeTag(at tagStart: Int) {
        var k = tagStart - 1
        var n = 0
        while k >= 0 && (s[k] == " " || s[k] == "\t") { k -= 1; n += 1 }
        guard k < 0 || s[k] == "\n" else { return }
        pending.removeLast(min(n, pending.count))
    }

    private mutating func run() throws(TemplateError) {
        pendingLine = line
        while i < s.count {
            guard s[i] == "{", let next = at(i + 1), next == "{" || next == "%" || next == "#" else {
                if pending.isEmpty { pendingLine = line }
                pending.append(s[i])
                advance()
                continue
            }
            let tagStart = i
            let tagLine = line
            let modifier = at(i + 2)
            let stripBefore = modifier == "-"
            let keepBefore = modifier == "+"
            if stripBefore {
                stripPendingTrailingWhitespace()
            } else if !keepBefore && next != "{" {
                lstripBeforeTag(at: tagStart)
            }
            advance(2 + ((stripBefore || keepBefore) ? 1 : 0))

            switch next {
            case "#":
                flushText()
                try skipComment(from: tagLine)
            case "%":
                if let raw = try rawBlock() {
                    flushText()
                    if !raw.isEmpty { tokens.append(Token(kind: .text(raw), line: tagLine)) }
                    continue
                }
                flushText()
                tokens.append(Token(kind: .blockBegin, line: tagLine))
                try tagBody(end: "%}", endKind: .blockEnd, trims: true)
            default:
                flushText()
                tokens.append(Token(kind: .varBegin, line: tagLine))
                try tagBody(end: "}}", endKind: .varEnd, trims: false)
            }
            pendingLine = line
        }
        flushText()
        tokens.append(Token(kind: .eof, line: line))
    }

    /// After a tag's closing delimiter: `-` strips what follows, trim_blocks eats a newline.
    private mutating func afterTag(stripAfter: Bool, keepAfter: Bool, trims: Bool) {
        if stripAfter {
            stripNextText = true
        } else if trims && !keepAfter && at(i) == "\n" {
            advance()
        }
    }

    private mutating func skipComment(from tagLine: Int) throws(TemplateError) {
        while i < s.count {
            if s[i] == "#" && at(i + 1) == "}" {
                let stripAfter = i > 0 && s[i - 1] == "-"
                let keepAfter = i > 0 && s[i - 1] == "+"
                advance(2)
                afterTag(stripAfter: stripAfter, keepAfter: keepAfter, trims: true)
                return
            }
            advance()
        }
        throw TemplateError("unterminated comment", line: tagLine)
    }

    /// `{% raw %}…{% endraw %}`: returns the raw text, or nil when this tag is not `raw`.
    private mutating func rawBlock() throws(TemplateError) -> String? {
        var k = i
        while let u = at(k), u == " " || u == "\t" || u == "\n" { k += 1 }
        guard starts("raw", at: k) else { return nil }
        k += 3
        while let u = at(k), u == " " || u == "\t" || u == "\n" { k += 1 }
        var stripInside = false
        if at(k) == "-" { stripInside = true; k += 1 }
        guard starts("%}", at: k) else { return nil }
        let startLine = line
        advance(k + 2 - i)
        if !stripInside && at(i) == "\n" { advance() }  // trim_blocks
        let contentStart = i
        while i < s.count {
            if s[i] == "{" && at(i + 1) == "%" {
                var j = i + 2
                let stripBefore = at(j) == "-"
                if stripBefore || at(j) == "+" { j += 1 }
                while let u = at(j), u == " " || u == "\t" || u == "\n" { j += 1 }
                if starts("endraw", at: j) {
                    j += 6
                    while let u = at(j), u == " " || u == "\t" || u == "\n" { j += 1 }
                    let stripAfter = at(j) == "-"
                    if stripAfter { j += 1 }
                    if starts("%}", at: j) {
                        var content = Array(s[contentStart..<i])
                        if stripInside { while let f = content.first, f.properties.isWhitespace { content.removeFirst() } }
                        if stripBefore { while let l = content.last, l.properties.isWhitespace { content.removeLast() } } else {
                            // lstrip_blocks before {% endraw %}
                            var n = 0
                            var k2 = content.count - 1
                            while k2 >= 0 && (content[k2] == " " || content[k2] == "\t") { k2 -= 1; n += 1 }
                            if k2 < 0 || content[k2] == "\n" { content.removeLast(n) }
                        }
                        advance(j + 2 - i)
                        afterTag(stripAfter: stripAfter, keepAfter: false, trims: true)
                        return String(String.UnicodeScalarView(content))
                    }
                }
            }
            advance()
        }
        throw TemplateError("unterminated raw block", line: startLine)
    }

    /// Tokens of an expression or statement up to its closing delimiter.
    private mutating func tagBody(end: String, endKind: Kind, trims: Bool) throws(TemplateError) {
        let startLine = line
        while i < s.count {
            let u = s[i]
            if u == " " || u == "\t" || u == "\n" || u == "\r" { advance(); continue }
            if (u == "-" || u == "+") && starts(end, at: i + 1) {
                advance(1 + end.unicodeScalars.count)
                tokens.append(Token(kind: endKind, line: line))
                afterTag(stripAfter: u == "-", keepAfter: u == "+", trims: trims)
                return
            }
            if starts(end, at: i) {
                advance(end.unicodeScalars.count)
                tokens.append(Token(kind: endKind, line: line))
                afterTag(stripAfter: false, keepAfter: false, trims: trims)
                return
            }
            let tokLine = line
            if u == "'" || u == "\"" {
                tokens.append(Token(kind: .string(try stringLiteral(quote: u)), line: tokLine))
            } else if u.properties.numericType != nil && u.isASCII {
                tokens.append(Token(kind: number(), line: tokLine))
            } else if u == "_" || (u.isASCII && u.properties.isAlphabetic) {
                var name = ""
                while let c = at(i), c == "_" || (c.isASCII && (c.properties.isAlphabetic || c.properties.numericType != nil)) {
                    name.unicodeScalars.append(c)
                    advance()
                }
                tokens.append(Token(kind: .name(name), line: tokLine))
            } else {
                var matched = false
                for op in ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|", "="] where starts(op, at: i) {
                    tokens.append(Token(kind: .op(op), line: tokLine))
                    advance(op.unicodeScalars.count)
                    matched = true
                    break
                }
                if !matched { throw TemplateError("unexpected character \(String(u).debugDescription)", line: tokLine) }
            }
        }
        throw TemplateError("unexpected end of template, expected '\(end)'", line: startLine)
    }

    private mutating func number() -> Kind {
        var text = ""
        var isFloat = false
        func digits() {
            while let c = at(i), (c.isASCII && c.properties.numericType != nil) || c == "_" {
                if c != "_" { text.unicodeScalars.append(c) }
                advance()
            }
        }
        digits()
        if at(i) == ".", let d = at(i + 1), d.isASCII, d.properties.numericType != nil {
            isFloat = true
            text += "."
            advance()
            digits()
        }
        if let e = at(i), e == "e" || e == "E" {
            var j = i + 1
            if let sgn = at(j), sgn == "+" || sgn == "-" { j += 1 }
            if let d = at(j), d.isASCII, d.properties.numericType != nil {
                isFloat = true
                text += "e"
                advance()
                if let sgn = at(i), sgn == "+" || sgn == "-" { text.unicodeScalars.append(sgn); advance() }
                digits()
            }
        }
        if !isFloat, let v = Int(text) { return .int(v) }
        return .float(Double(text) ?? .infinity)
    }

    /// A Python string literal with its escapes.
    private mutating func stringLiteral(quote: Unicode.Scalar) throws(TemplateError) -> String {
        let startLine = line
        advance()
        var out = String.UnicodeScalarView()
        while i < s.count {
            let c = s[i]
            if c == quote { advance(); return String(out) }
            if c == "\\", let e = at(i + 1) {
                advance(2)
                switch e {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "0": out.append("\0")
                case "\\": out.append("\\")
                case "'": out.append("'")
                case "\"": out.append("\"")
                case "\n": break
                case "x", "u", "U":
                    let n = e == "x" ? 2 : e == "u" ? 4 : 8
                    var hex = ""
                    for _ in 0..<n { if let h = at(i) { hex.unicodeScalars.append(h); advance() } }
                    guard hex.count == n, let v = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(v) else {
                        throw TemplateError("invalid \\\(e) escape in string", line: line)
                    }
                    out.append(scalar)
                default:
                    out.append("\\")
                    out.append(e)
                }
                continue
            }
            out.append(c)
            advance()
        }
        throw TemplateError("unterminated string", line: startLine)
    }
}

extension String {
    /// jinja2 normalizes newlines in the template source to "\n".
    func replacingCRLF() -> String {
        guard contains("\r") else { return self }
        var out = String.UnicodeScalarView()
        var prevCR = false
        for u in unicodeScalars {
            if u == "\r" {
                out.append("\n")
                prevCR = true
                continue
            }
            if u == "\n" && prevCR { prevCR = false; continue }
            prevCR = false
            out.append(u)
        }
        return String(out)
    }
}
