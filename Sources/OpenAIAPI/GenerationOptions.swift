import Engine
import JSON

/// What chat and text completions share: the model, streaming, sampling and stop fields.
struct GenerationOptions {
    var model: String
    var stream: Bool
    var includeUsage: Bool
    /// As the client gave it (nil: up to the context for chat, 16 for completions).
    var maxTokens: Int?
    var n: Int
    var sampling: SamplingParameters
    var stop: [String]
    /// Alternatives to report with each token's log-probability (nil: no log-probabilities).
    var logprobs: Int?

    static let maxChoices = 16

    init(_ f: Fields, maxTokensKeys: [String]) throws(APIError) {
        guard let model = try f.string("model") else {
            throw .invalid("model", "you must provide a model parameter", code: "missing_required_parameter")
        }
        self.model = model
        stream = try f.bool("stream") ?? false
        includeUsage = false
        if let options = f.present("stream_options") {
            guard case .object(let o) = options else {
                throw .invalid("stream_options", "'stream_options' must be an object, got \(options.kind)", code: "invalid_type")
            }
            guard stream else { throw .invalid("stream_options", "'stream_options' is only allowed when 'stream' is true") }
            let inner = Fields(object: o)
            includeUsage = try inner.bool("include_usage") ?? false
            try inner.refuse("include_obfuscation", unless: { $0 == .bool(false) })
        }
        for key in maxTokensKeys {
            if let m = try f.int(key, in: 1...(1 << 30)) { maxTokens = m }
        }
        n = try f.int("n", in: 1...Self.maxChoices) ?? 1
        var s = SamplingParameters()
        s.temperature = try f.double("temperature", in: 0...2) ?? 1
        s.topP = try f.double("top_p", in: 0...1) ?? 1
        if s.topP == 0 { s.temperature = 0 }  // nothing but the best token is left
        s.presencePenalty = try f.double("presence_penalty", in: -2...2) ?? 0
        s.frequencyPenalty = try f.double("frequency_penalty", in: -2...2) ?? 0
        if let seed = try f.int("seed", in: Int.min...Int.max) { s.seed = UInt64(bitPattern: Int64(seed)) }
        // Extensions that vLLM and llama.cpp accept.
        let topK = try f.int("top_k", in: -1...1_000_000) ?? 0
        s.topK = max(0, topK)
        s.minP = try f.double("min_p", in: 0...1) ?? 0
        s.repetitionPenalty = try f.double("repetition_penalty", in: 0.01...10) ?? 1
        sampling = s
        stop = try f.stopStrings()
        _ = try f.string("user")
        _ = try f.string("safety_identifier")
        _ = try f.string("prompt_cache_key")  // a routing hint; the prefix cache is automatic
        sampling.logitBias = try f.logitBias()
        try f.refuse("service_tier", unless: { $0 == .string("auto") || $0 == .string("default") })
        try f.refuse("store", unless: { $0 == .bool(false) })
        try f.refuse("metadata", unless: { if case .object(let o) = $0 { return o.count == 0 } else { return false } })
    }
}

extension Fields {
    init(object: JSONObject) { self.object = object }
}
