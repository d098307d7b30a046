import GGUF

/// Token attributes (llama.cpp `llama_token_attr`), from `tokenizer.ggml.token_type`.
public struct TokenAttributes: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let undefined = TokenAttributes([])
    public static let unknown = TokenAttributes(rawValue: 1 << 0)
    public static let unused = TokenAttributes(rawValue: 1 << 1)
    public static let normal = TokenAttributes(rawValue: 1 << 2)
    public static let control = TokenAttributes(rawValue: 1 << 3)
    public static let userDefined = TokenAttributes(rawValue: 1 << 4)
    public static let byte = TokenAttributes(rawValue: 1 << 5)
    /// Strip whitespace to the left (right) of the token when splitting special tokens out.
    public static let lstrip = TokenAttributes(rawValue: 1 << 7)
    public static let rstrip = TokenAttributes(rawValue: 1 << 8)

    /// GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    init(ggufType: Int) {
        switch ggufType {
        case 1: self = .normal
        case 2: self = .unknown
        case 3: self = .control
        case 4: self = .userDefined
        case 5: self = .unused
        case 6: self = .byte
        default: self = .undefined
        }
    }
}

/// The tokenizer algorithm (`tokenizer.ggml.model`).
public enum TokenizerModel: String, Sendable {
    /// Byte-level BPE (GPT-2, Llama 3, Qwen, DeepSeek, SmolLM).
    case gpt2
    /// SentencePiece BPE with scores and byte fallback (Llama 2, Mistral, Gemma, Phi-3).
    case llama
}

/// A model's vocabulary and tokenizer settings, read from GGUF metadata the way llama.cpp
/// reads them (`llama_vocab::load`), including its fix-ups of special-token types.
public struct Vocabulary: Sendable {
    public let model: TokenizerModel
    /// `tokenizer.ggml.pre`, the pre-tokenizer name for byte-level BPE.
    public let pre: String
    public let tokens: [String]
    public let scores: [Float]
    public private(set) var attributes: [TokenAttributes]
    public let merges: [String]
    /// Token text → id, keyed by UTF-8 bytes: Swift's String equality is canonical
    /// equivalence, which would take U+037E for ";" and "é" for "e\u{301}".
    public let tokenToID: [[UInt8]: Int32]

    public let bos: Int32?
    public let eos: Int32?
    public let eot: Int32?
    public let unk: Int32?
    public let pad: Int32?
    public let addBOS: Bool
    public let addEOS: Bool
    public let addSpacePrefix: Bool
    /// Tokens that end generation: EOS, EOT and the end markers llama.cpp recognizes by text.
    public let endOfGeneration: Set<Int32>
    /// Control, user-defined and unknown tokens, longest text first (llama.cpp `cache_special_tokens`).
    public let specialTokens: [Int32]

    public var count: Int { tokens.count }

    public init(file: GGUFFile) throws(TokenizerError) {
        func wrap<T>(_ body: () throws(GGUFError) -> T) throws(TokenizerError) -> T {
            do { return try body() } catch { throw .file(error) }
        }
        let path = file.path
        guard let modelName = try wrap({ () throws(GGUFError) in try file.string("tokenizer.ggml.model") }) else {
            throw .missingKey("tokenizer.ggml.model", file: path)
        }
        guard let model = TokenizerModel(rawValue: modelName) else { throw .unsupportedModel(modelName, file: path) }
        guard let tokens = try wrap({ () throws(GGUFError) in try file.strings("tokenizer.ggml.tokens") }), !tokens.isEmpty else {
            throw .missingKey("tokenizer.ggml.tokens", file: path)
        }
        let n = tokens.count
        guard n < Int(Int32.max) else { throw .inconsistentVocabulary("\(n) tokens is too many", file: path) }
        let scores = try wrap { () throws(GGUFError) in try file.floats("tokenizer.ggml.scores") } ?? [Float](repeating: 0, count: n)
        let types = try wrap { () throws(GGUFError) in try file.ints("tokenizer.ggml.token_type") } ?? [Int](repeating: 1, count: n)
        guard scores.count == n else { throw .inconsistentVocabulary("tokenizer.ggml.scores has \(scores.count) entries for \(n) tokens", file: path) }
        guard types.count == n else { throw .inconsistentVocabulary("tokenizer.ggml.token_type has \(types.count) entries for \(n) tokens", file: path) }

        self.model = model
        self.pre = (try wrap { () throws(GGUFError) in try file.string("tokenizer.ggml.pre") }) ?? "default"
        self.tokens = tokens
        self.scores = scores
        self.merges = try wrap { () throws(GGUFError) in try file.strings("tokenizer.ggml.merges") } ?? []
        var attributes = types.map(TokenAttributes.init(ggufType:))

        var tokenToID: [[UInt8]: Int32] = [:]
        tokenToID.reserveCapacity(n)
        for (i, t) in tokens.enumerated() {
            // llama.cpp keeps the last id of a duplicated text.
            tokenToID[Array(t.utf8)] = Int32(i)
        }
        self.tokenToID = tokenToID

        func special(_ key: String) throws(TokenizerError) -> Int32? {
            guard let id = try wrap({ () throws(GGUFError) in try file.int("tokenizer.ggml." + key) }) else { return nil }
            // An id out of range is ignored, as llama.cpp does (with a warning there).
            return (0..<n).contains(id) ? Int32(id) : nil
        }
        let bos = try special("bos_token_id")
        let eos = try special("eos_token_id")
        var eot = try special("eot_token_id")
        let eom = try special("eom_token_id")
        self.bos = bos
        self.eos = eos
        self.unk = try special("unknown_token_id")
        self.pad = try special("padding_token_id")

        // Defaults by tokenizer model (llama.cpp), then the file's own settings.
        let addBOSDefault = model == .llama || pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe"
        self.addBOS = (try wrap { () throws(GGUFError) in try file.bool("tokenizer.ggml.add_bos_token") }) ?? addBOSDefault
        self.addEOS = (try wrap { () throws(GGUFError) in try file.bool("tokenizer.ggml.add_eos_token") }) ?? false
        self.addSpacePrefix = (try wrap { () throws(GGUFError) in try file.bool("tokenizer.ggml.add_space_prefix") }) ?? (model == .llama)

        // End-of-turn markers recognized by text become control tokens and end generation.
        let eotTexts: Set<String> = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>", "<｜end▁of▁sentence｜>"]
        let eogTexts: Set<String> = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>"]
        var eog: Set<Int32> = []
        for text in eotTexts.union(eogTexts).union(["<|eom_id|>"]) {
            guard let id = tokenToID[Array(text.utf8)] else { continue }
            if eot == nil && eotTexts.contains(text) { eot = id }
            if eogTexts.contains(text) { eog.insert(id) }
            if eotTexts.contains(text) || eogTexts.contains(text) {
                attributes[Int(id)].remove([.normal, .userDefined])
                attributes[Int(id)].insert(.control)
            }
        }
        for id in [eos, eot, eom] { if let id { eog.insert(id) } }
        self.eot = eot
        self.endOfGeneration = eog

        var specials = (0..<n).filter { !attributes[$0].isDisjoint(with: [.control, .userDefined, .unknown]) }.map { Int32($0) }
        specials.sort { (tokens[Int($0)].utf8.count, $1) > (tokens[Int($1)].utf8.count, $0) }
        self.specialTokens = specials

        // Per-model attributes llama.cpp sets by name: Phi-3's special tokens eat whitespace to their right.
        let name = ((try? file.string("general.name")) ?? nil)?.lowercased() ?? ""
        if name.contains("phi-3") || name.contains("phi3") {
            for id in specials { attributes[Int(id)].insert(.rstrip) }
            if let id = tokenToID[Array("</s>".utf8)] { attributes[Int(id)].insert(.rstrip) }
            for t in ["<unk>", "<s>", "<|endoftext|>"] { if let id = tokenToID[Array(t.utf8)] { attributes[Int(id)].remove(.rstrip) } }
        }
        self.attributes = attributes
    }

    public func isControl(_ id: Int32) -> Bool { attributes[Int(id)].contains(.control) }

    /// The id of the token whose text is exactly `text` (byte for byte).
    public func id(of text: String) -> Int32? { tokenToID[Array(text.utf8)] }
}
