/// Finds special-token text in a prompt, the way llama.cpp's `tokenizer_st_partition` does:
/// tokens are taken longest text first, and each claims its leftmost non-overlapping
/// occurrences in the text that no longer token has claimed. A byte trie finds every
/// occurrence of every special token in one pass, so thousands of special tokens (Gemma has
/// over 6,000) cost no more than a few.
struct SpecialTokenMatcher: Sendable {
    /// Which special tokens may be recognized in a stretch of text.
    enum Mode: Sendable {
        /// None: text from a message's content, which must never become a control token.
        case none
        /// User-defined tokens only (llama.cpp's `parse_special = false`).
        case userDefined
        /// Control, unknown and user-defined tokens (a template's own markup).
        case all
    }

    private struct Node {
        var children: [UInt8: Int32] = [:]
        var token: Int32 = -1
    }

    private var nodes: [Node] = [Node()]
    /// Priority of each special token: its index in longest-first order.
    private let priority: [Int32: Int]
    private let attributes: [TokenAttributes]
    private let texts: [[UInt8]]

    init(vocabulary v: Vocabulary) {
        var priority: [Int32: Int] = [:]
        for (i, id) in v.specialTokens.enumerated() { priority[id] = i }
        self.priority = priority
        self.attributes = v.attributes
        var texts: [[UInt8]] = Array(repeating: [], count: v.count)
        for id in v.specialTokens {
            let bytes = Array(v.tokens[Int(id)].utf8)
            texts[Int(id)] = bytes
            var n = 0
            for b in bytes {
                if let c = nodes[n].children[b] {
                    n = Int(c)
                } else {
                    nodes.append(Node())
                    nodes[n].children[b] = Int32(nodes.count - 1)
                    n = nodes.count - 1
                }
            }
            if nodes[n].token < 0 { nodes[n].token = id }
        }
        self.texts = texts
    }

    /// A piece of the partitioned text: raw bytes to tokenize, or a special token.
    enum Fragment: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    /// Partitions `bytes`; `mode(i)` says which tokens may start at byte `i` (a match must
    /// also end inside the same stretch, which `allowed` checks).
    func partition(_ bytes: [UInt8], allowed: (Range<Int>, TokenAttributes) -> Bool) -> [Fragment] {
        if bytes.isEmpty { return [] }
        // Every occurrence of every special token: (priority, start, id).
        var found: [(priority: Int, start: Int, id: Int32)] = []
        for start in 0..<bytes.count {
            var n = 0
            var i = start
            while i < bytes.count, let c = nodes[n].children[bytes[i]] {
                n = Int(c)
                i += 1
                let id = nodes[n].token
                if id >= 0, allowed(start..<i, attributes[Int(id)]) { found.append((priority[id]!, start, id)) }
            }
        }
        if found.isEmpty { return [.text(0..<bytes.count)] }
        found.sort { ($0.priority, $0.start) < ($1.priority, $1.start) }

        // Claim occurrences in priority order; a claimed byte belongs to one token.
        var owner = [Int32](repeating: -1, count: bytes.count)  // token start index + 1 at each claimed byte
        var claimedStarts: [(start: Int, id: Int32)] = []
        var stripped = [Bool](repeating: false, count: bytes.count)
        for f in found {
            let r = f.start..<(f.start + texts[Int(f.id)].count)
            guard r.allSatisfy({ owner[$0] < 0 && !stripped[$0] }) else { continue }
            for k in r { owner[k] = Int32(f.start) }
            claimedStarts.append((f.start, f.id))
            // LSTRIP/RSTRIP tokens swallow adjacent ASCII whitespace of unclaimed text.
            let attr = attributes[Int(f.id)]
            if attr.contains(.lstrip) {
                var k = r.lowerBound - 1
                while k >= 0 && owner[k] < 0 && !stripped[k] && isASCIISpace(bytes[k]) { stripped[k] = true; k -= 1 }
            }
            if attr.contains(.rstrip) {
                var k = r.upperBound
                while k < bytes.count && owner[k] < 0 && !stripped[k] && isASCIISpace(bytes[k]) { stripped[k] = true; k += 1 }
            }
        }
        claimedStarts.sort { $0.start < $1.start }

        var fragments: [Fragment] = []
        var pos = 0
        func flushText(upTo end: Int) {
            var s = pos
            while s < end {
                while s < end && stripped[s] { s += 1 }
                var e = s
                while e < end && !stripped[e] { e += 1 }
                if e > s { fragments.append(.text(s..<e)) }
                s = e
            }
        }
        for c in claimedStarts {
            flushText(upTo: c.start)
            fragments.append(.token(c.id))
            pos = c.start + texts[Int(c.id)].count
        }
        flushText(upTo: bytes.count)
        return fragments
    }

    @inline(__always) private func isASCIISpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
}
