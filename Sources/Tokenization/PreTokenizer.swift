/// Splits text into the pieces that byte-level BPE merges within, as llama.cpp does for each
/// `tokenizer.ggml.pre` (`llm_tokenizer_bpe` and `unicode.cpp`). Written by hand: each
/// regular expression of the reference is one matcher below, and a pre-tokenizer applies its
/// matchers in turn, each splitting the pieces the previous one left (matches and the text
/// between them both become pieces).
public struct PreTokenizer: Sendable {
    /// A matcher returns the length of the match that starts at `pos`, or 0 for none.
    /// `end` is the end of the piece being split: lookaheads and `$` see only the piece.
    typealias Matcher = @Sendable (_ cps: UnsafeBufferPointer<UInt32>, _ pos: Int, _ end: Int) -> Int

    let stages: [Matcher]
    public let name: String

    /// The pre-tokenizer for a `tokenizer.ggml.pre` value; unknown names fall back to
    /// llama.cpp's default, as llama.cpp does.
    public init(name: String) {
        self.name = name
        switch name {
        case "llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe":
            stages = [Self.llama3(maxDigits: 3)]
        case "qwen2", "deepseek-r1-qwen", "stablelm2", "megrez", "hunyuan", "grok-2":
            stages = [Self.llama3(maxDigits: 1)]
        case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es", "jina-v2-de",
             "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais", "trillion":
            stages = [Self.gpt2]
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            stages = [Self.run(of: .number, max: 1), Self.gpt2]
        case "deepseek-llm":
            stages = [Self.oneOf([0x0D, 0x0A]), Self.optionalSpaceThen(DeepSeekLLMClasses.letters),
                      Self.optionalSpaceThen(DeepSeekLLMClasses.punctuation), Self.trailingWhitespace,
                      Self.runIn(DeepSeekLLMClasses.cjk), Self.run(of: .number, max: .max)]
        case "deepseek-v3", "hunyuan-dense":
            stages = [Self.run(of: .number, max: 3), Self.runIn(DeepSeekLLMClasses.cjkKana), Self.deepseekV3]
        default:
            stages = [Self.runOf { $0.contains(.punctuation) || [0x24, 0x2B, 0x3C, 0x3D, 0x3E, 0x5E, 0x7E, 0x7C].contains($1) },
                      Self.gpt2, Self.run(of: .number, max: .max), Self.asciiDigits3]
        }
    }

    /// Splits `cps` into pieces, returned as half-open ranges of code point indices.
    public func split(_ cps: UnsafeBufferPointer<UInt32>) -> [Range<Int>] {
        var pieces: [Range<Int>] = cps.isEmpty ? [] : [0..<cps.count]
        for stage in stages {
            var next: [Range<Int>] = []
            next.reserveCapacity(pieces.count * 2)
            for piece in pieces {
                var gapStart = piece.lowerBound
                var pos = piece.lowerBound
                while pos < piece.upperBound {
                    let n = stage(cps, pos, piece.upperBound)
                    if n > 0 {
                        if gapStart < pos { next.append(gapStart..<pos) }
                        next.append(pos..<(pos + n))
                        pos += n
                        gapStart = pos
                    } else {
                        pos += 1
                    }
                }
                if gapStart < piece.upperBound { next.append(gapStart..<piece.upperBound) }
            }
            pieces = next
        }
        return pieces
    }

    // MARK: - Matchers

    @inline(__always) static func flags(_ cps: UnsafeBufferPointer<UInt32>, _ i: Int, _ end: Int) -> CodepointFlags {
        i < end ? CodepointFlags.of(cps[i]) : []
    }

    @inline(__always) static func lower(_ c: UInt32) -> UInt32 { (c >= 0x41 && c <= 0x5A) ? c + 32 : c }

    /// `'s|'t|'re|'ve|'m|'ll|'d`, case-insensitive when asked.
    @inline(__always) static func contraction(_ cps: UnsafeBufferPointer<UInt32>, _ pos: Int, _ end: Int, ignoreCase: Bool) -> Int {
        guard cps[pos] == 0x27, pos + 1 < end else { return 0 }
        let a = ignoreCase ? lower(cps[pos + 1]) : cps[pos + 1]
        if a == 0x73 || a == 0x74 || a == 0x6D || a == 0x64 { return 2 }  // s t m d
        guard pos + 2 < end else { return 0 }
        let b = ignoreCase ? lower(cps[pos + 2]) : cps[pos + 2]
        if (a == 0x72 && b == 0x65) || (a == 0x76 && b == 0x65) || (a == 0x6C && b == 0x6C) { return 3 }  // re ve ll
        return 0
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)` (GPT-2);
    /// what none of these match becomes a piece of one code point (llama.cpp's custom split).
    static let gpt2: Matcher = { cps, pos, end in
        let c = contraction(cps, pos, end, ignoreCase: false)
        if c > 0 { return c }
        let cp = cps[pos]
        let f = flags(cps, pos, end)
        let f2 = cp == 0x20 ? flags(cps, pos + 1, end) : f
        var p = pos
        if f2.isLetter {
            if cp == 0x20 { p += 1 }
            while flags(cps, p, end).isLetter { p += 1 }
            return p - pos
        }
        if f2.isNumber {
            if cp == 0x20 { p += 1 }
            while flags(cps, p, end).isNumber { p += 1 }
            return p - pos
        }
        if !f2.isWhitespace && !f2.isLetter && !f2.isNumber && f2.contains(.assigned) {
            if cp == 0x20 { p += 1 }
            while true {
                let g = flags(cps, p, end)
                guard !g.isWhitespace && !g.isLetter && !g.isNumber && g.contains(.assigned) else { break }
                p += 1
            }
            return p - pos
        }
        var ws = 0
        while flags(cps, pos + ws, end).isWhitespace { ws += 1 }
        if ws > 1 && pos + ws < end { return ws - 1 }  // \s+(?!\S): leave the last space to the next word
        if ws > 0 { return ws }
        return 1
    }

    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}|
    /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` (Llama 3 with 3 digits, Qwen 2 with 1).
    static func llama3(maxDigits: Int) -> Matcher {
        return { cps, pos, end in
            let c = contraction(cps, pos, end, ignoreCase: true)
            if c > 0 { return c }
            let cp = cps[pos]
            let f = flags(cps, pos, end)
            var p = pos
            if !(cp == 0x0D || cp == 0x0A || f.isNumber) {
                if f.isLetter || flags(cps, pos + 1, end).isLetter {
                    p += 1
                    while flags(cps, p, end).isLetter { p += 1 }
                    return p - pos
                }
            }
            if f.isNumber {
                while p < end && p - pos < maxDigits && flags(cps, p, end).isNumber { p += 1 }
                return p - pos
            }
            let f2 = cp == 0x20 ? flags(cps, pos + 1, end) : f
            if !f2.isWhitespace && !f2.isLetter && !f2.isNumber && f.contains(.assigned) {
                if cp == 0x20 { p += 1 }
                while true {
                    let g = flags(cps, p, end)
                    guard !g.isWhitespace && !g.isLetter && !g.isNumber && g.contains(.assigned) else { break }
                    p += 1
                }
                while p < end && (cps[p] == 0x0D || cps[p] == 0x0A) { p += 1 }
                return p - pos
            }
            return whitespaceTail(cps, pos, end, orSingle: true)
        }
    }

    /// DeepSeek V3's last expression: `[!-/:-@[-`{-~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
    /// ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    static let deepseekV3: Matcher = { cps, pos, end in
        @inline(__always) func isASCIILetter(_ c: UInt32) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
        @inline(__always) func isASCIIPunct(_ c: UInt32) -> Bool {
            (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E)
        }
        let cp = cps[pos]
        if isASCIIPunct(cp), pos + 1 < end, isASCIILetter(cps[pos + 1]) {
            var p = pos + 1
            while p < end && isASCIILetter(cps[p]) { p += 1 }
            return p - pos
        }
        let letterOrMark: CodepointFlags = [.letter, .mark]
        let f = flags(cps, pos, end)
        // [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+ (the optional class may take a mark, then backtrack).
        if !(cp == 0x0D || cp == 0x0A) && f.isDisjoint(with: [.letter, .punctuation, .symbol]) {
            var p = pos + 1
            while p < end && !flags(cps, p, end).isDisjoint(with: letterOrMark) { p += 1 }
            if p > pos + 1 { return p - pos }
        }
        if !f.isDisjoint(with: letterOrMark) {
            var p = pos
            while p < end && !flags(cps, p, end).isDisjoint(with: letterOrMark) { p += 1 }
            return p - pos
        }
        let ps: CodepointFlags = [.punctuation, .symbol]
        var p = pos
        if cp == 0x20 { p += 1 }
        if p < end && !flags(cps, p, end).isDisjoint(with: ps) {
            while p < end && !flags(cps, p, end).isDisjoint(with: ps) { p += 1 }
            while p < end && (cps[p] == 0x0D || cps[p] == 0x0A) { p += 1 }
            return p - pos
        }
        return whitespaceTail(cps, pos, end, orSingle: false)
    }

    /// `\s*[\r\n]+|\s+(?!\S)|\s+`, the last alternatives of the Llama 3 family's expression;
    /// with `orSingle`, what none matches is a piece of one code point (llama.cpp's hand-written
    /// split); without, it is left to the gap between matches (its regular-expression path).
    @inline(__always) static func whitespaceTail(_ cps: UnsafeBufferPointer<UInt32>, _ pos: Int, _ end: Int, orSingle: Bool) -> Int {
        var ws = 0
        var lastNewlineEnd = 0
        while flags(cps, pos + ws, end).isWhitespace {
            if cps[pos + ws] == 0x0D || cps[pos + ws] == 0x0A { lastNewlineEnd = ws + 1 }
            ws += 1
        }
        if lastNewlineEnd > 0 { return lastNewlineEnd }
        if ws > 1 && pos + ws < end { return ws - 1 }  // leave the last space to the next word
        return orSingle ? max(ws, 1) : ws
    }

    /// A run of code points with `flag`, at most `max` long (`\p{N}`, `\p{N}+`, `\p{N}{1,3}`).
    static func run(of flag: CodepointFlags, max: Int) -> Matcher {
        return { cps, pos, end in
            var p = pos
            while p < end && p - pos < max && CodepointFlags.of(cps[p]).contains(flag) { p += 1 }
            return p - pos
        }
    }

    /// A run of code points satisfying a predicate of their flags and value.
    static func runOf(_ test: @escaping @Sendable (CodepointFlags, UInt32) -> Bool) -> Matcher {
        return { cps, pos, end in
            var p = pos
            while p < end && test(CodepointFlags.of(cps[p]), cps[p]) { p += 1 }
            return p - pos
        }
    }

    /// `[0-9][0-9][0-9]`
    static let asciiDigits3: Matcher = { cps, pos, end in
        guard pos + 3 <= end else { return 0 }
        for i in pos..<(pos + 3) where !(cps[i] >= 0x30 && cps[i] <= 0x39) { return 0 }
        return 3
    }

    /// A single code point from a set, as `[\r\n]`.
    static func oneOf(_ set: Set<UInt32>) -> Matcher {
        return { cps, pos, _ in set.contains(cps[pos]) ? 1 : 0 }
    }

    /// Whether `c` is in a bracket expression matched by llama.cpp's `std::wregex` path, which
    /// first replaces non-ASCII whitespace by U+000B: such whitespace is never in a class.
    @inline(__always) static func inClass(_ ranges: [ClosedRange<UInt32>], _ c: UInt32) -> Bool {
        if c > 0x7F && CodepointFlags.of(c).isWhitespace { return false }
        return ranges.contains(where: { $0.contains(c) })
    }

    /// `[ranges]+`
    static func runIn(_ ranges: [ClosedRange<UInt32>]) -> Matcher {
        return { cps, pos, end in
            var p = pos
            while p < end && inClass(ranges, cps[p]) { p += 1 }
            return p - pos
        }
    }

    /// `\s?[ranges]+`
    static func optionalSpaceThen(_ ranges: [ClosedRange<UInt32>]) -> Matcher {
        return { cps, pos, end in
            @inline(__always) func inSet(_ c: UInt32) -> Bool { inClass(ranges, c) }
            var p = pos
            if CodepointFlags.of(cps[p]).isWhitespace && p + 1 < end && inSet(cps[p + 1]) { p += 1 }
            let start = p
            while p < end && inSet(cps[p]) { p += 1 }
            return p > start ? p - pos : 0
        }
    }

    /// `\s+$`: whitespace that runs to the end of the piece.
    static let trailingWhitespace: Matcher = { cps, pos, end in
        var p = pos
        while p < end && CodepointFlags.of(cps[p]).isWhitespace { p += 1 }
        return (p == end && p > pos) ? p - pos : 0
    }
}
