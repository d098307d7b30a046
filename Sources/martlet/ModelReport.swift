import GGUF
import Runtime

/// What `martlet inspect` says about a model file.
struct ModelReport: Encodable {
    struct Hyperparameters: Encodable {
        var nLayer, nCtxTrain, nEmbd, nFF, nHead, nHeadKV, headDim, nRot, nVocab: Int
        var rmsNormEps, ropeFreqBase: Float
        var slidingWindow: Int?
        var tiedOutput: Bool
    }
    struct Tokenizer: Encodable {
        var model: String?
        var pre: String?
        var vocabularySize: Int
        var bos: Int?
        var eos: Int?
        var addBOS: Bool?
    }

    var file: String
    var fileSize: Int
    var ggufVersion: Int
    var architecture: String?
    var name: String?
    var hyperparameters: Hyperparameters?
    /// Why the runtime could not read the hyperparameters (unsupported architecture, a
    /// vocabulary-only file, a lying header).
    var hyperparametersError: String?
    var tokenizer: Tokenizer?
    var hasChatTemplate: Bool
    var chatTemplateLength: Int?
    var tensorCount: Int
    var tensorsByType: [String: Int]
    var parameterCount: Int
    var tensorBytes: Int
    var metadataKeyCount: Int

    init(file: GGUFFile) {
        self.file = file.path
        fileSize = file.fileSize
        ggufVersion = Int(file.version)
        architecture = file.architecture
        name = try? file.string("general.name")
        do {
            let c = try ModelConfig(file: file)
            hyperparameters = Hyperparameters(
                nLayer: c.nLayer, nCtxTrain: c.nCtxTrain, nEmbd: c.nEmbd, nFF: c.nFF, nHead: c.nHead,
                nHeadKV: c.nHeadKV, headDim: c.headDim, nRot: c.nRot, nVocab: c.nVocab,
                rmsNormEps: c.rmsNormEps, ropeFreqBase: c.ropeFreqBase, slidingWindow: c.slidingWindow,
                tiedOutput: c.tiedOutput)
        } catch {
            hyperparametersError = error.description
        }
        if let tokens = try? file.array("tokenizer.ggml.tokens") {
            tokenizer = Tokenizer(
                model: try? file.string("tokenizer.ggml.model"),
                pre: try? file.string("tokenizer.ggml.pre"),
                vocabularySize: tokens.count,
                bos: (try? file.int("tokenizer.ggml.bos_token_id")) ?? nil,
                eos: (try? file.int("tokenizer.ggml.eos_token_id")) ?? nil,
                addBOS: (try? file.bool("tokenizer.ggml.add_bos_token")) ?? nil)
        }
        let template = (try? file.string("tokenizer.chat_template")) ?? nil
        hasChatTemplate = template != nil
        chatTemplateLength = template?.utf8.count
        tensorCount = file.tensors.count
        tensorsByType = Dictionary(grouping: file.tensors, by: \.type.name).mapValues(\.count)
        parameterCount = file.tensors.reduce(0) { $0 + $1.elementCount }
        tensorBytes = file.tensors.reduce(0) { $0 + $1.byteCount }
        metadataKeyCount = file.metadata.count
    }

    var text: String {
        var lines: [String] = []
        func add(_ label: String, _ value: String) {
            lines.append(label.padding(toLength: 22, withPad: " ", startingAt: 0) + value)
        }
        add("file", file)
        add("file size", "\(fileSize) bytes (\(megabytes(fileSize)))")
        add("gguf version", "\(ggufVersion)")
        add("architecture", architecture ?? "(none)")
        if let name { add("name", name) }
        if let h = hyperparameters {
            add("block count", "\(h.nLayer)")
            add("context length", "\(h.nCtxTrain)")
            add("embedding length", "\(h.nEmbd)")
            add("feed forward length", "\(h.nFF)")
            add("heads", "\(h.nHead)")
            add("kv heads", "\(h.nHeadKV)")
            add("head dim", "\(h.headDim)")
            add("rope dims", "\(h.nRot)")
            add("rope freq base", "\(h.ropeFreqBase)")
            add("rms norm eps", "\(h.rmsNormEps)")
            if let w = h.slidingWindow { add("sliding window", "\(w)") }
            add("output", h.tiedOutput ? "tied to token embedding" : "separate output.weight")
        } else if let hyperparametersError {
            add("hyperparameters", "unavailable: \(hyperparametersError)")
        }
        if let t = tokenizer {
            add("tokenizer", "\(t.model ?? "?")" + (t.pre.map { " (pre \($0))" } ?? ""))
            add("vocabulary size", "\(t.vocabularySize)")
            if let bos = t.bos { add("bos token", "\(bos)" + (t.addBOS == true ? " (added)" : "")) }
            if let eos = t.eos { add("eos token", "\(eos)") }
        } else {
            add("tokenizer", "(none)")
        }
        add("chat template", chatTemplateLength.map { "present (\($0) bytes)" } ?? "absent")
        add("tensors", "\(tensorCount)" + (tensorCount == 0 ? " (vocabulary only)" : ""))
        for (type, count) in tensorsByType.sorted(by: { $0.key < $1.key }) {
            add("  \(type)", "\(count)")
        }
        if tensorCount > 0 {
            add("parameters", "\(parameterCount) (\(String(format: "%.1f", Double(parameterCount) / 1e6))M)")
            add("tensor data", "\(tensorBytes) bytes (\(megabytes(tensorBytes)))")
        }
        return lines.joined(separator: "\n")
    }

    private func megabytes(_ n: Int) -> String { String(format: "%.1f MiB", Double(n) / 1_048_576) }
}
