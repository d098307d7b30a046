/// Decides, step by step, which sequences run and how many of their tokens: one decode
/// token for every running sequence first, then chunked prefill of the running and waiting
/// sequences, first come first served, within the token budget. It owns the block manager
/// and takes or returns blocks as sequences grow, finish or are preempted.
///
/// Knows nothing of weights or logits. Confined to the engine thread.
final class Scheduler {
    struct Work {
        let sequence: Sequence
        let start: Int
        let count: Int
    }

    let blocks: BlockManager
    /// Copies every position's keys and values of one block into another (the runtime's).
    let copyBlock: (_ source: Int32, _ destination: Int32) -> Void
    let tokenBudget: Int
    let maxRunning: Int
    private(set) var waiting: [Sequence] = []
    private(set) var running: [Sequence] = []
    private var admissions = 0
    private(set) var preemptions = 0
    /// Cached blocks copied for the leading positions a prompt shares with them.
    private(set) var partialCopies = 0
    /// Sequences the pool could not grow even alone; the engine ends them with `length`.
    private(set) var exhausted: [Sequence] = []

    init(blocks: BlockManager, tokenBudget: Int, maxRunning: Int, copyBlock: @escaping (Int32, Int32) -> Void) {
        self.blocks = blocks
        self.copyBlock = copyBlock
        self.tokenBudget = tokenBudget
        self.maxRunning = maxRunning
    }

    var blockSize: Int { blocks.blockSize }
    var isIdle: Bool { waiting.isEmpty && running.isEmpty }

    func enqueue(_ s: Sequence) { waiting.append(s) }

    /// Removes a sequence wherever it is and returns its blocks.
    func remove(_ s: Sequence) {
        if let i = running.firstIndex(where: { $0 === s }) { running.remove(at: i) }
        if let i = waiting.firstIndex(where: { $0 === s }) { waiting.remove(at: i) }
        releaseBlocks(s)
    }

    // MARK: - One step

    /// `prefillAllowance(decoding)`: the most prefill tokens a step with that many decode
    /// tokens may add (nil: the token budget is the only limit).
    func schedule(prefillAllowance: (Int) -> Int? = { _ in nil }) -> [Work] {
        exhausted.removeAll()
        var work: [Work] = []
        var budget = tokenBudget

        // Decode: one token for each running sequence whose prompt is done.
        var i = 0
        while i < running.count && budget > 0 {
            let s = running[i]
            guard s.pending == 1 else { i += 1; continue }
            if grow(s, to: s.computed + 1) {
                work.append(Work(sequence: s, start: s.computed, count: 1))
                budget -= 1
                i += 1
                continue
            }
            // The pool is full: preempt the newest sequence (possibly s itself).
            if running.count == 1 {
                running.remove(at: i)
                exhausted.append(s)
                continue
            }
            let victim = running.max { $0.admission < $1.admission }!
            preempt(victim)
            work.removeAll { $0.sequence === victim }
            if victim === s { continue }
            i = running.firstIndex { $0 === s }!
        }

        // Prefill: running sequences part-way through their prompt, then waiting ones, in
        // chunks small enough that the decoding sequences are not held up for long.
        if !work.isEmpty, let allowance = prefillAllowance(work.count) { budget = min(budget, allowance) }
        for s in running where s.pending > 1 && budget > 0 {
            let chunk = affordableChunk(s, min(s.pending, budget))
            guard chunk > 0 else { continue }
            work.append(Work(sequence: s, start: s.computed, count: chunk))
            budget -= chunk
        }
        var w = 0
        while w < waiting.count && budget > 0 && running.count < maxRunning {
            let s = waiting[w]
            guard s.ready else { w += 1; continue }
            let found = reuseCachedPrefix(s)
            let chunk = affordableChunk(s, min(s.pending, budget))
            guard chunk > 0 else {
                releaseBlocks(s)
                break
            }
            if s.request.cachedPromptTokens == nil && s.choice == 0 { s.request.cachedPromptTokens = min(found, s.promptCount) }
            waiting.remove(at: w)
            admissions += 1
            s.admission = admissions
            running.append(s)
            work.append(Work(sequence: s, start: s.computed, count: chunk))
            budget -= chunk
        }

        // Every running sequence stuck part-way with the pool full: preempt the newest so the
        // others can finish.
        if work.isEmpty && !running.isEmpty && exhausted.isEmpty {
            let victim = running.max { $0.admission < $1.admission }!
            if running.count == 1 {
                running.removeAll()
                exhausted.append(victim)
            } else {
                preempt(victim)
                return schedule(prefillAllowance: prefillAllowance)
            }
        }
        return work
    }

    /// After the forward pass: the work's tokens are in the cache; full blocks join the
    /// prefix cache.
    func completed(_ w: Work) {
        let s = w.sequence
        s.computed = w.start + w.count
        if s.computed >= s.promptCount { s.promptDone = true }
        let bs = blockSize
        while s.blockHashes.count < s.computed / bs {
            let j = s.blockHashes.count
            let tokens = s.tokens[(j * bs)..<((j + 1) * bs)]
            let parentHash = j > 0 ? s.blockHashes[j - 1] : 0
            let h = BlockManager.hash(parent: parentHash, tokens: tokens)
            blocks.register(s.blocks[j], hash: h, tokens: tokens, parent: j > 0 ? s.blocks[j - 1] : -1)
            s.blockHashes.append(h)
        }
    }

    // MARK: - Blocks

    /// Takes cached blocks for the longest cached prefix, leaving at least one token to
    /// compute (its logits choose the next token); then, where a cached block begins like the
    /// rest of the prompt, a copy of it, keeping the positions that match. Returns the tokens
    /// found.
    private func reuseCachedPrefix(_ s: Sequence) -> Int {
        precondition(s.computed == 0 && s.blocks.isEmpty)
        if s.request.request.promptLogprobs { return 0 }  // every prompt position must be computed
        let bs = blockSize
        let usable = s.tokens.count - 1
        var parentHash: UInt64 = 0
        while (s.blocks.count + 1) * bs <= usable {
            let j = s.blocks.count
            let tokens = s.tokens[(j * bs)..<((j + 1) * bs)]
            let h = BlockManager.hash(parent: parentHash, tokens: tokens)
            guard let b = blocks.lookup(hash: h, tokens: tokens, parent: j > 0 ? s.blocks[j - 1] : -1) else { break }
            s.blocks.append(b)
            s.blockHashes.append(h)
            parentHash = h
        }
        let j = s.blocks.count
        s.computed = j * bs
        let rest = s.tokens[(j * bs)..<min((j + 1) * bs, usable)]
        if !rest.isEmpty, let (source, count) = blocks.partialMatch(parent: j > 0 ? s.blocks[j - 1] : -1, tokens: rest),
           let b = blocks.allocate() {
            // Taking the last free block may have evicted the source itself: its content is
            // still there, now owned.
            if b != source { copyBlock(source, b) }
            s.blocks.append(b)
            s.computed += count
            partialCopies += 1
        }
        return s.computed
    }

    /// Makes `s`'s blocks cover positions below `positions`; false (taking nothing) if the
    /// pool cannot.
    private func grow(_ s: Sequence, to positions: Int) -> Bool {
        let needed = (positions + blockSize - 1) / blockSize - s.blocks.count
        guard needed > 0 else { return true }
        guard needed <= blocks.freeCount else { return false }
        for _ in 0..<needed { s.blocks.append(blocks.allocate()!) }
        return true
    }

    /// The largest part of `wanted` tokens whose blocks the pool can provide; takes them.
    private func affordableChunk(_ s: Sequence, _ wanted: Int) -> Int {
        let room = (s.blocks.count + blocks.freeCount) * blockSize - s.computed
        let chunk = max(0, min(wanted, room))
        if chunk > 0 { _ = grow(s, to: s.computed + chunk) }
        return chunk
    }

    private func releaseBlocks(_ s: Sequence) {
        blocks.release(s.blocks)
        s.blocks.removeAll()
        s.blockHashes.removeAll()
        s.computed = 0
        s.pendingPromptLogprobs.removeAll()
    }

    /// Frees a running sequence's blocks and puts it back at the front of the queue; it is
    /// recomputed (from the prefix cache where its blocks survive) when admitted again.
    private func preempt(_ s: Sequence) {
        running.removeAll { $0 === s }
        releaseBlocks(s)
        waiting.insert(s, at: 0)
        preemptions += 1
    }

    /// Checks that the blocks the sequences hold are exactly the ones the manager counts as
    /// owned; for tests.
    func inconsistency() -> String? {
        if let m = blocks.inconsistency() { return m }
        var held: [Int32: Int] = [:]
        for s in running + waiting { for b in s.blocks { held[b, default: 0] += 1 } }
        for s in waiting where !s.blocks.isEmpty { return "waiting sequence holds \(s.blocks.count) blocks" }
        if held.count != blocks.ownedCount { return "sequences hold \(held.count) blocks, manager owns \(blocks.ownedCount)" }
        for (b, n) in held where blocks.references(b) != n { return "block \(b): \(n) holders, \(blocks.references(b)) references" }
        for s in running where s.blocks.count * blockSize < s.computed { return "sequence computed \(s.computed) beyond its blocks" }
        return nil
    }
}
