import Foundation
import Runtime
import Tokenization

/// Runs requests against one model: an engine thread repeats drain inbox → schedule →
/// forward → sample → emit, and sleeps when there is nothing to do. Many sequences share
/// each forward pass; their KV blocks come from the scheduler's block manager.
///
/// `submit`, `cancel` and `statistics` may be called from any thread; everything else
/// happens on the engine thread. The inbox and the published statistics are guarded by
/// `lock`.
public final class Engine: @unchecked Sendable {
    public let configuration: EngineConfiguration
    public let maxContext: Int
    public let nVocab: Int
    private let runtime: ForwardRuntime
    private let tokenizer: Tokenizer
    private let endOfGeneration: Set<Int32>

    // Guarded by lock.
    private let lock = NSCondition()
    private var inbox: [Message] = []
    private var nextID: UInt64 = 1
    private var queuedRequests = 0, queuedTokens = 0
    private var published = EngineStatistics()
    private var stopping = false
    private var stopped = false

    // Engine thread only.
    let scheduler: Scheduler
    private var requests: [UInt64: RequestState] = [:]
    private var stats = EngineStatistics()
    private let scratch = SamplerScratch()
    private var seedSource = SystemRandomNumberGenerator()
    private var costs = StepCostModel()

    private enum Message {
        case submit(RequestState)
        case cancel(UInt64)
    }

    /// Starts the engine thread (tests pass `thread: false` and call `runOnce` themselves).
    public init(runtime: ForwardRuntime, tokenizer: Tokenizer, configuration: EngineConfiguration = .init(), thread: Bool = true) {
        self.runtime = runtime
        self.tokenizer = tokenizer
        self.configuration = configuration
        self.maxContext = runtime.maxContext
        self.nVocab = runtime.nVocab
        endOfGeneration = tokenizer.vocabulary.endOfGeneration
        let budget = max(1, min(configuration.tokenBudget, runtime.maxBatchTokens))
        scheduler = Scheduler(blocks: BlockManager(blockCount: runtime.blockCount, blockSize: runtime.blockSize),
                              tokenBudget: budget, maxRunning: max(1, configuration.maxRunning),
                              copyBlock: { [unowned runtime] in runtime.copyBlock($0, to: $1) })
        stats.blocksTotal = runtime.blockCount
        stats.blockSize = runtime.blockSize
        publish()
        guard thread else { return }
        let t = Thread { [self] in loop() }
        t.name = "martlet-engine"
        t.stackSize = 8 << 20
        t.start()
    }

    /// Stops the engine thread after the current step; requests still in it are cancelled.
    public func shutdown() {
        lock.lock()
        stopping = true
        lock.broadcast()
        while !stopped { lock.wait() }
        lock.unlock()
    }

    // MARK: - Any thread

    /// Queues a request, or refuses it at once; the returned id cancels it.
    @discardableResult
    public func submit(_ request: EngineRequest) throws(EngineError) -> UInt64 {
        let prompt = request.prompt
        guard !prompt.isEmpty else { throw .emptyPrompt }
        for t in prompt where t < 0 || Int(t) >= nVocab { throw .tokenOutOfRange(id: t, vocabularySize: nVocab) }
        guard prompt.count < maxContext else { throw .contextLengthExceeded(promptTokens: prompt.count, maxContext: maxContext) }
        let cacheTokens = runtime.blockCount * runtime.blockSize
        guard prompt.count < cacheTokens else { throw .promptExceedsCache(promptTokens: prompt.count, cacheTokens: cacheTokens) }
        guard (1...configuration.maxChoices).contains(request.n) else {
            throw .invalidParameter(name: "n", message: "must be between 1 and \(configuration.maxChoices), got \(request.n)")
        }
        if let k = request.logprobs, !(0...20).contains(k) {
            throw .invalidParameter(name: "top_logprobs", message: "must be between 0 and 20, got \(k)")
        }
        for id in request.sampling.logitBias.keys where id < 0 || Int(id) >= nVocab {
            throw .invalidParameter(name: "logit_bias", message: "token id \(id) is out of range for a vocabulary of \(nVocab) tokens")
        }
        guard request.stop.maxTokens >= 1 else {
            throw .invalidParameter(name: "max_tokens", message: "must be at least 1, got \(request.stop.maxTokens)")
        }
        lock.lock()
        defer { lock.unlock() }
        if stopping { throw .shuttingDown }
        guard queuedRequests < configuration.maxWaitingRequests,
              queuedTokens + prompt.count <= configuration.maxWaitingTokens else {
            published.requestsRefused += 1
            throw .overloaded(waitingRequests: queuedRequests, waitingTokens: queuedTokens)
        }
        let id = nextID
        nextID += 1
        queuedRequests += 1
        queuedTokens += prompt.count
        inbox.append(.submit(RequestState(id: id, request: request)))
        lock.signal()
        return id
    }

    /// Ends a request within one step: it leaves the queue or the batch and its blocks are
    /// freed; its sink gets `finished(.cancelled)` for each open choice. Unknown or finished
    /// ids are ignored.
    public func cancel(_ id: UInt64) {
        lock.lock()
        inbox.append(.cancel(id))
        lock.signal()
        lock.unlock()
    }

    public func statistics() -> EngineStatistics {
        lock.lock()
        defer { lock.unlock() }
        return published
    }

    // MARK: - Engine thread

    private func loop() {
        while true {
            lock.lock()
            while inbox.isEmpty && scheduler.isIdle && !stopping { lock.wait() }
            let stop = stopping
            lock.unlock()
            if stop {
                drainInbox()
                for r in Array(requests.values) { cancelRequest(r) }
                publish()
                lock.lock()
                stopped = true
                lock.broadcast()
                lock.unlock()
                return
            }
            runOnce()
        }
    }

    /// One turn of the loop: take the inbox, then one scheduling step.
    func runOnce() {
        drainInbox()
        step()
        publish()
    }

    private func drainInbox() {
        lock.lock()
        let messages = inbox
        inbox.removeAll()
        lock.unlock()
        for m in messages { handle(m) }
    }

    private func handle(_ m: Message) {
        switch m {
        case .submit(let r):
            requests[r.id] = r
            let seed = r.request.sampling.seed ?? seedSource.next()
            var leader: Sequence?
            for choice in 0..<r.request.n {
                // Each choice draws from its own stream, derived from the request's seed.
                var mix = SplitMix64(seed: seed &+ UInt64(choice) &* 0x9E37_79B9_7F4A_7C15)
                let s = Sequence(request: r, choice: choice, leader: leader, seed: mix.next(), tokenizer: tokenizer)
                leader = leader ?? s
                scheduler.enqueue(s)
            }
        case .cancel(let id):
            if let r = requests[id] { cancelRequest(r) }
        }
    }

    /// One scheduling step and its forward pass.
    func step() {
        let factor = configuration.maxDecodeSlowdown
        let work = scheduler.schedule { decoding in factor.flatMap { costs.prefillAllowance(decoding: decoding, factor: $0) } }
        for s in scheduler.exhausted { finish(s, .length) }
        markAdmitted(work)
        guard !work.isEmpty else { return }

        var batch: [BatchToken] = []
        var owner: [Int] = []
        for (iw, w) in work.enumerated() {
            let s = w.sequence
            for p in w.start..<(w.start + w.count) {
                let promptPosition = s.wantsPromptLogprobs && s.promptLogprobs == nil && p < s.promptCount - 1
                batch.append(BatchToken(token: s.tokens[p], position: p, sequence: iw, wantLogits: p == s.tokens.count - 1 || promptPosition))
                owner.append(iw)
            }
            if s.computed < s.promptCount { stats.promptTokensComputed += min(w.count, s.promptCount - w.start) }
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        var gathered: [ObjectIdentifier: [TokenLogprobs?]] = [:]
        runtime.forward(batch, blockTables: work.map { $0.sequence.blocks }) { i, logits in
            let s = work[owner[i]].sequence
            let p = batch[i].position
            if p < s.tokens.count - 1 {
                // A prompt position: the log-probability of the prompt token after it.
                gathered[ObjectIdentifier(s), default: []].append(Sampler.logprobs(logits, token: s.tokens[p + 1], top: s.request.request.logprobs ?? 0))
                return
            }
            let token = s.sampler.sample(logits, scratch: scratch, constraint: s.constraint)
            s.sampled = token
            if let k = s.request.request.logprobs { s.sampledLogprobs = Sampler.logprobs(logits, token: token, top: k) }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        costs.observe(tokens: batch.count, seconds: seconds)
        stats.steps += 1
        stats.tokensLastStep = batch.count
        stats.stepTokens += batch.count
        stats.stepSeconds += seconds
        for w in work {
            scheduler.completed(w)
            let s = w.sequence
            if s.wantsPromptLogprobs && s.promptLogprobs == nil {
                var collected = s.pendingPromptLogprobs + (gathered[ObjectIdentifier(s)] ?? [])
                if s.computed >= s.promptCount {
                    collected.insert(nil, at: 0)
                    s.promptLogprobs = collected
                    s.request.request.sink(.promptLogprobs(collected))
                } else {
                    s.pendingPromptLogprobs = collected
                }
            }
            if let token = s.sampled {
                let lp = s.sampledLogprobs
                s.sampled = nil
                s.sampledLogprobs = nil
                accept(token, s, lp)
            }
        }
    }

    private func markAdmitted(_ work: [Scheduler.Work]) {
        var released = 0, tokens = 0
        for w in work where w.sequence.request.queued && w.sequence.choice == 0 {
            let r = w.sequence.request
            r.queued = false
            released += 1
            tokens += r.request.prompt.count
            stats.cachedPromptTokens += r.cachedPromptTokens ?? 0
        }
        guard released > 0 else { return }
        lock.lock()
        queuedRequests -= released
        queuedTokens -= tokens
        lock.unlock()
    }

    /// A sampled token joins its sequence; stop conditions are checked and text emitted.
    private func accept(_ token: Int32, _ s: Sequence, _ logprobs: TokenLogprobs?) {
        s.tokens.append(token)
        s.constraint?.accept(token)
        s.sampler.accept(token)
        s.request.completionTokens += 1
        stats.tokensGenerated += 1
        let sink = s.request.request.sink
        if endOfGeneration.contains(token) {
            sink(.token(choice: s.choice, id: token, text: "", logprobs: logprobs))
            finish(s, .stop)
            return
        }
        switch s.text.append(token) {
        case .stopped(let text):
            sink(.token(choice: s.choice, id: token, text: text, logprobs: logprobs))
            finish(s, .stop, flush: false)
        case .text(let text):
            sink(.token(choice: s.choice, id: token, text: text, logprobs: logprobs))
            if s.generated >= s.request.request.stop.maxTokens || s.tokens.count >= maxContext { finish(s, .length) }
        }
    }

    private func finish(_ s: Sequence, _ reason: FinishReason, flush: Bool = true) {
        guard !s.finished else { return }
        s.finished = true
        scheduler.remove(s)
        let r = s.request
        r.request.sink(.finished(choice: s.choice, reason: reason, text: flush ? s.text.finish() : ""))
        r.unfinished -= 1
        if r.unfinished == 0 { complete(r, cancelled: reason == .cancelled) }
    }

    private func cancelRequest(_ r: RequestState) {
        let sequences = (scheduler.running + scheduler.waiting).filter { $0.request === r }
        if r.queued {
            r.queued = false
            lock.lock()
            queuedRequests -= 1
            queuedTokens -= r.request.prompt.count
            lock.unlock()
        }
        for s in sequences.sorted(by: { $0.choice < $1.choice }) { finish(s, .cancelled, flush: false) }
    }

    private func complete(_ r: RequestState, cancelled: Bool) {
        requests[r.id] = nil
        if cancelled { stats.requestsCancelled += 1 } else { stats.requestsCompleted += 1 }
        r.request.sink(.completed(Usage(promptTokens: r.request.prompt.count, completionTokens: r.completionTokens,
                                        cachedPromptTokens: r.cachedPromptTokens ?? 0)))
    }

    private func publish() {
        stats.running = scheduler.running.count
        stats.waiting = scheduler.waiting.count
        stats.blocksOwned = scheduler.blocks.ownedCount
        stats.blocksCachedFree = scheduler.blocks.cachedFreeCount
        stats.blocksEmptyFree = scheduler.blocks.emptyFreeCount
        stats.prefixCacheHits = scheduler.blocks.cacheHits
        stats.prefixCachePartialHits = scheduler.partialCopies
        stats.preemptions = scheduler.preemptions
        stats.jobsRunAlone = runtime.jobsRunAlone
        lock.lock()
        let refused = published.requestsRefused
        published = stats
        published.requestsRefused = refused
        lock.unlock()
    }
}
