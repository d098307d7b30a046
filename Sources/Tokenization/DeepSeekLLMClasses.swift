/// Character classes of the DeepSeek LLM and V3 pre-tokenizers, from the expressions in
/// their `tokenizer.json` (as llama.cpp lists them for `deepseek-llm` and `deepseek-v3`).
enum DeepSeekLLMClasses {
    /// `[A-Za-zµÀ-ÖØ-öø-ƺ…]`: Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee and other
    /// cased letters.
    static let letters = parse("A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u{1F7D}ᾀ-ᾴᾶ-ᾼ\u{1FBE}ῂ-ῄῆ-ῌῐ-\u{1FD3}ῖ-\u{1FDB}ῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u{2126}ℨ\u{212A}-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ\u{10400}-\u{1044F}𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃")
    /// `[!-/:-~！-／：-～‘-‟　-。]`
    static let punctuation = parse("!-/:-~！-／：-～‘-‟　-。")
    /// `[一-龥ࠀ-一가-퟿]`
    static let cjk = parse("一-龥ࠀ-一가-퟿")
    /// `[一-龥぀-ゟ゠-ヿ]` (DeepSeek V3)
    static let cjkKana = parse("一-龥぀-ゟ゠-ヿ")

    /// Parses the body of a bracket expression made of single characters and `a-b` ranges.
    static func parse(_ body: String) -> [ClosedRange<UInt32>] {
        let s = Array(body.unicodeScalars).map(\.value)
        var ranges: [ClosedRange<UInt32>] = []
        var i = 0
        while i < s.count {
            if i + 2 < s.count && s[i + 1] == 0x2D {
                ranges.append(s[i]...s[i + 2])
                i += 3
            } else {
                ranges.append(s[i]...s[i])
                i += 1
            }
        }
        return ranges
    }
}
