import Engine
import Foundation
import GGUF
import HTTPServer
import JSON
import Runtime
import Templates
import TestSupport
import Testing
import Tokenization
@testable import OpenAIAPI

/// A runtime that answers every chat with a fixed script (then end-of-turn), to test how the
/// API shapes a reasoning model's output without one.
final class ScriptedOutputRuntime: ForwardRuntime {
    let nVocab: Int
    let maxBatchTokens = 256, maxContext = 512, blockCount = 64, blockSize = 16
    let script: [Int32]
    let end: Int32
    var promptLength = 0
    private var row: [Float]

    init(nVocab: Int, script: [Int32], end: Int32) {
        self.nVocab = nVocab
        self.script = script
        self.end = end
        row = Array(repeating: 0, count: nVocab)
    }

    func forward(_ batch: [BatchToken], blockTables: [[Int32]], onLogits: (Int, UnsafeBufferPointer<Float>) -> Void) {
        for (i, t) in batch.enumerated() where t.wantLogits {
            let g = t.position + 1 - promptLength
            for v in row.indices { row[v] = 0 }
            row[Int(g < script.count ? script[g] : end)] = 30
            row.withUnsafeBufferPointer { onLogits(i, $0) }
        }
    }

    func copyBlock(_ source: Int32, to destination: Int32) {}  // it keeps no keys or values
}

@Suite(.serialized) struct ReasoningLiveTests {
    static let template = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"

    @Test(arguments: [ReasoningFormat.reasoningContent, .both])
    func thinkingIsSplitFromTheAnswer(format: ReasoningFormat) throws {
        guard let path = TestPaths.model("smollm2-135m-instruct") else { return }
        let tokenizer = try Tokenizer(file: GGUFFile(path: path))
        let end = try #require(tokenizer.vocabulary.id(of: "<|im_end|>"))
        let script = tokenizer.encode("The user says hi.\n</think>\n\nHello there!")
        let runtime = ScriptedOutputRuntime(nVocab: tokenizer.count, script: script, end: end)
        let engine = Engine(runtime: runtime, tokenizer: tokenizer)
        defer { engine.shutdown() }
        let service = ModelService(id: "thinker", engine: engine, tokenizer: tokenizer, template: try ChatTemplate(Self.template),
                                   fingerprint: "fp_test", reasoningFormat: format)
        #expect(service.thinks)
        let messages = try JSONParser().parse(#"[{"role": "user", "content": "hi"}]"#)
        let (prompt, inside) = try service.renderChat(messages, tools: nil)
        #expect(inside)
        runtime.promptLength = prompt.count
        let api = OpenAIServer()
        api.ready(service)
        var c = HTTPServerConfiguration()
        c.port = 0
        let server = HTTPServer(configuration: c, handler: api.router)
        try server.start()
        defer { server.shutdown(timeout: 1) }

        let body = #"{"model": "thinker", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}"#
        let plain = try APILiveTests.post(server.port, "/v1/chat/completions", body)
        let message = plain.body?["choices"].flatMap { if case .array(let a) = $0 { return a.first?["message"] } else { return nil } }
        #expect(message?["content"] == .string("Hello there!"))
        #expect(message?["reasoning_content"] == .string("The user says hi.\n"))
        #expect(message?["reasoning"] == (format == .both ? .string("The user says hi.\n") : nil))

        // The stream folds to the same.
        let client = try RawClient(port: server.port)
        let streamBody = #"{"model": "thinker", "messages": [{"role": "user", "content": "hi"}], "temperature": 0, "stream": true}"#
        client.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(streamBody.utf8.count)\r\n\r\n\(streamBody)")
        let text = client.read { $0.contains("data: [DONE]") }.text
        var content = "", reasoning = ""
        // Lines by bytes: "\r\n" is one Character in Swift, so a String split would not see its "\n".
        for raw in text.utf8.split(separator: 0x0A) where raw.starts(with: Array("data: {".utf8)) {
            guard case .array(let choices)? = try JSONParser().parse(Array(raw.dropFirst(6)))["choices"], let d = choices.first?["delta"] else { continue }
            content += d["content"]?.string ?? ""
            reasoning += d["reasoning_content"]?.string ?? ""
        }
        #expect(content == "Hello there!" && reasoning == "The user says hi.\n", "\(content.debugDescription) \(reasoning.debugDescription)")
    }
}
