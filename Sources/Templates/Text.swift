/// A string that remembers which of its parts came from the conversation (untrusted) and
/// which from the template itself (trusted). Concatenation, `join` and `trim` keep the parts;
/// any other transformation of text that mixes both marks the result untrusted, so text a
/// client sent can never be promoted into special-token markup.
public struct Text: Sendable, Equatable {
    public struct Part: Sendable, Equatable {
        public var string: String
        public var trusted: Bool
    }

    public private(set) var parts: [Part]

    public init() { parts = [] }

    public init(_ s: String, trusted: Bool) {
        parts = s.isEmpty ? [] : [Part(string: s, trusted: trusted)]
    }

    public var string: String { parts.count == 1 ? parts[0].string : parts.map(\.string).joined() }
    public var isEmpty: Bool { parts.isEmpty }
    public var utf8Count: Int { parts.reduce(0) { $0 + $1.string.utf8.count } }
    /// True when every part is trusted (an empty text is trusted).
    public var isTrusted: Bool { parts.allSatisfy(\.trusted) }

    public mutating func append(_ other: Text) {
        for p in other.parts {
            if let last = parts.last, last.trusted == p.trusted {
                parts[parts.count - 1].string += p.string
            } else {
                parts.append(p)
            }
        }
    }

    public static func + (a: Text, b: Text) -> Text {
        var r = a
        r.append(b)
        return r
    }

    /// The result of transforming this text into `s`: trusted only if all of this was.
    public func derived(_ s: String) -> Text { Text(s, trusted: isTrusted) }

    /// Strips whitespace (or `chars`) at either end, part by part, keeping each part's trust.
    public func stripped(leading: Bool = true, trailing: Bool = true, chars: Set<Unicode.Scalar>? = nil) -> Text {
        let strip: (Unicode.Scalar) -> Bool = { u in chars.map { $0.contains(u) } ?? u.properties.isWhitespace }
        var ps = parts
        if leading {
            while let first = ps.first {
                let kept = String(String.UnicodeScalarView(first.string.unicodeScalars.drop(while: strip)))
                if kept.isEmpty { ps.removeFirst() } else { ps[0].string = kept; break }
            }
        }
        if trailing {
            while let last = ps.last {
                var scalars = Array(last.string.unicodeScalars)
                while let u = scalars.last, strip(u) { scalars.removeLast() }
                if scalars.isEmpty { ps.removeLast() } else {
                    ps[ps.count - 1].string = String(String.UnicodeScalarView(scalars))
                    break
                }
            }
        }
        var r = Text()
        r.parts = ps
        return r
    }
}

extension String {
    /// Python string equality: code point by code point (Swift's `==` would also equate
    /// canonically equivalent strings such as "é" and "e\u{301}").
    func pyEquals(_ other: String) -> Bool { unicodeScalars.elementsEqual(other.unicodeScalars) }

    /// Python string ordering: by code point.
    func pyLess(_ other: String) -> Bool {
        unicodeScalars.lexicographicallyPrecedes(other.unicodeScalars)
    }
}
