import GGUF

/// Small random models of each architecture, written as GGUF by the tests, so the runtime's
/// batching and architecture code is tested without downloads.
public enum SyntheticModel {
    public static let nEmbd = 64, nHead = 4, nHeadKV = 2, headDim = 16, nFF = 96, nLayer = 2, nVocab = 128

    /// A model of `arch` (llama, qwen2, qwen3, gemma3). Gemma's sliding window is 8
    /// positions, so tests with longer sequences exercise it.
    public static func gguf(arch: String, seed: UInt64 = 1) -> [UInt8] {
        var rng = SplitMix64(seed: seed)
        func uniform(_ scale: Float) -> Float { (Float(rng.next() % 20001) / 10000 - 1) * scale }
        var w = GGUFWriter()
        w.set("general.architecture", .string(arch))
        w.set("general.name", .string("synthetic-\(arch)"))
        w.set("\(arch).block_count", .uint32(UInt32(nLayer)))
        w.set("\(arch).context_length", .uint32(512))
        w.set("\(arch).embedding_length", .uint32(UInt32(nEmbd)))
        w.set("\(arch).feed_forward_length", .uint32(UInt32(nFF)))
        w.set("\(arch).attention.head_count", .uint32(UInt32(nHead)))
        w.set("\(arch).attention.head_count_kv", .uint32(UInt32(nHeadKV)))
        w.set("\(arch).attention.key_length", .uint32(UInt32(headDim)))
        w.set("\(arch).attention.value_length", .uint32(UInt32(headDim)))
        w.set("\(arch).attention.layer_norm_rms_epsilon", .float32(1e-6))
        w.set("\(arch).rope.freq_base", .float32(10_000))
        if arch == "gemma3" { w.set("gemma3.attention.sliding_window", .uint32(8)) }
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.tokens", .array(.string, (0..<nVocab).map { .string("t\($0)") }))

        func f32(_ name: String, _ values: [Float], shape: [Int]) {
            w.addTensor(name, shape: shape, type: .f32, data: values.flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } })
        }
        func norm(_ name: String, _ n: Int) { f32(name, (0..<n).map { _ in 1 + uniform(0.2) }, shape: [n]) }
        func matrix(_ name: String, cols: Int, rows: Int, type: GGMLType) {
            let values = (0..<(cols * rows)).map { _ in uniform(0.15) }
            w.addTensor(name, shape: [cols, rows], type: type, data: quantize(values, type))
        }
        let qDim = nHead * headDim, kvDim = nHeadKV * headDim
        matrix("token_embd.weight", cols: nEmbd, rows: nVocab, type: .q8_0)
        norm("output_norm.weight", nEmbd)
        if arch != "gemma3" { matrix("output.weight", cols: nEmbd, rows: nVocab, type: .f16) }
        for il in 0..<nLayer {
            let p = "blk.\(il)."
            norm(p + "attn_norm.weight", nEmbd)
            matrix(p + "attn_q.weight", cols: nEmbd, rows: qDim, type: .q8_0)
            matrix(p + "attn_k.weight", cols: nEmbd, rows: kvDim, type: .q4_0)
            matrix(p + "attn_v.weight", cols: nEmbd, rows: kvDim, type: .q8_0)
            matrix(p + "attn_output.weight", cols: qDim, rows: nEmbd, type: .f16)
            if arch == "qwen2" {
                f32(p + "attn_q.bias", (0..<qDim).map { _ in uniform(0.1) }, shape: [qDim])
                f32(p + "attn_k.bias", (0..<kvDim).map { _ in uniform(0.1) }, shape: [kvDim])
                f32(p + "attn_v.bias", (0..<kvDim).map { _ in uniform(0.1) }, shape: [kvDim])
            }
            if arch == "qwen3" || arch == "gemma3" {
                norm(p + "attn_q_norm.weight", headDim)
                norm(p + "attn_k_norm.weight", headDim)
            }
            if arch == "gemma3" {
                norm(p + "post_attention_norm.weight", nEmbd)
                norm(p + "post_ffw_norm.weight", nEmbd)
            }
            norm(p + "ffn_norm.weight", nEmbd)
            matrix(p + "ffn_gate.weight", cols: nEmbd, rows: nFF, type: .q8_0)
            matrix(p + "ffn_up.weight", cols: nEmbd, rows: nFF, type: .q4_0)
            matrix(p + "ffn_down.weight", cols: nFF, rows: nEmbd, type: .q8_0)
        }
        return w.write()
    }

    /// Simple quantizers (round to nearest) for the types the synthetic models use.
    static func quantize(_ x: [Float], _ type: GGMLType) -> [UInt8] {
        func half(_ f: Float) -> [UInt8] { withUnsafeBytes(of: Float16(f).bitPattern.littleEndian) { Array($0) } }
        var out: [UInt8] = []
        switch type {
        case .f16:
            for v in x { out += half(v) }
        case .q8_0, .q4_0:
            for ib in 0..<(x.count / 32) {
                let b = x[(ib * 32)..<(ib * 32 + 32)]
                let amax = b.map { abs($0) }.max()!
                if type == .q8_0 {
                    let d = amax / 127
                    out += half(d)
                    out += b.map { UInt8(bitPattern: Int8(d == 0 ? 0 : ($0 / d).rounded())) }
                } else {
                    let d = amax / 7
                    out += half(d)
                    let q = b.map { d == 0 ? 8 : min(15, max(0, Int(($0 / d).rounded()) + 8)) }
                    out += (0..<16).map { UInt8(q[$0] | (q[$0 + 16] << 4)) }
                }
            }
        default:
            preconditionFailure("synthetic models do not use \(type.name)")
        }
        return out
    }
}
