/// SentencePiece-style BPE by scores (llama.cpp `llm_tokenizer_spm_session`): the text, with
/// spaces spelled `▁`, starts as one symbol per UTF-8 character; the adjacent pair whose
/// concatenation is the vocabulary token with the highest score is merged (ties: leftmost)
/// until none is; a symbol that is not a token falls back to `<0xNN>` byte tokens.
struct SentencePiece: Sendable {
    let vocabulary: Vocabulary
    /// `<0xNN>` token of each byte, or the unknown token when absent.
    let byteTokens: [Int32]

    init(vocabulary v: Vocabulary) {
        vocabulary = v
        byteTokens = (0..<256).map { b in
            v.id(of: byteTokenText(UInt8(b))) ?? v.unk ?? 0
        }
    }

    private struct Bigram: Comparable {
        var left: Int32
        var right: Int32
        var score: Float
        var size: Int32
        /// Pop order: higher score first, then lower left index.
        static func < (a: Bigram, b: Bigram) -> Bool { a.score > b.score || (a.score == b.score && a.left < b.left) }
        static func == (a: Bigram, b: Bigram) -> Bool { a.score == b.score && a.left == b.left }
    }

    /// Appends the tokens of `text` (already escaped: spaces are `▁`).
    func encode(_ text: [UInt8], into out: inout [Int32]) {
        if text.isEmpty { return }
        // Symbols: one per UTF-8 character (a truncated sequence at the end is one symbol).
        var start: [Int] = [], len: [Int] = []
        var off = 0
        while off < text.count {
            let n = min(text.count - off, utf8Length(text[off]))
            start.append(off)
            len.append(n)
            off += n
        }
        let count = start.count
        var prev = Array(-1..<(count - 1))
        var next = Array(1...count)
        next[count - 1] = -1

        var heap = BinaryHeap<Bigram>()
        func push(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0 else { return }
            let size = len[l] + len[r]
            guard let id = lookup(text, start[l], size) else { return }
            heap.push(Bigram(left: Int32(l), right: Int32(r), score: vocabulary.scores[Int(id)], size: Int32(size)))
        }

        for i in 1..<max(count, 1) { push(i - 1, i) }
        while let b = heap.pop() {
            let l = Int(b.left), r = Int(b.right)
            // Outdated: one side was merged away, or grew (llama.cpp compares sizes only).
            guard len[l] > 0, len[r] > 0, len[l] + len[r] == Int(b.size) else { continue }
            len[l] += len[r]
            len[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[next[r]] = l }
            push(prev[l], l)
            push(l, next[l])
        }

        var i = 0
        while i >= 0 {
            if len[i] > 0 {
                if let id = lookup(text, start[i], len[i]) {
                    out.append(id)
                } else {
                    for k in start[i]..<(start[i] + len[i]) { out.append(byteTokens[Int(text[k])]) }
                }
            }
            i = next[i]
        }
    }

    @inline(__always) private func lookup(_ text: [UInt8], _ start: Int, _ count: Int) -> Int32? {
        vocabulary.tokenToID[Array(text[start..<(start + count)])]
    }
}

/// Bytes in the UTF-8 sequence that `lead` starts (1 for a stray continuation byte).
@inline(__always) func utf8Length(_ lead: UInt8) -> Int {
    switch lead >> 4 {
    case 0xC, 0xD: return 2
    case 0xE: return 3
    case 0xF: return 4
    default: return 1
    }
}

/// `<0xNN>`, the SentencePiece spelling of a byte-fallback token.
func byteTokenText(_ b: UInt8) -> String {
    let hex = Array("0123456789ABCDEF")
    return "<0x" + String(hex[Int(b >> 4)]) + String(hex[Int(b & 15)]) + ">"
}
