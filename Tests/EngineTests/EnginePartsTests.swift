import Runtime
import Testing
@testable import Engine

@Suite struct BlockManagerTests {
    @Test func evictsLeastRecentlyUsedCachedBlocksAfterEmptyOnes() {
        let m = BlockManager(blockCount: 4, blockSize: 2)
        let a = m.allocate()!, b = m.allocate()!
        let ta: [Int32] = [1, 2], tb: [Int32] = [3, 4]
        let ha = BlockManager.hash(parent: 0, tokens: ta[...]), hb = BlockManager.hash(parent: ha, tokens: tb[...])
        m.register(a, hash: ha, tokens: ta[...], parent: -1)
        m.register(b, hash: hb, tokens: tb[...], parent: a)
        m.release([a, b])
        #expect(m.freeCount == 4 && m.cachedFreeCount == 2 && m.cachedCount == 2)
        // The two empty blocks go first, then the tail block b before the prefix block a.
        let first = m.allocate()!, second = m.allocate()!
        #expect(![a, b].contains(first) && ![a, b].contains(second))
        #expect(m.allocate() == b)
        #expect(m.cachedCount == 1 && m.evictions == 1)
        #expect(m.lookup(hash: ha, tokens: ta[...], parent: -1) == a)
        #expect(m.references(a) == 1)
        #expect(m.allocate() == nil)
        #expect(m.inconsistency() == nil)
    }

    @Test func aHitNeedsTheSameTokensAndTheSameLiveParent() {
        let m = BlockManager(blockCount: 4, blockSize: 2)
        let a = m.allocate()!, b = m.allocate()!
        let ta: [Int32] = [1, 2], tb: [Int32] = [3, 4]
        m.register(a, hash: 7, tokens: ta[...], parent: -1)
        m.register(b, hash: 8, tokens: tb[...], parent: a)
        // Same hash, other tokens: a collision is never served.
        #expect(m.lookup(hash: 7, tokens: [9, 9][...], parent: -1) == nil)
        #expect(m.lookup(hash: 8, tokens: tb[...], parent: b) == nil)
        // The parent's content replaced: the child's link is stale.
        m.release([a])
        #expect(m.freeCount == 3)
        while m.allocate() != nil {}
        #expect(m.lookup(hash: 8, tokens: tb[...], parent: a) == nil)
        #expect(m.inconsistency() == nil)
    }
}

extension BlockManagerTests {
    @Test func aPartialMatchIsTheLiveChildWithTheMostLeadingTokensInCommon() {
        let m = BlockManager(blockCount: 6, blockSize: 4)
        let p = m.allocate()!, a = m.allocate()!, b = m.allocate()!, c = m.allocate()!
        let tp: [Int32] = [1, 2, 3, 4], ta: [Int32] = [5, 6, 7, 8], tb: [Int32] = [5, 6, 9, 9], tc: [Int32] = [5, 6, 7, 0]
        m.register(p, hash: 1, tokens: tp[...], parent: -1)
        m.register(a, hash: 2, tokens: ta[...], parent: p)
        m.register(b, hash: 3, tokens: tb[...], parent: p)
        m.register(c, hash: 4, tokens: tc[...], parent: -1)  // another parent
        #expect(m.partialMatch(parent: p, tokens: [5, 6, 7][...])! == (a, 3))
        #expect(m.partialMatch(parent: p, tokens: [5, 6, 9, 1][...])! == (b, 3))
        #expect(m.partialMatch(parent: p, tokens: [6][...]) == nil)
        #expect(m.partialMatch(parent: -1, tokens: [5, 6, 7, 0][...])! == (c, 4))
        // Found blocks are not taken.
        #expect(m.references(a) == 1 && m.references(b) == 1)
        // The parent's content replaced: its children no longer match, and once evicted they
        // leave the index.
        m.release([p, a, b, c])
        while m.allocate() != nil {}
        #expect(m.partialMatch(parent: p, tokens: [5, 6, 7][...]) == nil)
        #expect(m.cachedCount == 0 && m.inconsistency() == nil)
    }
}

@Suite struct SamplerTests {
    func sample(_ logits: [Float], _ configure: (inout SamplingParameters) -> Void, seed: UInt64 = 1, draws: Int = 2000) -> [Int32: Int] {
        var p = SamplingParameters()
        configure(&p)
        var s = Sampler(parameters: p, seed: seed, prompt: [])
        let scratch = SamplerScratch()
        var counts: [Int32: Int] = [:]
        for _ in 0..<draws { counts[logits.withUnsafeBufferPointer { s.sample($0, scratch: scratch) }, default: 0] += 1 }
        return counts
    }

    @Test func greedyTakesTheLowestIdAmongTies() {
        #expect(sample([1, 3, 3, 2], { $0.temperature = 0 }, draws: 3) == [1: 3])
    }

    @Test func topKTopPAndMinPKeepTheRightTokens() {
        let logits: [Float] = [0, 1, 2, 3, 4].map { Float($0) }  // probabilities ∝ e^i
        #expect(Set(sample(logits, { $0.topK = 2 }).keys) == [3, 4])
        // Softmax: 0.636, 0.234, 0.086, ...: top-p 0.6 keeps the best token, 0.8 the best two.
        #expect(Set(sample(logits, { $0.topP = 0.6 }).keys) == [4])
        #expect(Set(sample(logits, { $0.topP = 0.8 }).keys) == [3, 4])
        #expect(Set(sample(logits, { $0.topP = 0.9 }).keys) == [2, 3, 4])
        // min-p 0.3 keeps tokens at least 0.3 × e^4 likely: e^3 (0.37) but not e^2 (0.14).
        #expect(Set(sample(logits, { $0.minP = 0.3 }).keys) == [3, 4])
        let all = sample(logits, { _ in }, draws: 20000)
        #expect(Set(all.keys) == [0, 1, 2, 3, 4])
        // Frequencies follow the softmax: token 4 has probability 0.636.
        #expect(abs(Double(all[4]!) / 20000 - 0.636) < 0.02)
    }

    @Test func theSameSeedDrawsTheSameTokens() {
        let logits: [Float] = (0..<50).map { Float($0 % 7) }
        func run(_ seed: UInt64) -> [Int32] {
            var s = Sampler(parameters: SamplingParameters(), seed: seed, prompt: [])
            let scratch = SamplerScratch()
            return (0..<30).map { _ in logits.withUnsafeBufferPointer { s.sample($0, scratch: scratch) } }
        }
        #expect(run(5) == run(5))
        #expect(run(5) != run(6))
    }

    @Test func penaltiesLowerRepeatedTokens() {
        var p = SamplingParameters()
        p.temperature = 0
        p.frequencyPenalty = 0.6
        var s = Sampler(parameters: p, seed: 1, prompt: [])
        let scratch = SamplerScratch()
        let logits: [Float] = [1, 2, 1.5]
        func next() -> Int32 { logits.withUnsafeBufferPointer { s.sample($0, scratch: scratch) } }
        #expect(next() == 1)
        s.accept(1)
        #expect(next() == 2)  // 2 - 0.6 < 1.5
        var r = SamplingParameters()
        r.temperature = 0
        r.repetitionPenalty = 2
        var rs = Sampler(parameters: r, seed: 1, prompt: [1])
        #expect(logits.withUnsafeBufferPointer { rs.sample($0, scratch: scratch) } == 2)  // 2 / 2 < 1.5
    }
}

@Suite struct TextStreamTests {
    let t = TestVocabulary.tokenizer
    func ids(_ s: String) -> [Int32] { t.encode(s) }

    @Test func aStopStringAcrossTokensIsFoundAndNotEmitted() {
        var ts = TextStream(tokenizer: t, stopStrings: ["cde"])
        var out = ""
        var stopped = false
        for id in ids("abcdef") {
            switch ts.append(id) {
            case .text(let s): out += s
            case .stopped(let s): out += s; stopped = true
            }
            if stopped { break }
        }
        #expect(stopped && out == "ab")
    }

    @Test func heldTextIsReleasedWhenItCannotStartAStop() {
        var ts = TextStream(tokenizer: t, stopStrings: ["abc"])
        #expect(ts.append(ids("a")[0]) == .text(""))
        #expect(ts.append(ids("b")[0]) == .text(""))
        #expect(ts.append(ids("x")[0]) == .text("abx"))
        #expect(ts.append(ids("a")[0]) == .text(""))
        #expect(ts.finish() == "a")
    }
}

@Suite struct EngineAdmissionTests {
    func engine(waiting: Int, runtime: ScriptedRuntime = ScriptedRuntime(maxBatchTokens: 32, maxContext: 64, blockCount: 16, blockSize: 4)) -> Engine {
        var c = EngineConfiguration()
        c.maxWaitingRequests = waiting
        c.maxWaitingTokens = 20
        return Engine(runtime: runtime, tokenizer: TestVocabulary.tokenizer, configuration: c, thread: false)
    }

    @Test func aFullQueueRefusesAtOnceAndAdmissionMakesRoom() throws {
        let e = engine(waiting: 2)
        let recs = (0..<3).map { _ in Recorder(n: 1) }
        func request(_ i: Int, length: Int = 5) -> EngineRequest {
            EngineRequest(prompt: Array(repeating: 1, count: length), stop: StopConditions(maxTokens: 3), sink: recs[i].sink)
        }
        try e.submit(request(0))
        try e.submit(request(1))
        #expect(throws: EngineError.overloaded(waitingRequests: 2, waitingTokens: 10)) { try e.submit(request(2)) }
        e.runOnce()  // both admitted
        #expect(throws: EngineError.overloaded(waitingRequests: 0, waitingTokens: 0)) { try e.submit(request(2, length: 21)) }
        try e.submit(request(2))
        #expect(e.statistics().requestsRefused == 2)
    }

    @Test func aPromptStartingLikeACachedBlockCopiesItAndComputesOnlyTheRest() throws {
        let runtime = ScriptedRuntime(maxBatchTokens: 32, maxContext: 64, blockCount: 16, blockSize: 4)
        let e = engine(waiting: 8, runtime: runtime)
        var greedy = SamplingParameters()
        greedy.temperature = 0
        func run(_ prompt: [Int32], on e: Engine) -> Recorder {
            let r = Recorder(n: 1)
            _ = try! e.submit(EngineRequest(prompt: prompt, sampling: greedy, stop: StopConditions(maxTokens: 3), sink: r.sink))
            while !r.isComplete { e.runOnce() }
            return r
        }
        _ = run([1, 2, 3, 4, 5, 6, 7, 8, 9], on: e)
        // Blocks of 4: the first is found whole, the second begins with 5, 6 like the cached one.
        let computed = e.statistics().promptTokensComputed
        let second = run([1, 2, 3, 4, 5, 6, 20, 21, 22], on: e)
        #expect(second.usage?.cachedPromptTokens == 6 && runtime.copies == 1 && e.statistics().prefixCachePartialHits == 1)
        #expect(e.statistics().promptTokensComputed - computed == 3)
        // The same answer as from a pool that never saw the first prompt.
        let r = run([1, 2, 3, 4, 5, 6, 20, 21, 22], on: engine(waiting: 8))
        #expect(r.usage?.cachedPromptTokens == 0 && second.tokens == r.tokens && runtime.problems.isEmpty)
        // Every prompt token but the last found: that one is computed for its logits.
        let third = run([1, 2, 3, 4, 5, 6, 20, 21, 22], on: e)
        #expect(third.usage?.cachedPromptTokens == 8 && third.tokens == r.tokens)
        #expect(e.scheduler.inconsistency() == nil)
    }

    @Test func cancellingFreesBlocksAndEndsEveryChoiceOnce() throws {
        let e = engine(waiting: 8)
        let running = Recorder(n: 2), waiting = Recorder(n: 1)
        let a = try e.submit(EngineRequest(prompt: Array(repeating: 2, count: 9), n: 2, stop: StopConditions(maxTokens: 40), sink: running.sink))
        e.runOnce()
        e.runOnce()
        let b = try e.submit(EngineRequest(prompt: [3, 4], stop: StopConditions(maxTokens: 40), sink: waiting.sink))
        #expect(e.statistics().blocksOwned > 0)
        e.cancel(a)
        e.cancel(b)
        e.cancel(a)  // twice: ignored
        e.runOnce()
        for r in [running, waiting] {
            #expect(r.isComplete && r.problems.isEmpty)
            #expect(r.reasons.allSatisfy { $0 == .cancelled })
        }
        let s = e.statistics()
        #expect(s.blocksOwned == 0 && s.running == 0 && s.waiting == 0 && s.requestsCancelled == 2)
    }
}
