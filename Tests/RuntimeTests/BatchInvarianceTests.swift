import GGUF
import Runtime
import TestSupport
import Testing

/// A sequence's logits are bitwise identical whatever shares its batch, however its prompt is
/// chunked, and wherever its blocks lie in the pool.
@Suite struct BatchInvarianceTests {
    static let architectures = ["llama", "qwen2", "qwen3", "gemma3"]

    func load(_ arch: String) throws -> Model {
        let file = try GGUFFile(bytes: SyntheticModel.gguf(arch: arch), name: "synthetic-\(arch).gguf")
        return Model(weights: try ModelWeights(file: file), maxBatchTokens: 64, pool: ThreadPool(threads: 2))
    }

    func tokens(_ seed: UInt64, _ n: Int) -> [Int32] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { _ in Int32(rng.next() % UInt64(SyntheticModel.nVocab)) }
    }

    /// Runs `steps` (each a batch of (sequence, token, position, wantLogits)); returns the
    /// logits of each sequence at each position where they were wanted.
    func run(_ model: Model, kv: KVPool, tables: [[Int32]], steps: [[(Int, Int32, Int, Bool)]]) -> [Int: [Int: [UInt32]]] {
        var out: [Int: [Int: [UInt32]]] = [:]
        for step in steps {
            let batch = step.map { BatchToken(token: $0.1, position: $0.2, sequence: $0.0, wantLogits: $0.3) }
            model.forward(batch, blockTables: tables, kv: kv) { i, logits in
                out[batch[i].sequence, default: [:]][batch[i].position] = logits.map(\.bitPattern)
            }
        }
        return out
    }

    @Test(arguments: architectures)
    func logitsDoNotDependOnTheBatch(_ arch: String) throws {
        let model = try load(arch)
        let blockSize = 4
        let prompt = tokens(1, 21)  // long enough to pass Gemma's 8-position window
        let other = tokens(2, 13), third = tokens(3, 30)

        // Alone: the prompt in one batch, every position's logits wanted.
        let kv1 = try KVPool(blockCount: 8, blockSize: blockSize, config: model.config)
        let alone = run(model, kv: kv1, tables: [(0..<8).map(Int32.init)],
                        steps: [prompt.enumerated().map { (0, $0.element, $0.offset, true) }])[0]!

        // Shared: chunks of 5, interleaved with two other sequences at other positions,
        // and its blocks scattered through a larger pool in reverse order.
        let kv2 = try KVPool(blockCount: 40, blockSize: blockSize, config: model.config)
        let tables: [[Int32]] = [[3, 1, 2, 0, 7, 6, 5, 4], [39, 38, 37, 36], (8..<16).map(Int32.init)]
        var steps: [[(Int, Int32, Int, Bool)]] = []
        var p0 = 0, p1 = 0, p2 = 0
        while p0 < prompt.count {
            var step: [(Int, Int32, Int, Bool)] = []
            for _ in 0..<3 where p2 < third.count { step.append((2, third[p2], p2, p2 % 2 == 0)); p2 += 1 }
            for _ in 0..<5 where p0 < prompt.count { step.append((0, prompt[p0], p0, true)); p0 += 1 }
            if p1 < other.count { step.append((1, other[p1], p1, true)); p1 += 1 }
            steps.append(step.shuffled(using: &rngForShuffle))
        }
        let shared = run(model, kv: kv2, tables: tables, steps: steps)[0]!
        #expect(alone.count == prompt.count)
        for pos in 0..<prompt.count {
            #expect(alone[pos] == shared[pos], "\(arch): logits at position \(pos) differ")
        }
        // Decode steps one token at a time give the same logits as the prefill did.
        let kv3 = try KVPool(blockCount: 8, blockSize: blockSize, config: model.config)
        let oneByOne = run(model, kv: kv3, tables: [(0..<8).map(Int32.init)],
                           steps: prompt.enumerated().map { [(0, $0.element, $0.offset, true)] })[0]!
        for pos in 0..<prompt.count { #expect(alone[pos] == oneByOne[pos], "\(arch): decode step \(pos) differs from prefill") }
    }

    @Test(arguments: architectures)
    func logitsAreFiniteAndVaried(_ arch: String) throws {
        let model = try load(arch)
        let kv = try KVPool(blockCount: 4, blockSize: 4, config: model.config)
        var rows: [[Float]] = []
        model.forward(tokens(9, 10).enumerated().map { BatchToken(token: $0.element, position: $0.offset, sequence: 0, wantLogits: true) },
                      blockTables: [[0, 1, 2, 3]], kv: kv) { _, l in rows.append(Array(l)) }
        #expect(rows.count == 10)
        #expect(rows.allSatisfy { $0.allSatisfy(\.isFinite) })
        #expect(rows[0] != rows[1])
    }

    @Test func missingTensorsAndUnsupportedTypesAreNamed() throws {
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        for (k, v) in [("block_count", 1), ("context_length", 64), ("embedding_length", 32), ("feed_forward_length", 32), ("attention.head_count", 2)] {
            w.set("llama.\(k)", .uint32(UInt32(v)))
        }
        w.set("tokenizer.ggml.tokens", .array(.string, (0..<4).map { .string("t\($0)") }))
        w.addTensor("token_embd.weight", shape: [32, 4], type: .iq4_NL, data: [UInt8](repeating: 0, count: 4 * 18))
        let file = try GGUFFile(bytes: w.write(), name: "m.gguf")
        do {
            _ = try ModelWeights(file: file)
            Issue.record("an IQ4_NL embedding must be refused")
        } catch {
            #expect(error.description.contains("token_embd.weight is type IQ4_NL"))
        }
    }
}

nonisolated(unsafe) var rngForShuffle = SplitMix64(seed: 77)
