import GGUF
import Runtime
import TestSupport
import Testing

func configWriter(arch: String = "llama", _ edit: (inout [String: GGUFValue]) -> Void = { _ in }) -> [UInt8] {
    var keys: [String: GGUFValue] = [
        "general.architecture": .string(arch),
        "\(arch).block_count": .uint32(2),
        "\(arch).context_length": .uint32(256),
        "\(arch).embedding_length": .uint32(64),
        "\(arch).feed_forward_length": .uint32(128),
        "\(arch).attention.head_count": .uint32(4),
        "\(arch).attention.head_count_kv": .uint32(2),
        "\(arch).attention.layer_norm_rms_epsilon": .float32(1e-5),
        "tokenizer.ggml.tokens": .array(.string, (0..<10).map { .string("t\($0)") }),
    ]
    edit(&keys)
    var w = GGUFWriter()
    for (k, v) in keys.sorted(by: { $0.key < $1.key }) { w.set(k, v) }
    return w.write()
}

func configError(_ bytes: [UInt8]) -> RuntimeError? {
    do {
        _ = try ModelConfig(file: try GGUFFile(bytes: bytes, name: "m.gguf"))
        Issue.record("expected the model to be refused")
        return nil
    } catch let e as RuntimeError {
        return e
    } catch {
        Issue.record("unexpected \(error)")
        return nil
    }
}

@Suite struct ModelConfigTests {
    @Test func readsHyperparametersWithDefaults() throws {
        let c = try ModelConfig(file: GGUFFile(bytes: configWriter(), name: "m.gguf"))
        #expect(c.architecture == .llama)
        #expect(c.nLayer == 2 && c.nEmbd == 64 && c.nFF == 128 && c.nHead == 4 && c.nHeadKV == 2)
        #expect(c.headDim == 16 && c.nRot == 16 && c.nVocab == 10 && c.nCtxTrain == 256)
        #expect(c.ropeFreqBase == 10_000)
        #expect(c.tiedOutput)
        #expect(c.slidingWindow == nil)
    }

    @Test func refusesUnknownArchitecturesListingTheSupportedOnes() {
        #expect(configError(configWriter(arch: "mamba")) ==
            .unsupportedArchitecture("mamba", file: "m.gguf", supported: ["llama", "qwen2", "qwen3", "gemma3"]))
    }

    @Test func refusesLyingHyperparameters() {
        #expect(configError(configWriter { $0["llama.attention.head_count"] = .uint32(0) }) ==
            .invalidHyperparameter(key: "llama.attention.head_count", value: "0", expected: "1...1024", file: "m.gguf"))
        #expect(configError(configWriter { $0["llama.context_length"] = .uint64(1 << 40) }) ==
            .invalidHyperparameter(key: "llama.context_length", value: "\(1 << 40)", expected: "1...\(1 << 24)", file: "m.gguf"))
        #expect(configError(configWriter { $0["llama.attention.head_count_kv"] = .uint32(3) }) ==
            .invalidHyperparameter(key: "llama.attention.head_count_kv", value: "3", expected: "a divisor of attention.head_count (4)", file: "m.gguf"))
        #expect(configError(configWriter { $0["llama.block_count"] = nil }) == .missingKey("llama.block_count", file: "m.gguf"))
        if case .file(let e) = configError(configWriter { $0["llama.block_count"] = .string("two") }) {
            #expect(e.problem == .wrongValueType(key: "llama.block_count", expected: "integer", found: "string"))
        } else {
            Issue.record("a string block count must be refused as the wrong type")
        }
    }

    @Test func gemma3SlidingWindowPattern() throws {
        let c = try ModelConfig(file: GGUFFile(bytes: configWriter(arch: "gemma3") {
            $0["gemma3.attention.sliding_window"] = .uint32(512)
            $0["gemma3.block_count"] = .uint32(12)
        }, name: "m.gguf"))
        #expect(c.slidingWindow == 512)
        #expect((0..<12).filter { !c.isSlidingWindowLayer($0) } == [5, 11])
        #expect(c.ropeFreqBaseSWA == 10_000)
    }

    struct Expected: Sendable, CustomStringConvertible {
        var name: String, arch: Architecture, nLayer, nEmbd, nHead, nHeadKV, nCtx, nFF, headDim, nVocab: Int
        var description: String { name }
    }

    @Test(arguments: [
        Expected(name: "smollm2-135m-instruct", arch: .llama, nLayer: 30, nEmbd: 576, nHead: 9, nHeadKV: 3, nCtx: 8192, nFF: 1536, headDim: 64, nVocab: 49152),
        Expected(name: "qwen2.5-coder-0.5b-instruct", arch: .qwen2, nLayer: 24, nEmbd: 896, nHead: 14, nHeadKV: 2, nCtx: 32768, nFF: 4864, headDim: 64, nVocab: 151936),
        Expected(name: "gemma-3-270m", arch: .gemma3, nLayer: 18, nEmbd: 640, nHead: 4, nHeadKV: 1, nCtx: 32768, nFF: 2048, headDim: 256, nVocab: 262144),
        Expected(name: "qwen2.5-coder-1.5b-instruct", arch: .qwen2, nLayer: 28, nEmbd: 1536, nHead: 12, nHeadKV: 2, nCtx: 32768, nFF: 8960, headDim: 128, nVocab: 151936),
    ])
    func realModels(_ e: Expected) throws {
        guard let path = TestPaths.model(e.name) else { return }
        let c = try ModelConfig(file: GGUFFile(path: path))
        #expect(c.architecture == e.arch)
        #expect(c.nLayer == e.nLayer && c.nEmbd == e.nEmbd && c.nHead == e.nHead && c.nHeadKV == e.nHeadKV)
        #expect(c.nCtxTrain == e.nCtx && c.nFF == e.nFF && c.headDim == e.headDim && c.nVocab == e.nVocab)
    }
}
