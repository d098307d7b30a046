/// A snapshot of the engine's state, for metrics and tests.
public struct EngineStatistics: Sendable, Equatable {
    public var running = 0
    public var waiting = 0
    public var blocksTotal = 0
    public var blocksOwned = 0
    /// Free blocks whose content is still in the prefix cache.
    public var blocksCachedFree = 0
    public var blocksEmptyFree = 0
    public var blockSize = 0
    public var prefixCacheHits = 0
    /// Cached blocks copied for the leading positions a prompt shares with them.
    public var prefixCachePartialHits = 0
    public var cachedPromptTokens = 0
    public var preemptions = 0
    public var steps = 0
    public var tokensLastStep = 0
    /// Tokens fed to the runtime over all steps, and the seconds its forward passes took.
    public var stepTokens = 0
    public var stepSeconds = 0.0
    public var promptTokensComputed = 0
    public var tokensGenerated = 0
    public var requestsCompleted = 0
    public var requestsCancelled = 0
    public var requestsRefused = 0
    /// Thread-pool jobs run by the engine thread alone because the machine was crowded.
    public var jobsRunAlone = 0
}

public struct EngineConfiguration: Sendable {
    /// Tokens one step may feed to the runtime (decode tokens plus prefill chunks).
    public var tokenBudget: Int = 512
    /// Sequences in the batch at once.
    public var maxRunning: Int = 64
    /// Requests, and their prompt tokens, that may wait for admission before new ones are
    /// refused as overloaded.
    public var maxWaitingRequests: Int = 256
    public var maxWaitingTokens: Int = 1 << 20
    /// While sequences are decoding, a step's prefill is cut so that the step takes at most
    /// this many times as long as their decode tokens alone (by the engine's timing of earlier
    /// steps); nil lets prefill use the whole token budget.
    public var maxDecodeSlowdown: Double? = 3
    /// Choices one request may ask for.
    public var maxChoices: Int = 16

    public init() {}
}
