import Tokenization

/// A request as the engine tracks it: its choices, the usage so far, and whether it still
/// counts against the waiting queue's limits.
///
/// Confined to the engine thread.
final class RequestState {
    let id: UInt64
    let request: EngineRequest
    var unfinished: Int
    var completionTokens = 0
    /// Prompt tokens found in the prefix cache at the first admission of choice 0.
    var cachedPromptTokens: Int?
    /// Still counted in the engine's waiting totals (until choice 0 is first admitted).
    var queued = true

    init(id: UInt64, request: EngineRequest) {
        self.id = id
        self.request = request
        unfinished = request.n
    }
}

/// One choice of a request: its tokens (prompt, then generated), how many of them are in
/// the KV cache, and the blocks that hold them.
///
/// Confined to the engine thread.
final class Sequence {
    let request: RequestState
    let choice: Int
    var tokens: [Int32]
    let promptCount: Int
    /// Tokens whose keys and values are in `blocks`.
    var computed = 0
    var blocks: [Int32] = []
    /// Prefix-cache hashes of the leading full blocks (registered or found).
    var blockHashes: [UInt64] = []
    /// Choices after the first wait for it to prefill the prompt, then share its blocks.
    let leader: Sequence?
    var promptDone = false
    var finished = false
    /// Order of the latest admission; preemption takes the highest.
    var admission = 0
    var sampler: Sampler
    var text: TextStream
    /// The token sampled this step, if any, and its log-probabilities when asked for.
    var sampled: Int32?
    var sampledLogprobs: TokenLogprobs?
    let constraint: TokenConstraint?
    /// Prompt log-probabilities being gathered (first choice of a request that asks).
    var promptLogprobs: [TokenLogprobs?]?
    /// Gathered so far, while the prompt is prefilled in chunks.
    var pendingPromptLogprobs: [TokenLogprobs?] = []
    var wantsPromptLogprobs: Bool { choice == 0 && request.request.promptLogprobs }

    init(request: RequestState, choice: Int, leader: Sequence?, seed: UInt64, tokenizer: Tokenizer) {
        let r = request.request
        self.request = request
        self.choice = choice
        self.leader = leader
        tokens = r.prompt
        promptCount = r.prompt.count
        sampler = Sampler(parameters: r.sampling, seed: seed, prompt: r.prompt)
        text = TextStream(tokenizer: tokenizer, stopStrings: r.stop.stopStrings, visible: r.visibleTokens)
        constraint = r.constraint?()
    }

    var generated: Int { tokens.count - promptCount }
    /// Tokens still to be fed to the runtime before the next sampling.
    var pending: Int { tokens.count - computed }
    /// Ready to be admitted: the first choice always; the others once the prompt's blocks
    /// are in the cache (or the first choice has ended).
    var ready: Bool { leader.map { $0.promptDone || $0.finished } ?? true }
}
