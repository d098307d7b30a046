import Foundation
import GGUF
import TestSupport
import Testing

/// The real files: the shared vocabulary fixtures and the fetched models.
@Suite struct GGUFRealFileTests {
    static let vocabFiles = [
        "deepseek-r1-distill-qwen-vocab.gguf", "ggml-vocab-deepseek-llm.gguf", "ggml-vocab-gpt-2.gguf",
        "ggml-vocab-llama-bpe.gguf", "ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf", "ggml-vocab-qwen2.gguf",
    ]

    @Test(arguments: vocabFiles)
    func vocabularyFilesParse(_ name: String) throws {
        let file = try GGUFFile(path: TestPaths.fixture("vocab/" + name).path)
        #expect(file.tensors.isEmpty)
        let tokens = try #require(try file.strings("tokenizer.ggml.tokens"))
        #expect(tokens.count > 30_000)
        #expect(try file.string("tokenizer.ggml.model") != nil)
    }

    @Test(arguments: [
        ("smollm2-135m-instruct", 272, ["F32": 61, "Q4_1": 210, "Q8_0": 1]),
        ("qwen2.5-coder-0.5b-instruct", 291, ["F32": 121, "Q4_K": 12, "Q5_0": 133, "Q6_K": 12, "Q8_0": 13]),
        ("gemma-3-270m", 236, ["F32": 109, "Q4_K": 27, "Q5_0": 81, "Q6_K": 9, "Q8_0": 10]),
        ("qwen2.5-coder-1.5b-instruct", 339, ["F32": 141, "Q4_K": 169, "Q6_K": 29]),
    ])
    func modelsParse(_ name: String, tensorCount: Int, types: [String: Int]) throws {
        guard let path = TestPaths.model(name) else { return }
        let file = try GGUFFile(path: path)
        #expect(file.tensors.count == tensorCount)
        #expect(Dictionary(grouping: file.tensors, by: \.type.name).mapValues(\.count) == types)
        // The last tensor's data ends inside the file, and the file holds nothing but padding after it.
        let end = file.tensors.map { file.dataOffset + $0.offset + $0.byteCount }.max()!
        #expect(end <= file.fileSize && file.fileSize - end < file.alignment)
    }
}
