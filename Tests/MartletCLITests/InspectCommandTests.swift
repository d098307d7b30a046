import Foundation
import GGUF
import TestSupport
import Testing

@Suite struct InspectCommandTests {
    struct Expected: Sendable, CustomStringConvertible {
        var name, arch: String
        var nLayer, nEmbd, nHead, nHeadKV, nCtxTrain: Int
        var types: [String: Int]
        var description: String { name }
    }

    @Test(arguments: [
        Expected(name: "smollm2-135m-instruct", arch: "llama", nLayer: 30, nEmbd: 576, nHead: 9, nHeadKV: 3, nCtxTrain: 8192,
                 types: ["F32": 61, "Q4_1": 210, "Q8_0": 1]),
        Expected(name: "qwen2.5-coder-0.5b-instruct", arch: "qwen2", nLayer: 24, nEmbd: 896, nHead: 14, nHeadKV: 2, nCtxTrain: 32768,
                 types: ["F32": 121, "Q4_K": 12, "Q5_0": 133, "Q6_K": 12, "Q8_0": 13]),
        Expected(name: "gemma-3-270m", arch: "gemma3", nLayer: 18, nEmbd: 640, nHead: 4, nHeadKV: 1, nCtxTrain: 32768,
                 types: ["F32": 109, "Q4_K": 27, "Q5_0": 81, "Q6_K": 9, "Q8_0": 10]),
        Expected(name: "qwen2.5-coder-1.5b-instruct", arch: "qwen2", nLayer: 28, nEmbd: 1536, nHead: 12, nHeadKV: 2, nCtxTrain: 32768,
                 types: ["F32": 141, "Q4_K": 169, "Q6_K": 29]),
    ])
    func describesTheModels(_ e: Expected) throws {
        guard let path = TestPaths.model(e.name) else { return }
        let r = try CLI.run(["inspect", path, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(json["architecture"] as? String == e.arch)
        let h = try #require(json["hyperparameters"] as? [String: Any])
        #expect(h["nLayer"] as? Int == e.nLayer)
        #expect(h["nEmbd"] as? Int == e.nEmbd)
        #expect(h["nHead"] as? Int == e.nHead)
        #expect(h["nHeadKV"] as? Int == e.nHeadKV)
        #expect(h["nCtxTrain"] as? Int == e.nCtxTrain)
        #expect(json["tensorsByType"] as? [String: Int] == e.types)
        #expect(json["fileSize"] as? Int == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int))

        let text = try CLI.run(["inspect", path])
        #expect(text.status == 0)
        #expect(text.stdout.contains("block count           \(e.nLayer)"))
        #expect(text.stdout.contains("architecture          \(e.arch)"))
    }

    @Test func describesAVocabularyOnlyFile() throws {
        let r = try CLI.run(["inspect", TestPaths.fixture("vocab/deepseek-r1-distill-qwen-vocab.gguf").path])
        #expect(r.status == 0)
        #expect(r.stdout.contains("tensors               0 (vocabulary only)"))
        #expect(r.stdout.contains("tokenizer             gpt2 (pre deepseek-r1-qwen)"))
        #expect(r.stdout.contains("vocabulary size       152064"))
        #expect(r.stdout.contains("chat template         present"))
    }

    @Test func explainsABrokenFile() throws {
        var w = GGUFWriter()
        w.addTensor("blk.3.ffn_up.weight", shape: [32], type: .f32, data: [UInt8](repeating: 0, count: 128))
        var bytes = w.write()
        bytes.removeLast(10)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("broken-\(getpid()).gguf").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try CLI.run(["inspect", path])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("\(path): tensor blk.3.ffn_up.weight: data ends at byte"))
        #expect(r.stderr.contains("past the end of the file"))
    }
}
