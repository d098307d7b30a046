import Foundation
import GGUF
import Runtime
import Tokenization
import TestSupport
@testable import Engine

/// A runtime without weights for the engine's tests. Its "KV cache" stores token ids in the
/// blocks the engine hands it, and the logits for a position are a pseudo-random function
/// of every token read back through the block table. A block table pointing at the wrong
/// block, a cache hit serving other tokens, or a position skipped shows up as other tokens.
final class ScriptedRuntime: ForwardRuntime {
    let nVocab: Int
    let maxBatchTokens: Int
    let maxContext: Int
    let blockCount: Int
    let blockSize: Int
    private var slots: [Int32]
    private var row: [Float]
    private(set) var largestBatch = 0
    private(set) var copies = 0
    private(set) var problems: [String] = []

    init(nVocab: Int = TestVocabulary.size, maxBatchTokens: Int, maxContext: Int, blockCount: Int, blockSize: Int) {
        self.nVocab = nVocab
        self.maxBatchTokens = maxBatchTokens
        self.maxContext = maxContext
        self.blockCount = blockCount
        self.blockSize = blockSize
        slots = Array(repeating: -1, count: blockCount * blockSize)
        row = Array(repeating: 0, count: nVocab)
    }

    func forward(_ batch: [BatchToken], blockTables: [[Int32]], onLogits: (Int, UnsafeBufferPointer<Float>) -> Void) {
        largestBatch = max(largestBatch, batch.count)
        if batch.count > maxBatchTokens { problems.append("batch of \(batch.count) > \(maxBatchTokens)") }
        for t in batch {
            let table = blockTables[t.sequence]
            slots[Int(table[t.position / blockSize]) * blockSize + t.position % blockSize] = t.token
        }
        for (i, t) in batch.enumerated() where t.wantLogits {
            let table = blockTables[t.sequence]
            var history: [Int32] = []
            for p in 0...t.position { history.append(slots[Int(table[p / blockSize]) * blockSize + p % blockSize]) }
            if history.contains(-1) { problems.append("position never written in \(history)") }
            Self.logits(history, into: &row)
            row.withUnsafeBufferPointer { onLogits(i, $0) }
        }
    }

    func copyBlock(_ source: Int32, to destination: Int32) {
        if source == destination { problems.append("block \(source) copied onto itself") }
        let bs = blockSize
        for i in 0..<bs { slots[Int(destination) * bs + i] = slots[Int(source) * bs + i] }
        copies += 1
    }

    /// The logits after `history`: pseudo-random in [0, 8), a function of the history only.
    static func logits(_ history: [Int32], into row: inout [Float]) {
        var h: UInt64 = 1469598103934665603
        for t in history { h = (h ^ UInt64(UInt32(bitPattern: t))) &* 1099511628211 }
        var rng = SplitMix64(seed: h)
        for v in row.indices { row[v] = Float(rng.next() >> 40) / Float(1 << 24) * 8 }
    }
}

/// A 64-token byte-level vocabulary: letters, digits, space (`Ġ`) and `<|end|>` (id 63),
/// which ends generation.
enum TestVocabulary {
    static let size = 64
    static let end: Int32 = 63

    static let tokenizer: Tokenizer = {
        var tokens: [String] = []
        for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" { tokens.append(String(c)) }
        tokens.append("Ġ")
        tokens.append("<|end|>")
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) }))
        let file = try! GGUFFile(bytes: w.write())
        return try! Tokenizer(file: file)
    }()
}

/// Collects a request's events, checking their order as they come.
final class Recorder: @unchecked Sendable {
    // Guarded by lock (events arrive on the engine thread).
    private let lock = NSLock()
    private(set) var tokens: [[Int32]]
    private(set) var texts: [String]
    private(set) var reasons: [FinishReason?]
    private(set) var usage: Usage?
    private(set) var problems: [String] = []

    init(n: Int) {
        tokens = Array(repeating: [], count: n)
        texts = Array(repeating: "", count: n)
        reasons = Array(repeating: nil, count: n)
    }

    var sink: EngineSink { { [self] event in record(event) } }

    var isComplete: Bool { lock.withLock { usage != nil } }

    private func record(_ event: EngineEvent) {
        lock.withLock {
            if usage != nil { problems.append("event after completion: \(event)") }
            switch event {
            case let .token(choice, id, text, _):
                if reasons[choice] != nil { problems.append("token after finish in choice \(choice)") }
                tokens[choice].append(id)
                texts[choice] += text
            case let .finished(choice, reason, text):
                if reasons[choice] != nil { problems.append("choice \(choice) finished twice") }
                reasons[choice] = reason
                texts[choice] += text
            case .promptLogprobs:
                break
            case .completed(let u):
                if reasons.contains(where: { $0 == nil }) { problems.append("completed before every choice finished") }
                usage = u
            }
        }
    }
}
