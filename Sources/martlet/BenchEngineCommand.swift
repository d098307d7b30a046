import ArgumentParser
import Dispatch
import Engine
import Foundation
import JSON
import OpenAIAPI
import Runtime

/// `martlet bench-engine`: the engine's scenarios, timed in-process (no HTTP), as JSON.
struct BenchEngine: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-engine",
        abstract: "Measure continuous batching, the prefix cache and prefill chunking.")

    @Option(help: "A model name known to scripts/fetch-model, or a path to a .gguf file.") var model: String = KnownModels.defaultName
    @Option(help: "Worker threads (default: one per core).") var threads: Int?
    @Option(help: "Concurrent streams for the throughput test.") var streams = 16
    @Option(name: .customLong("decode-tokens"), help: "Tokens each stream generates.") var decodeTokens = 64
    @Flag(name: .customLong("decode-only"), help: "Only the decode throughput test (for profiling).") var decodeOnly = false
    @Flag(name: .customLong("structured"), help: "Only the structured-output test: decode speed with and without a JSON grammar.") var structured = false

    /// Times of each choice's token events, from the engine's sink. Waiting blocks on a
    /// condition (polling would take CPU time from the engine being measured).
    final class Timeline: @unchecked Sendable {
        // Guarded by lock.
        private let lock = NSCondition()
        private var times: [UInt64] = []
        private var done = false
        var sink: EngineSink {
            { [self] event in
                let now = DispatchTime.now().uptimeNanoseconds
                lock.withLock {
                    switch event {
                    case .token: times.append(now)
                    case .completed:
                        done = true
                        lock.broadcast()
                    case .finished, .promptLogprobs: break
                    }
                }
            }
        }
        var tokenTimes: [UInt64] { lock.withLock { times } }
        var isDone: Bool { lock.withLock { done } }
        func wait() {
            lock.lock()
            while !done { lock.wait() }
            lock.unlock()
        }
    }

    func run() throws {
        let loaded = try LoadedModel(model, threads: threads, maxBatchTokens: 512, maxContext: 4096)
        let m = loaded.model
        let blockSize = 16
        let kv = try KVPool(blockCount: 4096 / blockSize * 4, blockSize: blockSize, config: m.config)
        let tok = loaded.tokenizer
        func engine() -> Engine { Engine(runtime: ModelRuntime(model: m, kv: kv), tokenizer: tok) }
        var greedy = SamplingParameters()
        greedy.temperature = 0
        func submit(_ e: Engine, _ prompt: [Int32], maxTokens: Int, constraint: (@Sendable () -> TokenConstraint)? = nil) throws -> Timeline {
            let t = Timeline()
            try e.submit(EngineRequest(prompt: prompt, sampling: greedy, stop: StopConditions(maxTokens: maxTokens), constraint: constraint, sink: t.sink))
            return t
        }
        func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
        func seconds(_ a: UInt64, _ b: UInt64) -> Double { Double(b - a) / 1e9 }
        var results: [(String, JSONValue)] = []
        // Prompts that do not end the generation early are not needed: max_tokens caps it and
        // end-of-generation tokens are counted like any other.
        let prompts = (0..<max(streams, 4)).map { tok.encode("Story number \($0): once upon a time, in a land far away,", addSpecial: true) }

        // MARK: Structured output: the cost of the grammar per token
        if structured {
            let schema = try JSONParser().parse(#"{"type": "object", "properties": {"title": {"type": "string"}, "steps": {"type": "array", "items": {"type": "string"}}}, "required": ["title", "steps"]}"#)
            let factory = try StructuredOutput.constraint(schema: schema, tokenizer: tok)
            let prompt = tok.encode("<|im_start|>user\nWrite a recipe for pancakes as JSON with a title and steps.<|im_end|>\n<|im_start|>assistant\n", addSpecial: true, parseSpecial: true)
            func rate(_ c: (@Sendable () -> TokenConstraint)?) throws -> (Double, Int) {
                let e = engine()
                defer { e.shutdown() }
                let t = try submit(e, prompt, maxTokens: 128, constraint: c)
                t.wait()
                let times = t.tokenTimes
                return (Double(times.count - 1) / seconds(times[0], times.last!), times.count)
            }
            _ = try rate(nil)
            var free: [Double] = [], constrained: [Double] = [], tokens = 0
            for _ in 0..<7 {  // alternating, so drifts in the machine's speed hit both alike
                free.append(try rate(nil).0)
                let (r, n) = try rate(factory)
                constrained.append(r)
                tokens = n
            }
            let f = free.sorted()[3], c = constrained.sorted()[3]
            results.append(("decode_tokens_per_s_free", .double(f)))
            results.append(("decode_tokens_per_s_json_schema", .double(c)))
            results.append(("json_schema_tokens", .int(tokens)))
            results.append(("json_schema_slowdown", .double(1 - c / f)))
            print(PythonJSON.dumps(.object(JSONObject(results))))
            return
        }

        // MARK: Decode throughput, one stream versus many
        func decodeRate(_ count: Int) throws -> Double {
            let e = engine()
            defer { e.shutdown() }
            let lines = try (0..<count).map { try submit(e, prompts[$0], maxTokens: decodeTokens) }
            lines.forEach { $0.wait() }
            // From the moment every stream has its first token to the last token.
            let all = lines.map(\.tokenTimes)
            let start = all.map { $0[0] }.max()!, end = all.map { $0.last! }.max()!
            let tokens = all.reduce(0) { $0 + $1.filter { $0 > start }.count }
            return Double(tokens) / seconds(start, end)
        }
        _ = try decodeRate(1)  // warm-up
        // One stream, two, four and `streams`, five alternating rounds, and their medians: this
        // machine's speed drifts by ±20% within seconds, and alternating spreads the drift over
        // every level.
        let levels = Array(Set([1, 2, 4, streams])).sorted()
        var rates = [Int: [Double]]()
        for _ in 0..<5 {
            for level in levels { rates[level, default: []].append(try decodeRate(level)) }
        }
        let median = { (level: Int) in rates[level]!.sorted()[2] }
        let single = median(1)
        results.append(("decode_tokens_per_s_1_stream", .double(single)))
        for level in levels where level > 1 {
            results.append(("decode_tokens_per_s_\(level)_streams", .double(median(level))))
        }
        results.append(("decode_speedup", .double(median(streams) / single)))
        if decodeOnly {
            print(PythonJSON.dumps(.object(JSONObject(results))))
            return
        }

        // MARK: Time to first token with a 1,000-token prefix cached
        var prefix = tok.encode("You are a careful assistant. Follow these rules.", addSpecial: true)
        let filler = tok.encode(" Rule: answer briefly, cite sources, and never invent facts.")
        while prefix.count < 1000 { prefix += filler }
        prefix = Array(prefix.prefix(1000))
        do {
            let e = engine()
            defer { e.shutdown() }
            var t0 = now()
            let first = try submit(e, prefix + tok.encode(" Question: what is the tallest mountain?"), maxTokens: 1)
            first.wait()
            let uncached = seconds(t0, first.tokenTimes[0])
            t0 = now()
            let second = try submit(e, prefix + tok.encode(" Question: how deep is the ocean?"), maxTokens: 1)
            second.wait()
            let cached = seconds(t0, second.tokenTimes[0])
            results.append(("ttft_uncached_s", .double(uncached)))
            results.append(("ttft_cached_prefix_s", .double(cached)))
            results.append(("ttft_cached_over_uncached", .double(cached / uncached)))
        }

        // MARK: Running streams while a 2,000-token prompt is prefilled
        do {
            let e = engine()
            defer { e.shutdown() }
            let running = try (0..<4).map { try submit(e, prompts[$0], maxTokens: 160) }
            while running.contains(where: { $0.tokenTimes.count < 20 }) { usleep(5000) }
            var long: [Int32] = tok.encode("Summarize the following text.", addSpecial: true)
            while long.count < 2000 { long += filler }
            long = Array(long.prefix(2000))
            let submitted = now()
            let big = try submit(e, long, maxTokens: 1)
            big.wait()
            let prefilled = big.tokenTimes[0]
            running.forEach { $0.wait() }
            var worst = 0.0
            var medians: [Double] = [], maxima: [Double] = []
            for r in running {
                let t = r.tokenTimes
                let gaps = zip(t.dropFirst(), t).map { Double($0 - $1) / 1e9 }
                let median = gaps.sorted()[gaps.count / 2]
                // Gaps that overlap the long prompt's prefill.
                let during = zip(t.dropFirst(), t).filter { $0.0 > submitted && $0.1 < prefilled }.map { Double($0.0 - $0.1) / 1e9 }
                let mx = during.max() ?? 0
                medians.append(median)
                maxima.append(mx)
                worst = max(worst, mx / median)
            }
            results.append(("long_prefill_s", .double(seconds(submitted, prefilled))))
            results.append(("stream_median_gap_s", .double(medians.reduce(0, +) / Double(medians.count))))
            results.append(("stream_max_gap_during_prefill_s", .double(maxima.max() ?? 0)))
            results.append(("stream_max_gap_over_median", .double(worst)))
        }

        // MARK: KV memory follows the tokens held
        do {
            let e = engine()
            defer { e.shutdown() }
            let lines = try (0..<streams).map { try submit(e, prompts[$0], maxTokens: decodeTokens) }
            var peakBlocks = 0
            while lines.contains(where: { !$0.isDone }) {
                peakBlocks = max(peakBlocks, e.statistics().blocksOwned)
                usleep(5000)
            }
            let blockBytes = kv.bytes / kv.blockCount
            let heldTokens = prompts.prefix(streams).reduce(0) { $0 + $1.count + decodeTokens }
            results.append(("kv_peak_mib", .double(Double(peakBlocks * blockBytes) / 1_048_576)))
            results.append(("kv_for_tokens_held_mib", .double(Double(heldTokens * blockBytes / blockSize) / 1_048_576)))
            results.append(("kv_for_max_context_per_stream_mib", .double(Double(streams * m.maxContext * blockBytes / blockSize) / 1_048_576)))
        }
        print(PythonJSON.dumps(.object(JSONObject(results))))
    }
}
