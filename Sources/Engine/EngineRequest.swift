/// How the next token is chosen. `temperature == 0` is greedy decoding; the other filters
/// apply in llama.cpp's order: penalties, top-k, temperature, min-p, top-p.
public struct SamplingParameters: Sendable, Equatable {
    public var temperature: Double = 1
    /// 0 keeps every token.
    public var topK: Int = 0
    public var topP: Double = 1
    public var minP: Double = 0
    /// OpenAI's penalties, over the tokens generated so far.
    public var presencePenalty: Double = 0
    public var frequencyPenalty: Double = 0
    /// CTRL's multiplicative penalty over prompt and generated tokens (1 is off).
    public var repetitionPenalty: Double = 1
    /// Makes sampling reproducible whatever else shares the batch; nil draws a random seed.
    public var seed: UInt64?
    /// Added to the logits of these tokens before sampling (OpenAI's `logit_bias`).
    public var logitBias: [Int32: Float] = [:]

    public init() {}
}

/// When a choice ends besides the model's end-of-generation tokens.
public struct StopConditions: Sendable, Equatable {
    /// Generated tokens at most (the context limit may end it earlier, also with `length`).
    public var maxTokens: Int
    /// Matched on the detokenized text, across token boundaries; the match is not emitted.
    public var stopStrings: [String]

    public init(maxTokens: Int, stopStrings: [String] = []) {
        self.maxTokens = maxTokens
        self.stopStrings = stopStrings
    }
}

/// The model's log-probability of a sampled token (log-softmax of the raw logits, before
/// penalties, bias and temperature), and of the most likely alternatives.
public struct TokenLogprobs: Sendable, Equatable {
    public struct Candidate: Sendable, Equatable {
        public var id: Int32
        public var logprob: Float
    }
    public var logprob: Float
    /// The `top` most likely tokens, most likely first.
    public var top: [Candidate]
}

public enum FinishReason: String, Sendable {
    case stop, length, cancelled, error
}

public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens served from the prefix cache instead of being computed.
    public var cachedPromptTokens: Int
    public var totalTokens: Int { promptTokens + completionTokens }

    public init(promptTokens: Int, completionTokens: Int, cachedPromptTokens: Int) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.cachedPromptTokens = cachedPromptTokens
    }
}

/// What the engine tells a request's sink, on the engine thread. Per choice: any number of
/// `token`, then exactly one `finished`; after every choice has finished, one `completed`.
public enum EngineEvent: Sendable {
    /// `text` is what became final with this token: empty while a character is incomplete
    /// or the text could still be the start of a stop string.
    case token(choice: Int, id: Int32, text: String, logprobs: TokenLogprobs?)
    /// `text` is whatever was held back and is now final (emitted before the finish).
    case finished(choice: Int, reason: FinishReason, text: String)
    /// The log-probability of each prompt token after the ones before it (nil for the
    /// first), once the prompt is computed; only when asked for with `promptLogprobs`.
    case promptLogprobs([TokenLogprobs?])
    case completed(Usage)
}

/// The sink must return quickly: it runs on the engine thread between steps.
public typealias EngineSink = @Sendable (EngineEvent) -> Void

public struct EngineRequest: Sendable {
    public var prompt: [Int32]
    /// Independent choices that share the prompt's KV blocks.
    public var n: Int
    public var sampling: SamplingParameters
    public var stop: StopConditions
    /// Report each sampled token's log-probability and this many alternatives (nil: none).
    public var logprobs: Int?
    /// Also report the prompt tokens' log-probabilities (`echo` with `logprobs`): the whole
    /// prompt is computed, without the prefix cache.
    public var promptLogprobs = false
    /// Control tokens rendered as text in the output (markers the API parses, such as a
    /// model's tool-call tags); other control tokens stay silent.
    public var visibleTokens: Set<Int32> = []
    /// Makes each choice's constraint (nil: unconstrained).
    public var constraint: (@Sendable () -> TokenConstraint)?
    public var sink: EngineSink

    public init(prompt: [Int32], n: Int = 1, sampling: SamplingParameters = .init(), stop: StopConditions, logprobs: Int? = nil,
                constraint: (@Sendable () -> TokenConstraint)? = nil, sink: @escaping EngineSink) {
        self.constraint = constraint
        self.prompt = prompt
        self.n = n
        self.sampling = sampling
        self.stop = stop
        self.logprobs = logprobs
        self.sink = sink
    }
}

/// Why a request was refused at submission; no work was done for it.
public enum EngineError: Error, Sendable, Equatable, CustomStringConvertible {
    case emptyPrompt
    case contextLengthExceeded(promptTokens: Int, maxContext: Int)
    /// The prompt needs more KV blocks than the whole pool holds.
    case promptExceedsCache(promptTokens: Int, cacheTokens: Int)
    case overloaded(waitingRequests: Int, waitingTokens: Int)
    case tokenOutOfRange(id: Int32, vocabularySize: Int)
    case invalidParameter(name: String, message: String)
    case shuttingDown

    public var description: String {
        switch self {
        case .emptyPrompt: return "the prompt is empty"
        case let .contextLengthExceeded(p, m):
            return "This model's maximum context length is \(m) tokens. However, your prompt has \(p) tokens, which leaves no room for the completion."
        case let .promptExceedsCache(p, c):
            return "the prompt has \(p) tokens; the KV cache holds \(c) tokens in all"
        case let .overloaded(r, t):
            return "the server is overloaded: \(r) requests with \(t) prompt tokens are already waiting"
        case let .tokenOutOfRange(id, v): return "token id \(id) is out of range for a vocabulary of \(v) tokens"
        case let .invalidParameter(name, message): return "\(name): \(message)"
        case .shuttingDown: return "the engine is shutting down"
        }
    }
}
