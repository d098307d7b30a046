import Foundation
import GGUF
import TestSupport
import Testing
import Tokenization

/// Tokenizers are loaded once per file and shared by the tests.
enum Tokenizers {
    nonisolated(unsafe) private static var cache: [String: Tokenizer] = [:]
    private static let lock = NSLock()

    static func load(_ path: String) throws -> Tokenizer {
        lock.lock()
        defer { lock.unlock() }
        if let t = cache[path] { return t }
        let t = try Tokenizer(file: GGUFFile(path: path))
        cache[path] = t
        return t
    }

    /// The file behind a fixture vocabulary name: a fetched model or a shared vocab file.
    static func path(forVocabulary name: String) -> String? {
        switch name {
        case "smollm2": return TestPaths.model("smollm2-135m-instruct")
        case "qwen2.5": return TestPaths.model("qwen2.5-coder-0.5b-instruct")
        case "gemma3": return TestPaths.model("gemma-3-270m")
        case "deepseek-r1-distill-qwen": return TestPaths.fixture("vocab/deepseek-r1-distill-qwen-vocab.gguf").path
        default: return nil
        }
    }
}

struct TokenizerCase: Decodable {
    var text: String
    var ids: [Int32]
    var ids_with_special_tokens_parsed: [Int32]
    var ids_with_bos_if_model_adds_it: [Int32]
}

struct TokenizerFixture: Decodable {
    var vocabulary: String
    var cases: [TokenizerCase]
}

@Suite struct TokenizerFixtureTests {
    @Test(arguments: ["smollm2", "qwen2.5", "gemma3", "deepseek-r1-distill-qwen"])
    func matchesLlamaCppExactly(_ name: String) throws {
        let data = try Data(contentsOf: TestPaths.fixture("tokenizer/\(name).json"))
        let fixture = try JSONDecoder().decode(TokenizerFixture.self, from: data)
        guard let path = Tokenizers.path(forVocabulary: fixture.vocabulary) else { return }
        let t = try Tokenizers.load(path)
        #expect(fixture.cases.count == 43)
        for c in fixture.cases {
            #expect(t.encode(c.text) == c.ids, "plain: \(c.text.debugDescription)")
            #expect(t.encode(c.text, parseSpecial: true) == c.ids_with_special_tokens_parsed, "special: \(c.text.debugDescription)")
            #expect(t.encode(c.text, addSpecial: true, parseSpecial: true) == c.ids_with_bos_if_model_adds_it, "bos: \(c.text.debugDescription)")
        }
    }

    @Test(arguments: ["smollm2", "qwen2.5", "gemma3", "deepseek-r1-distill-qwen"])
    func decodeInvertsEncode(_ name: String) throws {
        let data = try Data(contentsOf: TestPaths.fixture("tokenizer/\(name).json"))
        let fixture = try JSONDecoder().decode(TokenizerFixture.self, from: data)
        guard let path = Tokenizers.path(forVocabulary: fixture.vocabulary) else { return }
        let t = try Tokenizers.load(path)
        for c in fixture.cases {
            #expect(try t.decode(t.encode(c.text)) == c.text, "\(c.text.debugDescription)")
            #expect(try t.decode(t.encode(c.text, parseSpecial: true), special: true) == c.text, "\(c.text.debugDescription)")
        }
    }

    static let vocabFiles = ["deepseek-llm", "gpt-2", "llama-bpe", "llama-spm", "phi-3", "qwen2"]

    /// llama.cpp's own test data: inputs separated by `__ggml_vocab_test__`, ids per line.
    @Test(arguments: vocabFiles)
    func matchesLlamaCppVocabTests(_ name: String) throws {
        let base = TestPaths.fixture("vocab/ggml-vocab-\(name).gguf")
        let t = try Tokenizers.load(base.path)
        let inputs = try String(contentsOf: URL(fileURLWithPath: base.path + ".inp"), encoding: .utf8)
            .components(separatedBy: "\n__ggml_vocab_test__\n")
        let outputs = try String(contentsOf: URL(fileURLWithPath: base.path + ".out"), encoding: .utf8)
            .components(separatedBy: "\n")
        #expect(inputs.count == outputs.count && inputs.count > 30)
        for (text, line) in zip(inputs, outputs) where !(text.isEmpty && line.isEmpty) {
            let expected = line.split(separator: " ").map { Int32($0)! }
            #expect(t.encode(text) == expected, "\(name): \(text.debugDescription)")
        }
    }
}
