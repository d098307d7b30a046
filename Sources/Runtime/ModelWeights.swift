import GGUF

/// A weight matrix viewed in place in the memory map: `rows` rows of `cols` elements of
/// `type` (GGUF shape [cols, rows]; each output row is one row of the file).
public struct Matrix: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    public let data: UnsafeRawPointer
    public let rows: Int
    public let cols: Int
    public let rowBytes: Int
}

/// The weights of one transformer block. Optional tensors are the ones only some
/// architectures have (biases: qwen2; Q/K norms: qwen3, gemma3; post norms: gemma3).
public struct LayerWeights: @unchecked Sendable {
    public let attnNorm: [Float]
    public let wq, wk, wv, wo: Matrix
    public let bq, bk, bv: [Float]?
    public let qNorm, kNorm: [Float]?
    public let postAttnNorm: [Float]?
    public let ffnNorm: [Float]
    public let wGate, wUp, wDown: Matrix
    public let postFfnNorm: [Float]?
}

/// All weights of a model, checked against its hyperparameters at load: every tensor is
/// present, has the expected shape and a supported type, or the load fails naming it.
public struct ModelWeights: @unchecked Sendable {
    public let file: GGUFFile
    public let config: ModelConfig
    public let tokenEmbedding: Matrix
    public let outputNorm: [Float]
    public let output: Matrix
    public let layers: [LayerWeights]
    public let ropeFreqFactors: [Float]?

    public init(file: GGUFFile) throws(RuntimeError) {
        let c = try ModelConfig(file: file)
        self.file = file
        self.config = c
        let path = file.path

        func matrix(_ name: String, cols: Int, rows: Int) throws(RuntimeError) -> Matrix {
            guard let t = file.tensor(named: name) else { throw .missingTensor(name, file: path) }
            guard t.shape == [cols, rows] else { throw .badShape(name, t.shape, expected: [cols, rows], file: path) }
            guard Quant.supported.contains(t.type) else { throw .unsupportedType(name, t.type, file: path) }
            return Matrix(name: name, type: t.type, data: file.data(of: t).baseAddress!, rows: rows, cols: cols,
                          rowBytes: t.type.byteCount(elements: cols)!)
        }
        func vector(_ name: String, _ n: Int, optional: Bool = false) throws(RuntimeError) -> [Float]? {
            guard let t = file.tensor(named: name) else {
                if optional { return nil }
                throw .missingTensor(name, file: path)
            }
            guard t.elementCount == n, t.shape[0] == n else { throw .badShape(name, t.shape, expected: [n], file: path) }
            guard Quant.supported.contains(t.type) else { throw .unsupportedType(name, t.type, file: path) }
            var out = [Float](repeating: 0, count: n)
            out.withUnsafeMutableBufferPointer { Quant.dequantize(t.type, file.data(of: t).baseAddress!, $0.baseAddress!, count: n) }
            return out
        }

        let qDim = c.nHead * c.headDim, kvDim = c.nHeadKV * c.headDim, vDim = c.nHeadKV * c.headDimV
        tokenEmbedding = try matrix("token_embd.weight", cols: c.nEmbd, rows: c.nVocab)
        outputNorm = try vector("output_norm.weight", c.nEmbd)!
        output = c.tiedOutput ? tokenEmbedding : try matrix("output.weight", cols: c.nEmbd, rows: c.nVocab)
        ropeFreqFactors = try vector("rope_freqs.weight", c.nRot / 2, optional: true)
        var layers: [LayerWeights] = []
        for il in 0..<c.nLayer {
            let p = "blk.\(il)."
            let hasQKNorm = c.architecture == .qwen3 || c.architecture == .gemma3
            let gemma = c.architecture == .gemma3
            layers.append(LayerWeights(
                attnNorm: try vector(p + "attn_norm.weight", c.nEmbd)!,
                wq: try matrix(p + "attn_q.weight", cols: c.nEmbd, rows: qDim),
                wk: try matrix(p + "attn_k.weight", cols: c.nEmbd, rows: kvDim),
                wv: try matrix(p + "attn_v.weight", cols: c.nEmbd, rows: vDim),
                wo: try matrix(p + "attn_output.weight", cols: c.nHead * c.headDimV, rows: c.nEmbd),
                bq: try vector(p + "attn_q.bias", qDim, optional: true),
                bk: try vector(p + "attn_k.bias", kvDim, optional: true),
                bv: try vector(p + "attn_v.bias", vDim, optional: true),
                qNorm: try vector(p + "attn_q_norm.weight", c.headDim, optional: !hasQKNorm),
                kNorm: try vector(p + "attn_k_norm.weight", c.headDim, optional: !hasQKNorm),
                postAttnNorm: try vector(p + "post_attention_norm.weight", c.nEmbd, optional: !gemma),
                ffnNorm: try vector(p + "ffn_norm.weight", c.nEmbd)!,
                wGate: try matrix(p + "ffn_gate.weight", cols: c.nEmbd, rows: c.nFF),
                wUp: try matrix(p + "ffn_up.weight", cols: c.nEmbd, rows: c.nFF),
                wDown: try matrix(p + "ffn_down.weight", cols: c.nFF, rows: c.nEmbd),
                postFfnNorm: try vector(p + "post_ffw_norm.weight", c.nEmbd, optional: !gemma)))
        }
        self.layers = layers
    }

    /// Bytes of weights one decode step reads: every layer matrix and the output matrix once,
    /// and one embedding row (norm vectors and biases are too small to count). Divided by the
    /// machine's read bandwidth, the fastest a token can be decoded.
    public var bytesReadPerToken: Int {
        let perLayer = layers.reduce(0) { sum, l in
            sum + [l.wq, l.wk, l.wv, l.wo, l.wGate, l.wUp, l.wDown].reduce(0) { $0 + $1.rows * $1.rowBytes }
        }
        return perLayer + output.rows * output.rowBytes + tokenEmbedding.rowBytes
    }
}
