import Runtime
import Testing
@testable import Engine

/// Random arrivals, prompt lengths, shared prefixes, choices, stop strings and
/// cancellations on a small pool, checked after every step; each request that was not
/// cancelled must produce exactly what it produces alone.
@Suite struct EngineRandomizedTests {
    struct Planned {
        var request: EngineRequest
        var recorder: Recorder
        var cancelAtStep: Int?
        var id: UInt64?
    }

    static func makeRequest(_ rng: inout SplitMix64, prefixes: [[Int32]], maxContext: Int, recorder: Recorder? = nil) -> (EngineRequest, Recorder) {
        func rand(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        var prompt = rand(2) == 0 ? prefixes[rand(prefixes.count)] : []
        for _ in 0..<(1 + rand(24)) { prompt.append(Int32(rand(TestVocabulary.size - 1))) }
        prompt = Array(prompt.prefix(maxContext - 2))
        let n = rand(4) == 0 ? 1 + rand(3) : 1
        var sampling = SamplingParameters()
        sampling.temperature = rand(2) == 0 ? 0 : 0.9
        sampling.seed = rng.next()
        if rand(3) == 0 { sampling.topK = 1 + rand(10) }
        if rand(3) == 0 { sampling.topP = 0.5 }
        if rand(4) == 0 { sampling.presencePenalty = 0.5; sampling.frequencyPenalty = 0.3 }
        let stops = rand(3) == 0 ? ["a", "Xy"].shuffled(using: &rng).prefix(1 + rand(2)).map { $0 } : []
        let rec = recorder ?? Recorder(n: n)
        let request = EngineRequest(prompt: prompt, n: n, sampling: sampling,
                                    stop: StopConditions(maxTokens: 1 + rand(30), stopStrings: stops), sink: rec.sink)
        return (request, rec)
    }

    /// The same request alone on a fresh engine with a large pool.
    static func solo(_ request: EngineRequest, maxContext: Int) -> Recorder {
        let runtime = ScriptedRuntime(maxBatchTokens: 64, maxContext: maxContext, blockCount: 64, blockSize: 4)
        let engine = Engine(runtime: runtime, tokenizer: TestVocabulary.tokenizer, thread: false)
        let rec = Recorder(n: request.n)
        var r = request
        r.sink = rec.sink
        _ = try! engine.submit(r)
        while !rec.isComplete { engine.runOnce() }
        return rec
    }

    @Test(arguments: 0..<40)
    func randomWorkload(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed &* 7919 &+ 1)
        func rand(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let blockSize = [1, 2, 4, 8][rand(4)]
        let maxContext = 80
        let blockCount = (maxContext + blockSize - 1) / blockSize + rand(40)
        let runtime = ScriptedRuntime(maxBatchTokens: 64, maxContext: maxContext, blockCount: blockCount, blockSize: blockSize)
        var config = EngineConfiguration()
        config.tokenBudget = 4 + rand(40)
        config.maxRunning = 1 + rand(8)
        config.maxWaitingRequests = 6 + rand(6)
        config.maxDecodeSlowdown = nil  // no timing in the schedule: every run of a seed is the same
        let engine = Engine(runtime: runtime, tokenizer: TestVocabulary.tokenizer, configuration: config, thread: false)
        let prefixes = (0..<3).map { _ in (0..<(4 + rand(30))).map { _ in Int32(rand(62)) } }

        var planned: [Planned] = []
        var refused = 0
        var step = 0
        while step < 400 || !engine.scheduler.isIdle {
            if step < 400 && rand(4) == 0 {
                for _ in 0..<(1 + rand(3)) {
                    let (request, rec) = Self.makeRequest(&rng, prefixes: prefixes, maxContext: maxContext)
                    switch Result(catching: { () throws(EngineError) -> UInt64 in try engine.submit(request) }) {
                    case .success(let id):
                        planned.append(Planned(request: request, recorder: rec, cancelAtStep: rand(5) == 0 ? step + rand(20) : nil, id: id))
                    case .failure(.overloaded):
                        refused += 1
                    case .failure(let e):
                        Issue.record("refused: \(e)")
                    }
                }
            }
            for p in planned where p.cancelAtStep == step { engine.cancel(p.id!) }
            engine.runOnce()
            step += 1
            let stats = engine.statistics()
            #expect(stats.tokensLastStep <= config.tokenBudget)
            if let problem = engine.scheduler.inconsistency() {
                Issue.record("step \(step): \(problem)")
                return
            }
            #expect(stats.blocksOwned + stats.blocksCachedFree + stats.blocksEmptyFree == blockCount)
            #expect(step < 20_000, "the engine made no progress")
            if step >= 20_000 { return }
        }
        #expect(runtime.problems.isEmpty, "\(runtime.problems.prefix(3))")
        let end = engine.statistics()
        #expect(end.blocksOwned == 0 && end.running == 0 && end.waiting == 0)
        #expect(end.blocksCachedFree + end.blocksEmptyFree == blockCount)

        for p in planned {
            let rec = p.recorder
            #expect(rec.problems.isEmpty, "\(rec.problems)")
            #expect(rec.isComplete, "a request never completed")
            guard !rec.reasons.contains(.cancelled) else { continue }
            let alone = Self.solo(p.request, maxContext: maxContext)
            #expect(rec.tokens == alone.tokens, "seed \(seed): batched tokens differ from the request alone")
            #expect(rec.texts == alone.texts)
            #expect(rec.reasons == alone.reasons)
            #expect(rec.usage?.completionTokens == rec.tokens.map(\.count).reduce(0, +))
        }
    }
}
