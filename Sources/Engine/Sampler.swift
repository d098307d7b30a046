import CKernels
import Foundation
import Runtime

/// Chooses one choice's next tokens. Holds the choice's random generator and the counts the
/// penalties need, so its draws depend only on its own seed and history, never on what else
/// is in the batch.
///
/// Confined to the engine thread.
struct Sampler {
    let parameters: SamplingParameters
    private var rng: SplitMix64
    /// Generated tokens and how often each appeared (presence and frequency penalties).
    private var counts: [Int32: Int] = [:]
    /// Prompt and generated tokens (repetition penalty).
    private var seen: Set<Int32>

    init(parameters: SamplingParameters, seed: UInt64, prompt: [Int32]) {
        self.parameters = parameters
        rng = SplitMix64(seed: seed)
        seen = parameters.repetitionPenalty != 1 ? Set(prompt) : []
    }

    mutating func accept(_ token: Int32) {
        counts[token, default: 0] += 1
        if parameters.repetitionPenalty != 1 { seen.insert(token) }
    }

    /// Picks a token from one row of logits. `scratch` is reused across calls.
    mutating func sample(_ logits: UnsafeBufferPointer<Float>, scratch: SamplerScratch) -> Int32 {
        let p = parameters
        let n = logits.count
        scratch.reserve(n)
        let z = scratch.values
        z.update(from: logits.baseAddress!, count: n)
        for (t, b) in p.logitBias where Int(t) < n { z[Int(t)] += b }
        // MARK: Penalties (llama.cpp: repetition first, then frequency and presence)
        if p.repetitionPenalty != 1 {
            let r = Float(p.repetitionPenalty)
            for t in seen where Int(t) < n { let i = Int(t); z[i] = z[i] > 0 ? z[i] / r : z[i] * r }
        }
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            for (t, c) in counts where Int(t) < n {
                z[Int(t)] -= Float(Double(c) * p.frequencyPenalty + p.presencePenalty)
            }
        }
        // MARK: Greedy: the highest logit, the lowest id among ties
        if p.temperature == 0 { return Int32(ck_argmax(z, Int64(n))) }
        // MARK: Candidates: top-k (all when 0), in descending order when ordered
        // Taken out of the scratch so they are uniquely referenced and reuse their storage.
        var candidates = scratch.candidates
        scratch.candidates = []
        candidates.removeAll(keepingCapacity: true)
        let all = !(p.topK > 0 && p.topK < n)
        var zmax = -Float.infinity
        if all {
            candidates.append(contentsOf: 0..<Int32(n))
            zmax = z[Int(ck_argmax(z, Int64(n)))]
        } else {
            candidates.append(contentsOf: Self.topK(z, n, p.topK))
            for i in candidates where z[Int(i)] > zmax { zmax = z[Int(i)] }
        }
        // Weights relative to the best token, at the given temperature (in float, vectorized:
        // a vocabulary of 150,000 in double precision one at a time was a sixth of a decode step).
        var weights = scratch.weights
        scratch.weights = []
        weights.removeAll(keepingCapacity: true)
        weights.append(contentsOf: repeatElement(0, count: candidates.count))
        var total = weights.withUnsafeMutableBufferPointer { w in
            candidates.withUnsafeBufferPointer { c in
                ck_exp_weights(z, all ? nil : c.baseAddress, Int64(c.count), zmax, Float(1 / p.temperature), w.baseAddress)
            }
        }
        // MARK: min-p: drop tokens less likely than min_p times the best one (whose weight is 1)
        if p.minP > 0 {
            var k = 0
            total = 0
            for j in 0..<candidates.count where weights[j] >= p.minP {
                candidates[k] = candidates[j]; weights[k] = weights[j]; total += weights[j]; k += 1
            }
            candidates.removeLast(candidates.count - k)
            weights.removeLast(weights.count - k)
        }
        // MARK: top-p: the smallest set of most likely tokens holding top_p of the mass
        if p.topP < 1 {
            let target = p.topP * total
            // Only tokens above a threshold need sorting; lower it until they hold the target.
            var threshold = 1e-3
            var order: [Int] = []
            while true {
                order = weights.indices.filter { weights[$0] >= threshold }
                if order.map({ weights[$0] }).reduce(0, +) >= target || threshold == 0 { break }
                threshold = threshold < 1e-12 ? 0 : threshold * 1e-3
            }
            order.sort { weights[$0] > weights[$1] || (weights[$0] == weights[$1] && candidates[$0] < candidates[$1]) }
            var kept: [Int32] = [], keptW: [Double] = []
            var sum = 0.0
            for j in order {
                kept.append(candidates[j]); keptW.append(weights[j]); sum += weights[j]
                if sum >= target { break }
            }
            candidates = kept
            weights = keptW
            total = sum
        }
        // MARK: Draw
        var r = Double(rng.next() >> 11) / Double(1 << 53) * total
        var chosen = candidates[candidates.count - 1]
        for j in 0..<candidates.count {
            r -= weights[j]
            if r < 0 { chosen = candidates[j]; break }
        }
        scratch.candidates = candidates
        scratch.weights = weights
        return chosen
    }

    /// The log-probability of `token` under the raw logits, and the `k` most likely tokens'.
    static func logprobs(_ logits: UnsafeBufferPointer<Float>, token: Int32, top k: Int) -> TokenLogprobs {
        let n = logits.count
        var m = -Float.infinity
        for v in logits where v > m { m = v }
        var sum = 0.0
        for v in logits { sum += Foundation.exp(Double(v - m)) }
        let lse = Double(m) + Foundation.log(sum)
        func lp(_ i: Int32) -> Float { Float(Double(logits[Int(i)]) - lse) }
        let top = k > 0 ? topK(UnsafeMutablePointer(mutating: logits.baseAddress!), n, min(k, n)).map { TokenLogprobs.Candidate(id: $0, logprob: lp($0)) } : []
        return TokenLogprobs(logprob: lp(token), top: top)
    }

    /// The ids of the `k` highest values, highest first (lowest id among ties).
    static func topK(_ z: UnsafeMutablePointer<Float>, _ n: Int, _ k: Int) -> [Int32] {
        // A min-heap of the best k so far, keyed by (value, -id).
        var heap: [Int32] = []
        heap.reserveCapacity(k)
        func less(_ a: Int32, _ b: Int32) -> Bool { z[Int(a)] < z[Int(b)] || (z[Int(a)] == z[Int(b)] && a > b) }
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && less(heap[l], heap[m]) { m = l }
                if r < heap.count && less(heap[r], heap[m]) { m = r }
                if m == i { return }
                heap.swapAt(i, m)
                i = m
            }
        }
        for i in 0..<n {
            let id = Int32(i)
            if heap.count < k {
                heap.append(id)
                var c = heap.count - 1
                while c > 0 {
                    let parent = (c - 1) / 2
                    if less(heap[c], heap[parent]) { heap.swapAt(c, parent); c = parent } else { break }
                }
            } else if less(heap[0], id) {
                heap[0] = id
                siftDown(0)
            }
        }
        return heap.sorted { less($1, $0) }
    }
}

extension Sampler {
    /// Samples, then, if the constraint refuses the pick, samples again among the allowed
    /// tokens only. With nothing allowed the first pick stands (the constraint's owner ends
    /// the choice).
    mutating func sample(_ logits: UnsafeBufferPointer<Float>, scratch: SamplerScratch, constraint: TokenConstraint?) -> Int32 {
        let first = sample(logits, scratch: scratch)
        guard let constraint, !constraint.allows(first) else { return first }
        let allowed = constraint.allowedTokens()
        guard !allowed.isEmpty else { return first }
        scratch.reserveMasked(logits.count)
        let masked = scratch.masked
        for i in 0..<logits.count { masked[i] = -Float.infinity }
        for t in allowed where Int(t) < logits.count { masked[Int(t)] = logits[Int(t)] }
        return sample(UnsafeBufferPointer(start: masked, count: logits.count), scratch: scratch)
    }
}

/// Buffers the sampler reuses from step to step (one set per engine).
final class SamplerScratch {
    private(set) var values: UnsafeMutablePointer<Float>
    private var capacity: Int
    var candidates: [Int32] = []
    var weights: [Double] = []
    /// Logits with the refused tokens at -inf.
    private(set) var masked: UnsafeMutablePointer<Float>
    private var maskedCapacity = 1

    init(capacity: Int = 0) {
        self.capacity = max(1, capacity)
        values = .allocate(capacity: self.capacity)
        masked = .allocate(capacity: 1)
    }

    func reserveMasked(_ n: Int) {
        guard n > maskedCapacity else { return }
        masked.deallocate()
        masked = .allocate(capacity: n)
        maskedCapacity = n
    }

    func reserve(_ n: Int) {
        guard n > capacity else { return }
        values.deallocate()
        values = .allocate(capacity: n)
        capacity = n
    }

    deinit {
        values.deallocate()
        masked.deallocate()
    }
}
