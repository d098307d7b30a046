import ArgumentParser
import Foundation
import GGUF
import JSON
import Runtime
import Tokenization

/// Loads a model for a command: file, weights, tokenizer, a thread pool and a runtime.
struct LoadedModel {
    let file: GGUFFile
    let tokenizer: Tokenizer
    let model: Model

    init(_ nameOrPath: String, threads: Int?, maxBatchTokens: Int = 512, maxContext: Int? = nil) throws {
        do {
            file = try GGUFFile(path: KnownModels.resolve(nameOrPath))
            tokenizer = try Tokenizer(file: file)
            let weights = try ModelWeights(file: file)
            let pool = ThreadPool(threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
            model = Model(weights: weights, maxBatchTokens: maxBatchTokens, maxContext: maxContext, pool: pool)
        } catch let e as GGUFError {
            printError(e.description)
            throw ExitCode(1)
        } catch let e as RuntimeError {
            printError(e.description)
            throw ExitCode(1)
        } catch let e as TokenizerError {
            printError(e.description)
            throw ExitCode(1)
        }
    }

    /// A pool and block table for one sequence of up to `positions` positions.
    func singleSequenceCache(positions: Int, blockSize: Int = 16) throws -> (KVPool, [Int32]) {
        let blocks = (positions + blockSize - 1) / blockSize
        let pool = try KVPool(blockCount: blocks, blockSize: blockSize, config: model.config)
        return (pool, (0..<blocks).map(Int32.init))
    }
}

/// log-softmax of one row of logits, in Double for a stable sum.
func logSoftmax(_ logits: UnsafeBufferPointer<Float>) -> [Float] {
    let m = logits.max() ?? 0
    var sum = 0.0
    for l in logits { sum += Foundation.exp(Double(l - m)) }
    let lse = Double(m) + Foundation.log(sum)
    return logits.map { Float(Double($0) - lse) }
}

/// `martlet generate --model M --prompt TEXT`: streams a continuation to the terminal.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate a continuation of a prompt.")

    @Option(help: "A model name known to scripts/fetch-model, or a path to a .gguf file.") var model: String = KnownModels.defaultName
    @Option(help: "The prompt text (special-token text such as <|im_start|> is parsed).") var prompt: String
    @Option(name: .customLong("max-tokens"), help: "Tokens to generate at most.") var maxTokens = 128
    @Option(help: "0 for greedy decoding.") var temperature: Double = 0
    @Option(help: "Seed for sampling.") var seed: UInt64 = 0
    @Option(name: .customLong("top-logprobs"), help: "With --json: the K most likely tokens and their log-probabilities at each step.") var topLogprobs = 0
    @Option(help: "Worker threads (default: one per core).") var threads: Int?
    @Flag(help: "Print prompt ids, completion ids, text and per-step log-probabilities as JSON.") var json = false

    func validate() throws {
        guard maxTokens >= 1 && maxTokens <= 1 << 20 else { throw ValidationError("--max-tokens must be between 1 and 1048576, got \(maxTokens)") }
        guard temperature >= 0 && temperature <= 100 else { throw ValidationError("--temperature must be between 0 and 100, got \(temperature)") }
        guard (0...20).contains(topLogprobs) else { throw ValidationError("--top-logprobs must be between 0 and 20, got \(topLogprobs)") }
    }

    func run() throws {
        let loaded = try LoadedModel(model, threads: threads)
        let m = loaded.model
        let promptIDs = loaded.tokenizer.encode(prompt, addSpecial: true, parseSpecial: true)
        guard !promptIDs.isEmpty else { printError("the prompt is empty"); throw ExitCode(1) }
        let total = min(promptIDs.count + maxTokens, m.maxContext)
        guard promptIDs.count < total else {
            printError("the prompt has \(promptIDs.count) tokens; the context holds \(m.maxContext)")
            throw ExitCode(1)
        }
        let (kv, table) = try loaded.singleSequenceCache(positions: total)
        var rng = SplitMix64(seed: seed)
        var stream = StreamingDetokenizer(tokenizer: loaded.tokenizer)
        var completion: [Int32] = []
        var steps: [JSONValue] = []
        var next: Int32 = -1

        func choose(_ logits: UnsafeBufferPointer<Float>) {
            let lp = logSoftmax(logits)
            if temperature == 0 {
                next = Int32(lp.indices.max { lp[$0] < lp[$1] || (lp[$0] == lp[$1] && $0 > $1) }!)
            } else {
                let scaled = lp.map { Double($0) / temperature }
                let mx = scaled.max()!
                let weights = scaled.map { Foundation.exp($0 - mx) }
                var r = Double(rng.next() >> 11) / Double(1 << 53) * weights.reduce(0, +)
                next = Int32(weights.count - 1)
                for (i, w) in weights.enumerated() { r -= w; if r <= 0 { next = Int32(i); break } }
            }
            if json {
                let top = lp.indices.sorted { lp[$0] > lp[$1] || (lp[$0] == lp[$1] && $0 < $1) }.prefix(topLogprobs)
                steps.append(.object(JSONObject([
                    ("token", .int(Int(next))), ("logprob", .double(Double(lp[Int(next)]))),
                    ("top", .array(top.map { .array([.int($0), .double(Double(lp[$0]))]) })),
                ])))
            }
        }

        // Prefill in chunks of the batch size; the last prompt token's logits pick the first token.
        var pos = 0
        while pos < promptIDs.count {
            let end = min(promptIDs.count, pos + m.maxBatchTokens)
            let batch = (pos..<end).map { BatchToken(token: promptIDs[$0], position: $0, sequence: 0, wantLogits: $0 == promptIDs.count - 1) }
            m.forward(batch, blockTables: [table], kv: kv) { _, logits in choose(logits) }
            pos = end
        }
        let eog = loaded.tokenizer.vocabulary.endOfGeneration
        while true {
            completion.append(next)
            if !json {
                FileHandle.standardOutput.write(Data((try stream.append(next)).utf8))
            }
            if eog.contains(next) || completion.count >= maxTokens || pos >= total { break }
            m.forward([BatchToken(token: next, position: pos, sequence: 0, wantLogits: true)], blockTables: [table], kv: kv) { _, logits in choose(logits) }
            pos += 1
        }
        if json {
            let text = (try? loaded.tokenizer.decode(completion)) ?? ""
            let out = JSONValue.object(JSONObject([
                ("prompt_tokens", .array(promptIDs.map { .int(Int($0)) })),
                ("completion_tokens", .array(completion.map { .int(Int($0)) })),
                ("completion_text", .string(text)),
                ("steps", .array(steps)),
            ]))
            print(PythonJSON.dumps(out))
        } else {
            print(stream.finish())
        }
    }
}
