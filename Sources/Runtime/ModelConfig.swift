import GGUF

/// The architectures the runtime implements (`general.architecture`).
public enum Architecture: String, CaseIterable, Sendable {
    case llama, qwen2, qwen3, gemma3
}

/// The hyperparameters the runtime uses, read from a GGUF file's metadata with llama.cpp's
/// names and defaults, and checked against named limits so a lying header is refused at
/// load instead of allocating without bound.
public struct ModelConfig: Equatable, Sendable {
    public var architecture: Architecture
    public var name: String?
    public var nLayer: Int
    public var nCtxTrain: Int
    public var nEmbd: Int
    public var nFF: Int
    public var nHead: Int
    public var nHeadKV: Int
    /// Per-head size of keys and queries (`attention.key_length`, else nEmbd / nHead).
    public var headDim: Int
    /// Per-head size of values (`attention.value_length`, else headDim).
    public var headDimV: Int
    public var nVocab: Int
    public var rmsNormEps: Float
    public var ropeFreqBase: Float
    /// Dimensions rotated by RoPE (`rope.dimension_count`, else headDim).
    public var nRot: Int
    /// RoPE base of sliding-window layers (Gemma 3: 10 000).
    public var ropeFreqBaseSWA: Float
    /// Linear RoPE scaling factor (`rope.scaling.factor` with type `linear`), 1 when absent.
    public var ropeScale: Float
    /// Sliding-window size for local layers; nil when every layer attends globally.
    public var slidingWindow: Int?
    /// Every `swaPattern`-th layer is global when a sliding window is set (Gemma 3: 6).
    public var swaPattern: Int
    /// Whether the output projection reuses the token embedding.
    public var tiedOutput: Bool

    /// Limits on hyperparameters; values beyond them are refused as lies or damage.
    public enum Limits {
        public static let maxLayers = 1024
        public static let maxEmbd = 1 << 16
        public static let maxFF = 1 << 18
        public static let maxHeads = 1024
        public static let maxHeadDim = 1024
        /// Query heads per KV head (the attention kernel's per-group buffers hold 256).
        public static let maxGroups = 256
        public static let maxContext = 1 << 24
        public static let maxVocab = 1 << 21
    }

    /// Whether layer `il` uses the sliding window.
    public func isSlidingWindowLayer(_ il: Int) -> Bool {
        slidingWindow != nil && (il + 1) % swaPattern != 0
    }

    public init(file: GGUFFile) throws(RuntimeError) {
        let path = file.path
        func wrap<T>(_ body: () throws(GGUFError) -> T) throws(RuntimeError) -> T {
            do { return try body() } catch { throw .file(error) }
        }
        guard let archName = try wrap({ () throws(GGUFError) in try file.string("general.architecture") }) else {
            throw .missingKey("general.architecture", file: path)
        }
        guard let arch = Architecture(rawValue: archName) else {
            throw .unsupportedArchitecture(archName, file: path, supported: Architecture.allCases.map(\.rawValue))
        }
        let p = archName + "."

        func int(_ key: String, default fallback: Int? = nil, in range: ClosedRange<Int>) throws(RuntimeError) -> Int {
            guard let v = try wrap({ () throws(GGUFError) in try file.int(p + key) }) ?? fallback else {
                throw .missingKey(p + key, file: path)
            }
            guard range.contains(v) else {
                throw .invalidHyperparameter(key: p + key, value: "\(v)", expected: "\(range.lowerBound)...\(range.upperBound)", file: path)
            }
            return v
        }
        func float(_ key: String, default fallback: Double? = nil, in range: ClosedRange<Double>) throws(RuntimeError) -> Float {
            guard let v = try wrap({ () throws(GGUFError) in try file.double(p + key) }) ?? fallback else {
                throw .missingKey(p + key, file: path)
            }
            guard range.contains(v) else {
                throw .invalidHyperparameter(key: p + key, value: "\(v)", expected: "\(range.lowerBound)...\(range.upperBound)", file: path)
            }
            return Float(v)
        }

        architecture = arch
        name = try? file.string("general.name")
        nLayer = try int("block_count", in: 1...Limits.maxLayers)
        nCtxTrain = try int("context_length", in: 1...Limits.maxContext)
        nEmbd = try int("embedding_length", in: 1...Limits.maxEmbd)
        nFF = try int("feed_forward_length", in: 1...Limits.maxFF)
        nHead = try int("attention.head_count", in: 1...Limits.maxHeads)
        nHeadKV = try int("attention.head_count_kv", default: nHead, in: 1...nHead)
        guard nHead / nHeadKV <= Limits.maxGroups else {
            throw .invalidHyperparameter(key: p + "attention.head_count_kv", value: "\(nHeadKV)",
                                         expected: "at least attention.head_count / \(Limits.maxGroups)", file: path)
        }
        guard nHead % nHeadKV == 0 else {
            throw .invalidHyperparameter(key: p + "attention.head_count_kv", value: "\(nHeadKV)",
                                         expected: "a divisor of attention.head_count (\(nHead))", file: path)
        }
        headDim = try int("attention.key_length", default: nEmbd / nHead, in: 2...Limits.maxHeadDim)
        headDimV = try int("attention.value_length", default: headDim, in: 1...Limits.maxHeadDim)
        nRot = try int("rope.dimension_count", default: headDim, in: 2...headDim)
        guard nRot % 2 == 0 else {
            throw .invalidHyperparameter(key: p + "rope.dimension_count", value: "\(nRot)", expected: "an even number", file: path)
        }
        rmsNormEps = try float("attention.layer_norm_rms_epsilon", default: 1e-6, in: 0...1)
        ropeFreqBase = try float("rope.freq_base", default: 10_000, in: 1...1e12)
        ropeFreqBaseSWA = arch == .gemma3 ? 10_000 : ropeFreqBase
        let scalingType = (try? file.string(p + "rope.scaling.type")) ?? "none"
        ropeScale = scalingType == "linear" ? 1 / (try float("rope.scaling.factor", default: 1, in: 1e-3...1e6)) : 1
        if arch == .gemma3, file.metadata[p + "attention.sliding_window"] != nil {
            slidingWindow = try int("attention.sliding_window", in: 1...Limits.maxContext)
        } else {
            slidingWindow = nil
        }
        swaPattern = 6

        let tokens = try wrap { () throws(GGUFError) in try file.array("tokenizer.ggml.tokens") }
        let embd = file.tensor(named: "token_embd.weight")
        if let count = tokens?.count {
            nVocab = count
        } else if let embd, embd.shape.count >= 2 {
            nVocab = embd.shape[1]
        } else {
            throw .missingKey("tokenizer.ggml.tokens", file: path)
        }
        guard (1...Limits.maxVocab).contains(nVocab) else {
            throw .invalidHyperparameter(key: "tokenizer.ggml.tokens", value: "\(nVocab) tokens", expected: "1...\(Limits.maxVocab)", file: path)
        }
        tiedOutput = file.tensor(named: "output.weight") == nil
    }
}
