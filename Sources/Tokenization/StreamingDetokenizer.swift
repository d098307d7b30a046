/// Turns generated token ids into text as they arrive, never emitting part of a UTF-8
/// sequence: bytes of an incomplete character wait for the next token; bytes that can never
/// form a character become U+FFFD. One per generated sequence; not shared across threads.
public struct StreamingDetokenizer {
    private let tokenizer: Tokenizer
    private let special: Bool
    private var pending: [UInt8] = []
    private var stripLeadingSpace: Bool

    /// `special`: render control tokens' text. `atStartOfText`: the first token begins the
    /// text, so a SentencePiece space prefix is removed (as `decode` does).
    public init(tokenizer: Tokenizer, special: Bool = false, atStartOfText: Bool = false) {
        self.tokenizer = tokenizer
        self.special = special
        self.stripLeadingSpace = atStartOfText && tokenizer.vocabulary.model == .llama && tokenizer.vocabulary.addSpacePrefix
    }

    /// Adds a token; returns the text that is now complete (possibly empty). `renderSpecial`
    /// renders this token's text even if it is a control token.
    public mutating func append(_ id: Int32, renderSpecial: Bool = false) throws(TokenizerError) -> String {
        guard tokenizer.contains(Int(id)) else { throw .tokenOutOfRange(id: Int(id), vocabularySize: tokenizer.count) }
        var piece = tokenizer.pieceBytes(id, special: special || renderSpecial)
        if stripLeadingSpace && !piece.isEmpty {
            if piece.first == 0x20 { piece.removeFirst() }
            stripLeadingSpace = false
        }
        pending.append(contentsOf: piece)
        let complete = Self.completePrefixLength(pending)
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// The text still held at the end of generation (an incomplete character becomes U+FFFD).
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// The length of the longest prefix of `b` that does not end inside a character that
    /// the next bytes could still complete.
    static func completePrefixLength(_ b: [UInt8]) -> Int {
        // Only the last three bytes can start an incomplete sequence.
        var i = b.count - 1
        let stop = max(0, b.count - 3)
        while i >= stop {
            let c = b[i]
            if c & 0xC0 == 0x80 { i -= 1; continue }  // continuation byte: look further back
            if c >= 0xC0 {
                let need = utf8Length(c)
                let have = b.count - i
                // Incomplete only if every byte so far is a continuation byte.
                if have < need && b[(i + 1)...].allSatisfy({ $0 & 0xC0 == 0x80 }) { return i }
            }
            return b.count
        }
        return b.count
    }
}
