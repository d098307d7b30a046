import CKernels
import Foundation

/// One token of a batch: which sequence it belongs to, its position there, and whether its
/// next-token logits are wanted.
public struct BatchToken: Sendable {
    public var token: Int32
    public var position: Int
    /// Index into the block tables passed with the batch.
    public var sequence: Int
    public var wantLogits: Bool

    public init(token: Int32, position: Int, sequence: Int, wantLogits: Bool) {
        self.token = token
        self.position = position
        self.sequence = sequence
        self.wantLogits = wantLogits
    }
}

/// The batched forward pass over a paged KV cache. The same call serves prefill, chunked
/// prefill, decode steps of many sequences and any mixture. Every per-token computation
/// (norms, each dot product, RoPE, attention over the token's own sequence) runs the same
/// operations in the same order whatever the batch holds, so a sequence's logits are bitwise
/// identical however it is batched, chunked, or placed in the pool.
///
/// Confined to one caller thread (the engine thread); buffers are sized once at init.
public final class Model: @unchecked Sendable {
    public let weights: ModelWeights
    public let config: ModelConfig
    public let maxBatchTokens: Int
    public let maxContext: Int
    let pool: ThreadPool
    /// Jobs the thread pool has run on the calling thread alone, the machine being crowded.
    public var jobsRunAlone: Int { pool.jobsRunAlone }

    // Activations, [maxBatchTokens, width] each.
    private let x, h, q, k, v, attn, gate, up: UnsafeMutablePointer<Float>
    // Per-part scratch for attention scores.
    private let scoreScratch: UnsafeMutablePointer<Float>
    /// Each batch token's rope angles (ck_rope_angles), then again at the sliding-window base
    /// (`ropeAngles(slidingWindow:)` says where each lies).
    private let ropeAngles: UnsafeMutablePointer<Float>
    /// The sliding-window layers' rope base, when the model has such layers.
    private let ropeBaseSWA: Float?
    /// matmulPlan's plans, by each group's first matrix and the pool's width (touched by the
    /// engine thread only).
    private var matmulPlans: [PlanKey: MatmulPlan] = [:]
    private struct PlanKey: Hashable {
        let first: UnsafeRawPointer
        let width: Int
    }
    /// Token-by-token work (embedding, norms, activation quantization, RoPE with the KV write,
    /// SwiGLU) goes to the pool only in parts of at least this many elements: a decode step's
    /// few tokens are done sooner by the engine thread alone than split, since each pooled job
    /// costs a hand-off and a wait, and a step has about seven such small jobs a layer.
    static let elementsPerPart = 8192
    /// Attention jobs for a pool `width` threads wide: four a thread, so that they come out about
    /// even whatever the sequences' lengths.
    private static func attentionJobs(width: Int) -> Int { max(width, 1) * 4 }
    /// Tokens a part for token-by-token work on `width` elements each.
    private func tokensPerPart(_ width: Int) -> Int { max(1, Self.elementsPerPart / max(1, width)) }
    /// Logit rows computed at a time: sixteen decoding sequences read the output matrix (the
    /// largest) once a step.
    public let logitRowsPerPass = 16
    private let logits: UnsafeMutablePointer<Float>
    /// Activations quantized for the weights' dot products (ggml's vec_dot_type): one buffer
    /// per distinct format among the matrices that share an input.
    private let quantized: [UnsafeMutableRawPointer]
    private let quantizedBytes: Int
    /// Copies of the matrices whose type is repacked into tiles of eight rows (ck_pack),
    /// keyed by the matrix's data in the file.
    private let packed: [UnsafeRawPointer: UnsafeMutableRawPointer]
    /// Bytes of those copies (weights, held in anonymous memory).
    public let packedBytes: Int

    public init(weights: ModelWeights, maxBatchTokens: Int = 512, maxContext: Int? = nil, pool: ThreadPool) {
        self.weights = weights
        let c = weights.config
        self.config = c
        self.maxBatchTokens = maxBatchTokens
        self.maxContext = min(maxContext ?? c.nCtxTrain, c.nCtxTrain)
        self.pool = pool
        let qDim = c.nHead * c.headDim, kvDim = c.nHeadKV * max(c.headDim, c.headDimV), oDim = c.nHead * c.headDimV
        func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        x = buffer(maxBatchTokens * c.nEmbd)
        h = buffer(maxBatchTokens * max(c.nEmbd, oDim))
        q = buffer(maxBatchTokens * qDim)
        k = buffer(maxBatchTokens * kvDim)
        v = buffer(maxBatchTokens * kvDim)
        attn = buffer(maxBatchTokens * oDim)
        gate = buffer(maxBatchTokens * c.nFF)
        up = buffer(maxBatchTokens * c.nFF)
        scoreScratch = buffer(Self.attentionJobs(width: pool.threads) * self.maxContext * max(1, c.nHead / c.nHeadKV))
        logits = buffer(logitRowsPerPass * c.nVocab)
        ropeAngles = buffer(2 * maxBatchTokens * max(c.nRot, 2))
        ropeBaseSWA = (0..<c.nLayer).contains { c.isSlidingWindowLayer($0) } ? c.ropeFreqBaseSWA : nil
        let qBytes = maxBatchTokens * max(c.nEmbd, c.nFF, oDim, qDim) * 4
        quantizedBytes = qBytes
        quantized = (0..<3).map { _ in UnsafeMutableRawPointer.allocate(byteCount: qBytes, alignment: 64) }
        var packed: [UnsafeRawPointer: UnsafeMutableRawPointer] = [:]
        for w in Self.packedMatrices(weights) {
            let copy = UnsafeMutableRawPointer.allocate(byteCount: Self.packedBytes(w), alignment: 64)
            // The tiles follow one another in the copy, so each thread packs a run of them.
            let tileBytes = ck_packed_bytes(w.type.rawValue, 8, Int64(w.cols))
            pool.parallelFor(w.rows / 8) { tiles in
                _ = ck_pack(w.type.rawValue, w.data + tiles.lowerBound * 8 * w.rowBytes, w.rowBytes, Int64(tiles.count * 8),
                            Int64(w.cols), copy + tiles.lowerBound * tileBytes)
            }
            packed[w.data] = copy
        }
        self.packed = packed
        packedBytes = Self.packedBytes(weights)
    }

    /// The matrices a Model repacks into 8-row tiles at load (each once, however often shared).
    static func packedMatrices(_ weights: ModelWeights) -> [Matrix] {
        var seen = Set<UnsafeRawPointer>()
        let all = weights.layers.flatMap { [$0.wq, $0.wk, $0.wv, $0.wo, $0.wGate, $0.wUp, $0.wDown] } + [weights.output]
        return all.filter { packedBytes($0) > 0 && seen.insert($0.data).inserted }
    }

    private static func packedBytes(_ w: Matrix) -> Int { ck_packed_bytes(w.type.rawValue, Int64(w.rows), Int64(w.cols)) }

    /// Memory a Model of these weights allocates for its tiles, beyond the mapped file.
    public static func packedBytes(_ weights: ModelWeights) -> Int { packedMatrices(weights).reduce(0) { $0 + packedBytes($1) } }

    deinit {
        for p in [x, h, q, k, v, attn, gate, up, scoreScratch, logits, ropeAngles] { p.deallocate() }
        for p in quantized { p.deallocate() }
        for p in packed.values { p.deallocate() }
        for plan in matmulPlans.values { plan.parts.deallocate() }
    }

    /// Where the batch tokens' rope angles for the ordinary or the sliding-window layers start.
    private func ropeAngles(slidingWindow: Bool) -> UnsafeMutablePointer<Float> {
        ropeAngles + (slidingWindow ? maxBatchTokens * config.nRot : 0)
    }

    /// Runs the batch. KV of every token is written to the cache; `onLogits(i, row)` is called
    /// for each token with `wantLogits`, in batch order (`i` is its index in `batch`).
    public func forward(_ batch: [BatchToken], blockTables: [[Int32]], kv: KVPool,
                        onLogits: (Int, UnsafeBufferPointer<Float>) -> Void) {
        let n = batch.count
        precondition(n > 0 && n <= maxBatchTokens, "batch of \(n) tokens; at most \(maxBatchTokens)")
        let c = config
        let nEmbd = c.nEmbd, hd = c.headDim, hdv = c.headDimV
        let qDim = c.nHead * hd, kvDim = c.nHeadKV * hd, vDim = c.nHeadKV * hdv, oDim = c.nHead * hdv
        let gemma = c.architecture == .gemma3
        let neox: Int32 = c.architecture == .llama ? 0 : 1
        for t in batch {
            precondition(t.position < maxContext && t.position / kv.blockSize < blockTables[t.sequence].count, "position beyond the block table")
        }
        let (x, h, q, k, v, attn, gate, up) = (self.x, self.h, self.q, self.k, self.v, self.attn, self.gate, self.up)

        // MARK: Embedding
        let embd = weights.tokenEmbedding
        let embedScale = gemma ? Float(nEmbd).squareRoot() : 1
        let angles = ropeAngles(slidingWindow: false), anglesSWA = ropeAngles(slidingWindow: true), swaBase = ropeBaseSWA
        pool.parallelFor(n, minimumPerPart: tokensPerPart(nEmbd)) { r in
            for it in r {
                let dst = x + it * nEmbd
                Quant.dequantize(embd.type, embd.data + Int(batch[it].token) * embd.rowBytes, dst, count: nEmbd)
                if embedScale != 1 { for i in 0..<nEmbd { dst[i] *= embedScale } }
                // Each token's rotation, for every layer and head (sliding-window layers' base second).
                let pos = Int64(batch[it].position)
                self.weights.ropeFreqFactors.withOptionalPointer { f in
                    ck_rope_angles(Int64(c.nRot), pos, c.ropeFreqBase, c.ropeScale, f, angles + it * c.nRot)
                    if let b = swaBase { ck_rope_angles(Int64(c.nRot), pos, b, c.ropeScale, f, anglesSWA + it * c.nRot) }
                }
            }
        }

        for (il, L) in weights.layers.enumerated() {
            // MARK: Attention
            rmsNorm(x, L.attnNorm, into: h, width: nEmbd, tokens: n)
            matmul([(L.wq, q), (L.wk, k), (L.wv, v)], h, n)
            let swa = c.isSlidingWindowLayer(il)
            let angles = ropeAngles(slidingWindow: swa)
            pool.parallelFor(n, minimumPerPart: tokensPerPart(qDim + kvDim + vDim)) { r in
                for it in r {
                    let qt = q + it * qDim, kt = k + it * kvDim, vt = v + it * vDim
                    if let b = L.bq { for i in 0..<qDim { qt[i] += b[i] } }
                    if let b = L.bk { for i in 0..<kvDim { kt[i] += b[i] } }
                    if let b = L.bv { for i in 0..<vDim { vt[i] += b[i] } }
                    if let w = L.qNorm { for ih in 0..<c.nHead { ck_rms_norm(qt + ih * hd, w, qt + ih * hd, Int64(hd), c.rmsNormEps) } }
                    if let w = L.kNorm { for ih in 0..<c.nHeadKV { ck_rms_norm(kt + ih * hd, w, kt + ih * hd, Int64(hd), c.rmsNormEps) } }
                    let cs = angles + it * c.nRot
                    for ih in 0..<c.nHead { ck_rope(qt + ih * hd, Int64(c.nRot), cs, neox) }
                    for ih in 0..<c.nHeadKV { ck_rope(kt + ih * hd, Int64(c.nRot), cs, neox) }
                    // Into the cache: keys and values are read back from it (as F16) by every token.
                    let entry = batch[it]
                    let block = Int(blockTables[entry.sequence][entry.position / kv.blockSize])
                    let slot = entry.position % kv.blockSize
                    for ih in 0..<c.nHeadKV {
                        ck_fp32_to_fp16_row(kt + ih * hd, kv.base(block: block, layer: il, kv: 0, head: ih) + slot * kv.headWidth, Int64(hd))
                        ck_fp32_to_fp16_row(vt + ih * hdv, kv.base(block: block, layer: il, kv: 1, head: ih) + slot * kv.headWidth, Int64(hdv))
                    }
                }
            }
            // One (token, KV head) pair per unit of work: the query heads sharing a KV head
            // read each of its rows once (three heads cost about twice one, not three times).
            // When that leaves a thread without a unit (decode of one sequence with one KV
            // head), one (token, query head) pair per unit, so that every thread has work.
            // Each head computes the same either way.
            let scale = 1 / Float(hd).squareRoot()
            let groups = c.nHead / c.nHeadKV
            let window = swa ? c.slidingWindow : nil
            let width = pool.width
            let perHead = groups > 1 && n * c.nHeadKV < width
            let unitHeads = perHead ? 1 : groups, unitsPerToken = c.nHead / unitHeads
            let units = n * unitsPerToken
            let scoreStride = self.maxContext * groups
            // Longest contexts first, dealt round-robin over the jobs, so the jobs are about even.
            let order = units <= 1 ? Array(0..<units) : (0..<units).sorted { batch[$0 / unitsPerToken].position > batch[$1 / unitsPerToken].position }
            let jobs = min(Self.attentionJobs(width: width), units)
            pool.run(jobs) { part in
                let scores = self.scoreScratch + part * scoreStride
                for k in stride(from: part, to: units, by: jobs) {
                    let u = order[k]
                    let it = u / unitsPerToken, head = (u % unitsPerToken) * unitHeads, kvh = head / groups
                    let entry = batch[it]
                    let last = entry.position
                    let first = window.map { max(0, last - $0 + 1) } ?? 0
                    blockTables[entry.sequence].withUnsafeBufferPointer { table in
                        ck_attend_group(q + it * qDim + head * hd, Int64(unitHeads), Int64(hd), Int64(hdv), scale,
                                        kv.base(block: 0, layer: il, kv: 0, head: kvh), kv.base(block: 0, layer: il, kv: 1, head: kvh),
                                        table.baseAddress, Int64(kv.blockSize), Int64(kv.blockStride), Int64(kv.headWidth),
                                        Int64(first), Int64(last), scores, attn + it * oDim + head * hdv)
                    }
                }
            }
            matmul([(L.wo, h)], attn, n)
            if let w = L.postAttnNorm { rmsNorm(h, w, into: h, width: nEmbd, tokens: n) }
            add(h, into: x, width: nEmbd, tokens: n)

            // MARK: Feed-forward
            rmsNorm(x, L.ffnNorm, into: h, width: nEmbd, tokens: n)
            matmul([(L.wGate, gate), (L.wUp, up)], h, n)
            let nFF = c.nFF
            pool.parallelFor(n, minimumPerPart: tokensPerPart(nFF)) { r in
                for it in r {
                    let g = gate + it * nFF, u = up + it * nFF
                    if gemma { ck_geglu(g, u, g, Int64(nFF)) } else { ck_swiglu(g, u, g, Int64(nFF)) }
                }
            }
            matmul([(L.wDown, h)], gate, n)
            if let w = L.postFfnNorm { rmsNorm(h, w, into: h, width: nEmbd, tokens: n) }
            add(h, into: x, width: nEmbd, tokens: n)
        }

        // MARK: Output
        let wanted = batch.indices.filter { batch[$0].wantLogits }
        var start = 0
        while start < wanted.count {
            let group = Array(wanted[start..<min(wanted.count, start + logitRowsPerPass)])
            for (g, it) in group.enumerated() { ck_rms_norm(x + it * nEmbd, weights.outputNorm, h + g * nEmbd, Int64(nEmbd), c.rmsNormEps) }
            matmul([(weights.output, logits)], h, group.count)
            for (g, it) in group.enumerated() { onLogits(it, UnsafeBufferPointer(start: logits + g * c.nVocab, count: c.nVocab)) }
            start += logitRowsPerPass
        }
    }

    // MARK: - Operations

    /// out[t] = W · input[t] for each matrix and each of `tokens` tokens. The input rows are
    /// quantized once per activation format (as llama.cpp does), then output rows are split
    /// across the pool; every dot product is the same computation whatever the batch.
    func matmul(_ targets: [(Matrix, UnsafeMutablePointer<Float>)], _ input: UnsafeMutablePointer<Float>, _ tokens: Int) {
        let plan = matmulPlan(targets)
        let cols = targets[0].0.cols
        for (atype, buffer, rowBytes) in plan.inputs {
            precondition(rowBytes * tokens <= quantizedBytes)
            pool.parallelFor(tokens, minimumPerPart: tokensPerPart(cols)) { r in
                for it in r { ck_quantize_row(UInt32(atype), input + it * cols, buffer + it * rowBytes, Int64(cols)) }
            }
        }
        // The parts are plain values behind a pointer: a part takes no reference counts (atomic
        // operations on counts both threads touch were 2% of a four-sequence decode step).
        let parts = plan.parts.baseAddress!, n = Int64(cols), nt = Int64(tokens)
        pool.run(plan.parts.count) { i in
            let d = parts[i]
            if d.packable {
                _ = ck_matmul_packed(d.type, d.tiles, d.data, d.rowBytes, n, d.activations, d.activationRowBytes, nt, d.out, d.ldy, d.r0, d.r1)
            } else {
                _ = ck_matmul_q(d.type, d.data, d.rowBytes, n, d.activations, d.activationRowBytes, nt, d.out, d.ldy, d.r0, d.r1)
            }
        }
    }

    /// One part of a matmul job: rows [r0, r1) of one matrix, with everything the kernel needs.
    struct MatmulPart {
        let type: UInt32
        let packable: Bool
        let tiles: UnsafeRawPointer?
        let data: UnsafeRawPointer
        let rowBytes: Int
        let activations: UnsafeMutableRawPointer
        let activationRowBytes: Int
        let out: UnsafeMutablePointer<Float>
        let ldy, r0, r1: Int64
    }

    /// A group of matrices' matmul job: the activation formats to quantize the input into
    /// (ggml's vec_dot_type, one buffer each) and the parts: every matrix's rows in guided
    /// ranges (whole tiles of eight rows for packed types), largest first, all of them one job
    /// for the pool (one wait for the matrices together). The threads take the parts in order,
    /// so the last ones, which decide how long one thread waits for the other, are small.
    struct MatmulPlan {
        let inputs: [(atype: Int32, buffer: UnsafeMutableRawPointer, rowBytes: Int)]
        let parts: UnsafeMutableBufferPointer<MatmulPart>
        let outputs: [UnsafeMutablePointer<Float>]
    }

    /// The plan depends on the group's shapes and buffers only (each call site passes the same
    /// matrices and outputs) and on the pool's width, so each group (known by its first matrix)
    /// is planned once for each width (the pool's threads, and 1 while its caller runs alone).
    private func matmulPlan(_ targets: [(Matrix, UnsafeMutablePointer<Float>)]) -> MatmulPlan {
        let key = PlanKey(first: targets[0].0.data, width: pool.width)
        if let plan = matmulPlans[key] {
            assert(plan.outputs == targets.map(\.1), "matmul: a group planned with other outputs")
            return plan
        }
        let cols = targets[0].0.cols
        var inputs: [(atype: Int32, buffer: UnsafeMutableRawPointer, rowBytes: Int)] = []
        var parts: [MatmulPart] = []
        for (w, out) in targets {
            let atype = ck_vec_dot_type(w.type.rawValue)
            precondition(atype >= 0 && w.cols == cols, "matmul: unsupported type \(w.type.name) for \(w.name)")
            if !inputs.contains(where: { $0.atype == atype }) {
                inputs.append((atype, quantized[inputs.count], ck_row_bytes(UInt32(atype), Int64(cols))))
            }
            let input = inputs.first { $0.atype == atype }!
            let packable = ck_packable(w.type.rawValue) != 0
            for rows in pool.guidedRanges(w.rows, unit: packable ? 8 : 1, width: key.width) {
                parts.append(MatmulPart(type: w.type.rawValue, packable: packable, tiles: packed[w.data].map { UnsafeRawPointer($0) },
                                        data: w.data, rowBytes: w.rowBytes, activations: input.buffer, activationRowBytes: input.rowBytes,
                                        out: out, ldy: Int64(w.rows), r0: Int64(rows.lowerBound), r1: Int64(rows.upperBound)))
            }
        }
        parts.sort { $0.r1 - $0.r0 > $1.r1 - $1.r0 }
        let buffer = UnsafeMutableBufferPointer<MatmulPart>.allocate(capacity: parts.count)
        _ = buffer.initialize(from: parts)
        let plan = MatmulPlan(inputs: inputs, parts: buffer, outputs: targets.map(\.1))
        matmulPlans[key] = plan
        return plan
    }

    func rmsNorm(_ input: UnsafeMutablePointer<Float>, _ w: [Float], into out: UnsafeMutablePointer<Float>, width: Int, tokens: Int) {
        let eps = config.rmsNormEps
        w.withUnsafeBufferPointer { wp in
            let wb = wp.baseAddress!
            pool.parallelFor(tokens, minimumPerPart: tokensPerPart(width)) { r in
                for it in r { ck_rms_norm(input + it * width, wb, out + it * width, Int64(width), eps) }
            }
        }
    }

    func add(_ src: UnsafeMutablePointer<Float>, into dst: UnsafeMutablePointer<Float>, width: Int, tokens: Int) {
        for i in 0..<(width * tokens) { dst[i] += src[i] }
    }
}

extension Optional where Wrapped == [Float] {
    func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .some(let a): return a.withUnsafeBufferPointer { body($0.baseAddress) }
        case .none: return body(nil)
        }
    }
}
