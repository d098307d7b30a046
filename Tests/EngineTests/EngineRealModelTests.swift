import Foundation
import GGUF
import Runtime
import TestSupport
import Testing
import Tokenization
@testable import Engine

/// The engine on a real model: batching, preemption and the prefix cache change nothing in
/// what a request produces (the runtime is batch-invariant, so greedy tokens are equal).
@Suite(.serialized) struct EngineRealModelTests {
    static let modelName = "smollm2-135m-instruct"

    struct Loaded {
        let tokenizer: Tokenizer
        let model: Model

        func engine(blocks: Int, blockSize: Int = 16, configuration: EngineConfiguration = .init()) throws -> Engine {
            let kv = try KVPool(blockCount: blocks, blockSize: blockSize, config: model.config)
            return Engine(runtime: ModelRuntime(model: model, kv: kv), tokenizer: tokenizer, configuration: configuration)
        }
    }

    static func load() throws -> Loaded? {
        guard let path = TestPaths.model(modelName) else { return nil }
        let file = try GGUFFile(path: path)
        return Loaded(tokenizer: try Tokenizer(file: file),
                      model: Model(weights: try ModelWeights(file: file), maxBatchTokens: 256, maxContext: 2048, pool: ThreadPool()))
    }

    static let prompts = [
        "The capital of France is", "def fibonacci(n):", "Once upon a time", "The three primary colors are",
        "To make a cup of tea,", "In 1969, astronauts", "The quick brown fox", "Water boils at",
        "My favourite book is", "The theory of relativity", "import numpy as np\n", "Dear hiring manager,",
        "The best way to learn", "Photosynthesis is", "A haiku about autumn:", "SELECT * FROM",
    ]

    /// Submits every request at once and waits for all of them.
    static func run(_ engine: Engine, _ requests: [(prompt: [Int32], maxTokens: Int)]) throws -> [Recorder] {
        let recorders = requests.map { _ in Recorder(n: 1) }
        var sampling = SamplingParameters()
        sampling.temperature = 0
        for (r, rec) in zip(requests, recorders) {
            try engine.submit(EngineRequest(prompt: r.prompt, sampling: sampling, stop: StopConditions(maxTokens: r.maxTokens), sink: rec.sink))
        }
        let deadline = Date().addingTimeInterval(600)
        while !recorders.allSatisfy(\.isComplete) && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        return recorders
    }

    @Test func concurrentGreedyRequestsMatchSequentialOnesEvenWhenPreempted() throws {
        guard let m = try Self.load() else { return }
        let requests = Self.prompts.map { (prompt: m.tokenizer.encode($0, addSpecial: true), maxTokens: 24) }
        // One at a time.
        let alone = try m.engine(blocks: 64)
        var expected: [[Int32]] = []
        for r in requests { expected.append(try Self.run(alone, [r])[0].tokens[0]) }
        alone.shutdown()
        #expect(expected.allSatisfy { $0.count == 24 || $0.last.map(m.tokenizer.vocabulary.endOfGeneration.contains) == true })

        // All sixteen at once, with room for all.
        let roomy = try m.engine(blocks: 64)
        let together = try Self.run(roomy, requests)
        #expect(together.map { $0.tokens[0] } == expected)
        #expect(together.allSatisfy { $0.problems.isEmpty })
        let s1 = roomy.statistics()
        #expect(s1.blocksOwned == 0 && s1.running == 0 && s1.preemptions == 0)
        roomy.shutdown()

        // A pool of 12 blocks of 8 positions (96 positions) for sixteen sequences of up to
        // about 30 positions each: they only finish through preemption.
        let tight = try m.engine(blocks: 12, blockSize: 8)
        let squeezed = try Self.run(tight, requests)
        #expect(squeezed.map { $0.tokens[0] } == expected)
        #expect(squeezed.allSatisfy { $0.reasons[0] != .cancelled && $0.problems.isEmpty })
        let s2 = tight.statistics()
        #expect(s2.preemptions > 0)
        #expect(s2.blocksOwned == 0 && s2.blocksCachedFree + s2.blocksEmptyFree == 12)
        tight.shutdown()
    }

    @Test func aSharedPrefixIsPrefilledOnce() throws {
        guard let m = try Self.load() else { return }
        let engine = try m.engine(blocks: 160)
        defer { engine.shutdown() }
        var prefix = m.tokenizer.encode("You are a helpful assistant. ", addSpecial: true)
        let filler = m.tokenizer.encode(" The rules are long and detailed, and each one matters.")
        while prefix.count < 1000 { prefix += filler }
        prefix = Array(prefix.prefix(1000))
        let first = prefix + m.tokenizer.encode(" Question: what is two plus two?")
        let second = prefix + m.tokenizer.encode(" Question: name a colour.")

        let r1 = try Self.run(engine, [(first, 4)])[0]
        #expect(r1.usage?.cachedPromptTokens == 0)
        let computedBefore = engine.statistics().promptTokensComputed
        let r2 = try Self.run(engine, [(second, 4)])[0]
        let cached = r2.usage?.cachedPromptTokens ?? 0
        // Every full block of the shared prefix is reused (62 blocks of 16 = 992 tokens), and
        // the tokens in common in the next block from a copy of it.
        let common = zip(first, second).prefix { $0 == $1 }.count
        #expect(common > 1000 && common < 1008)
        #expect(cached == common)
        #expect(engine.statistics().promptTokensComputed - computedBefore == second.count - cached)

        // And the cached answer equals the uncached one.
        let fresh = try m.engine(blocks: 160)
        let r3 = try Self.run(fresh, [(second, 4)])[0]
        fresh.shutdown()
        #expect(r3.tokens == r2.tokens)
        #expect(r3.usage?.cachedPromptTokens == 0)
    }

    @Test func refusalsNameTheNumbers() throws {
        guard let m = try Self.load() else { return }
        let engine = try m.engine(blocks: 8)
        defer { engine.shutdown() }
        let sink: EngineSink = { _ in }
        #expect(throws: EngineError.contextLengthExceeded(promptTokens: 2048, maxContext: 2048)) {
            try engine.submit(EngineRequest(prompt: Array(repeating: 1, count: 2048), stop: StopConditions(maxTokens: 1), sink: sink))
        }
        #expect(throws: EngineError.promptExceedsCache(promptTokens: 200, cacheTokens: 128)) {
            try engine.submit(EngineRequest(prompt: Array(repeating: 1, count: 200), stop: StopConditions(maxTokens: 1), sink: sink))
        }
        #expect(EngineError.contextLengthExceeded(promptTokens: 3000, maxContext: 2048).description.contains("maximum context length is 2048 tokens"))
    }
}
