/// A context-free grammar over bytes, and a recognizer that reads a document one byte at a
/// time, as llama.cpp's grammar sampler does: the state is a set of stacks of positions in
/// the rules, so alternatives are followed in parallel and nothing backtracks.
///
/// Rules must not be left-recursive (the JSON-schema compiler never makes them so).
struct Grammar: Sendable {
    /// What one position of a rule's alternative holds.
    enum Element: Sendable, Equatable {
        /// One byte from the set.
        case bytes(ByteSet)
        /// Any alternative of another rule.
        case rule(Int)
        /// The end of an alternative.
        case end
    }

    /// All alternatives of all rules, each followed by `.end`; a position is an index here.
    private(set) var elements: [Element] = []
    /// Each rule's alternatives, as positions of their first element.
    private(set) var rules: [[Int32]] = []

    /// A new, empty rule; fill it with `define`.
    mutating func declare() -> Int {
        rules.append([])
        return rules.count - 1
    }

    mutating func define(_ rule: Int, _ alternatives: [[Element]]) {
        for alt in alternatives {
            rules[rule].append(Int32(elements.count))
            elements.append(contentsOf: alt)
            elements.append(.end)
        }
    }

    mutating func rule(_ alternatives: [[Element]]) -> Int {
        let r = declare()
        define(r, alternatives)
        return r
    }

    /// A rule matching exactly `text`.
    mutating func literal(_ text: String) -> Int {
        rule([Array(text.utf8).map { .bytes(ByteSet([$0])) }])
    }
}

/// A set of bytes (256 bits).
struct ByteSet: Sendable, Equatable, Hashable {
    private var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

    init(_ bytes: [UInt8] = []) { for b in bytes { insert(b) } }

    init(ranges: [ClosedRange<UInt8>]) { for r in ranges { for b in r { insert(b) } } }

    mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    func union(_ o: ByteSet) -> ByteSet {
        var r = self
        r.words = (words.0 | o.words.0, words.1 | o.words.1, words.2 | o.words.2, words.3 | o.words.3)
        return r
    }

    static func == (a: ByteSet, b: ByteSet) -> Bool { a.words == b.words }
    func hash(into h: inout Hasher) { h.combine(words.0); h.combine(words.1); h.combine(words.2); h.combine(words.3) }
}

/// Where a grammar's reader is: the stacks still alive. An empty stack among them means the
/// document may end here.
struct GrammarState: Sendable, Hashable {
    fileprivate(set) var stacks: Set<[Int32]>

    /// The state before the first byte of a document of `root`.
    init(grammar g: Grammar, root: Int) {
        var out: Set<[Int32]> = []
        var seen: Set<[Int32]> = []
        for alt in g.rules[root] { GrammarState.expand([alt], g, into: &out, seen: &seen) }
        stacks = out
    }

    private init(stacks: Set<[Int32]>) { self.stacks = stacks }

    var isComplete: Bool { stacks.contains { $0.isEmpty } }
    var isDead: Bool { stacks.isEmpty }

    /// The bytes some stack can take next.
    func nextBytes(_ g: Grammar) -> ByteSet {
        var set = ByteSet()
        for s in stacks {
            if let top = s.last, case .bytes(let b) = g.elements[Int(top)] { set = set.union(b) }
        }
        return set
    }

    /// The state after `byte`, or nil when no stack can take it.
    func advanced(_ byte: UInt8, _ g: Grammar) -> GrammarState? {
        var out: Set<[Int32]> = []
        var seen: Set<[Int32]> = []
        for s in stacks {
            guard let top = s.last, case .bytes(let set) = g.elements[Int(top)], set.contains(byte) else { continue }
            var next = s
            next[next.count - 1] = top + 1
            GrammarState.expand(next, g, into: &out, seen: &seen)
        }
        return out.isEmpty ? nil : GrammarState(stacks: out)
    }

    func advanced(_ bytes: [UInt8], _ g: Grammar) -> GrammarState? {
        var s = self
        for b in bytes {
            guard let n = s.advanced(b, g) else { return nil }
            s = n
        }
        return s
    }

    /// Brings a stack to positions that read a byte: ends of alternatives pop, rule
    /// references push each of their alternatives. `seen` stops a rule that reaches itself
    /// without reading a byte (left recursion) from looping.
    private static func expand(_ stack: [Int32], _ g: Grammar, into out: inout Set<[Int32]>, seen: inout Set<[Int32]>) {
        guard seen.insert(stack).inserted else { return }
        guard let top = stack.last else {
            out.insert(stack)
            return
        }
        switch g.elements[Int(top)] {
        case .bytes:
            out.insert(stack)
        case .end:
            expand(Array(stack.dropLast()), g, into: &out, seen: &seen)
        case .rule(let r):
            var base = stack
            base[base.count - 1] = top + 1
            // A reference as the last element of an alternative is a tail call: nothing to return to.
            if case .end = g.elements[Int(top + 1)] { base.removeLast() }
            guard base.count < 4096 else { return }  // nesting beyond any sane document
            for alt in g.rules[r] { expand(base + [alt], g, into: &out, seen: &seen) }
        }
    }
}
