import GGUF

/// A stretch of prompt text and whether it may contain special tokens. A rendered chat
/// prompt is a list of these: the template's own markup is trusted, text that came from the
/// conversation is not, so a user who types `<|im_end|>` gets ordinary text tokens.
public struct PromptSegment: Equatable, Sendable {
    public var text: String
    public var trusted: Bool
    public init(_ text: String, trusted: Bool) {
        self.text = text
        self.trusted = trusted
    }
}

/// Text to token ids and back, for one model's vocabulary, exactly as llama.cpp tokenizes.
/// Immutable after init; safe to share across threads.
public final class Tokenizer: Sendable {
    public let vocabulary: Vocabulary
    public let preTokenizer: PreTokenizer
    private let bpe: BPEMerges?
    private let spm: SentencePiece?
    private let specials: SpecialTokenMatcher
    /// Whether a BPE piece that is itself a token skips the merges (Llama 3's tokenizer).
    private let ignoreMerges: Bool
    /// Each token's bytes as text (`token_to_piece` with special tokens rendered).
    private let pieces: [[UInt8]]

    public convenience init(file: GGUFFile) throws(TokenizerError) {
        try self.init(vocabulary: Vocabulary(file: file))
    }

    public init(vocabulary v: Vocabulary) throws(TokenizerError) {
        vocabulary = v
        preTokenizer = PreTokenizer(name: v.pre)
        specials = SpecialTokenMatcher(vocabulary: v)
        ignoreMerges = ["llama3", "llama-v3", "llama-bpe", "falcon3", "tekken"].contains(v.pre)
        switch v.model {
        case .gpt2:
            bpe = try BPEMerges(vocabulary: v)
            spm = nil
        case .llama:
            bpe = nil
            spm = SentencePiece(vocabulary: v)
        }
        pieces = (0..<v.count).map { Self.piece(of: $0, in: v) }
    }

    public var count: Int { vocabulary.count }

    // MARK: - Encoding

    /// Tokenizes `text` as `llama_tokenize` does: `addSpecial` adds BOS (and EOS) as the
    /// model says; `parseSpecial` lets control tokens' text become those tokens (user-defined
    /// tokens are recognized either way, as in llama.cpp).
    public func encode(_ text: String, addSpecial: Bool = false, parseSpecial: Bool = false) -> [Int32] {
        let bytes = Array(text.utf8)
        let fragments = specials.partition(bytes) { _, attr in
            parseSpecial || attr.contains(.userDefined)
        }
        return encode(bytes: bytes, fragments: fragments, addSpecial: addSpecial)
    }

    /// Tokenizes a rendered prompt: special tokens are recognized only wholly inside trusted
    /// segments; untrusted text is always plain text, even if it spells a special token.
    public func encode(_ segments: [PromptSegment], addSpecial: Bool = false) -> [Int32] {
        var bytes: [UInt8] = []
        var trustedRanges: [Range<Int>] = []
        for s in segments {
            let start = bytes.count
            bytes.append(contentsOf: s.text.utf8)
            if s.trusted && bytes.count > start { trustedRanges.append(start..<bytes.count) }
        }
        let fragments = specials.partition(bytes) { r, _ in
            trustedRanges.contains { $0.lowerBound <= r.lowerBound && r.upperBound <= $0.upperBound }
        }
        return encode(bytes: bytes, fragments: fragments, addSpecial: addSpecial)
    }

    private func encode(bytes: [UInt8], fragments: [SpecialTokenMatcher.Fragment], addSpecial: Bool) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(bytes.count / 3 + 2)
        if addSpecial && vocabulary.addBOS, let bos = vocabulary.bos { out.append(bos) }
        var cache: [[UInt8]: [Int32]] = [:]
        var previousWasSpecial = true  // SentencePiece: a space prefix at the start and after a special token
        for f in fragments {
            switch f {
            case .token(let id):
                out.append(id)
                previousWasSpecial = true
            case .text(let r):
                if let spm {
                    var escaped: [UInt8] = []
                    escaped.reserveCapacity(r.count + 3)
                    if vocabulary.addSpacePrefix && previousWasSpecial { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) }
                    for b in bytes[r] {
                        if b == 0x20 { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) } else { escaped.append(b) }
                    }
                    spm.encode(escaped, into: &out)
                } else if let bpe {
                    encodeBPE(Array(bytes[r]), bpe: bpe, cache: &cache, into: &out)
                }
                previousWasSpecial = false
            }
        }
        if addSpecial && vocabulary.addEOS, let eos = vocabulary.eos { out.append(eos) }
        return out
    }

    private func encodeBPE(_ bytes: [UInt8], bpe: BPEMerges, cache: inout [[UInt8]: [Int32]], into out: inout [Int32]) {
        // Code points and the byte offset where each starts.
        var cps: [UInt32] = []
        var offsets: [Int] = []
        cps.reserveCapacity(bytes.count)
        offsets.reserveCapacity(bytes.count + 1)
        var i = 0
        while i < bytes.count {
            let (cp, n) = decodeScalar(bytes, i)
            cps.append(cp)
            offsets.append(i)
            i += n
        }
        offsets.append(bytes.count)
        let pieces = cps.withUnsafeBufferPointer { preTokenizer.split($0) }
        bytes.withUnsafeBufferPointer { all in
            for p in pieces {
                let slice = UnsafeBufferPointer(rebasing: all[offsets[p.lowerBound]..<offsets[p.upperBound]])
                if slice.count <= 64, let hit = cache[Array(slice)] {
                    out.append(contentsOf: hit)
                    continue
                }
                let before = out.count
                if ignoreMerges, let whole = vocabulary.id(of: ByteLevel.spell(slice)) {
                    out.append(whole)
                } else {
                    bpe.encode(slice, into: &out)
                }
                if slice.count <= 64 { cache[Array(slice)] = Array(out[before...]) }
            }
        }
    }

    // MARK: - Decoding

    /// The bytes a token stands for. Control and unknown tokens give nothing unless
    /// `special` is set, when they give their own text.
    public func pieceBytes(_ id: Int32, special: Bool = false) -> [UInt8] {
        let attr = vocabulary.attributes[Int(id)]
        if !special && !attr.isDisjoint(with: [.control, .unknown]) { return [] }
        return pieces[Int(id)]
    }

    /// Whether `id` is a valid token id.
    public func contains(_ id: Int) -> Bool { id >= 0 && id < vocabulary.count }

    /// The text of `ids` (llama.cpp `llama_detokenize`): invalid UTF-8 becomes U+FFFD, and a
    /// SentencePiece vocabulary that adds a space prefix loses the first token's leading space.
    public func decode(_ ids: [Int32], special: Bool = false) throws(TokenizerError) -> String {
        var bytes: [UInt8] = []
        for (i, id) in ids.enumerated() {
            guard contains(Int(id)) else { throw .tokenOutOfRange(id: Int(id), vocabularySize: vocabulary.count) }
            var p = pieceBytes(id, special: special)
            if i == 0 && spm != nil && vocabulary.addSpacePrefix && p.first == 0x20 { p.removeFirst() }
            bytes.append(contentsOf: p)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func piece(of id: Int, in v: Vocabulary) -> [UInt8] {
        let text = v.tokens[id]
        let attr = v.attributes[id]
        switch v.model {
        case .gpt2:
            if !attr.isDisjoint(with: [.control, .unknown, .userDefined]) { return Array(text.utf8) }
            if attr.contains(.normal) {
                var out: [UInt8] = []
                for s in text.unicodeScalars {
                    if let b = ByteLevel.decode[s.value] { out.append(b) } else { out.append(contentsOf: Array(String(s).utf8)) }
                }
                return out
            }
            return []
        case .llama:
            if attr.contains(.byte), let b = parseByteToken(text) { return [b] }
            if attr.contains(.unknown) { return Array("\u{2585}".utf8) }
            if !attr.isDisjoint(with: [.normal, .userDefined]) {
                return unescapeSpaces(Array(text.utf8))
            }
            if attr.contains(.control) { return Array(text.utf8) }
            return []
        }
    }

    /// `<0xNN>` → NN
    static func parseByteToken(_ text: String) -> UInt8? {
        let u = Array(text.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }
}

/// Decodes one code point at `i` from UTF-8 that may be invalid; an invalid byte decodes to
/// U+FFFD and advances one byte (llama.cpp `unicode_cpts_from_utf8`).
@inline(__always) func decodeScalar(_ b: [UInt8], _ i: Int) -> (UInt32, Int) {
    let c0 = b[i]
    if c0 < 0x80 { return (UInt32(c0), 1) }
    let n = utf8Length(c0)
    guard n > 1, i + n <= b.count else { return (0xFFFD, 1) }
    var cp = UInt32(c0) & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07)
    for k in 1..<n {
        let c = b[i + k]
        guard c & 0xC0 == 0x80 else { return (0xFFFD, 1) }
        cp = cp << 6 | UInt32(c & 0x3F)
    }
    return (cp, n)
}

/// SentencePiece spells a space `▁` (U+2581, bytes E2 96 81); this turns it back.
func unescapeSpaces(_ b: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(b.count)
    var i = 0
    while i < b.count {
        if i + 2 < b.count && b[i] == 0xE2 && b[i + 1] == 0x96 && b[i + 2] == 0x81 {
            out.append(0x20)
            i += 3
        } else {
            out.append(b[i])
            i += 1
        }
    }
    return out
}
