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

/// The API on the real default model, in-process, through a raw socket.
@Suite(.serialized) struct APILiveTests {
    static func service(context: Int = 512, maxWaiting: Int = 64) throws -> ModelService? {
        guard let path = TestPaths.model("smollm2-135m-instruct") else { return nil }
        let file = try GGUFFile(path: path)
        let tokenizer = try Tokenizer(file: file)
        let weights = try ModelWeights(file: file)
        let model = Model(weights: weights, maxBatchTokens: 128, maxContext: context, pool: ThreadPool())
        let kv = try KVPool(blockCount: 4 * context / 16, blockSize: 16, config: weights.config)
        var c = EngineConfiguration()
        c.maxWaitingRequests = maxWaiting
        let engine = Engine(runtime: ModelRuntime(model: model, kv: kv), tokenizer: tokenizer, configuration: c)
        return ModelService(id: "smollm2", engine: engine, tokenizer: tokenizer,
                            template: try ChatTemplate(try #require(try file.string("tokenizer.chat_template"))), fingerprint: "fp_test")
    }

    static func start(_ api: OpenAIServer) throws -> HTTPServer {
        var c = HTTPServerConfiguration()
        c.port = 0
        let server = HTTPServer(configuration: c, handler: api.router)
        try server.start()
        return server
    }

    static func post(_ port: Int, _ path: String, _ body: String) throws -> (status: Int, body: JSONValue?) {
        let c = try RawClient(port: port)
        c.send("POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        guard let r = c.responses(1).first else { return (0, nil) }
        let status = Int(r.dropFirst(9).prefix(3)) ?? 0
        let json = r.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        return (status, try? JSONParser().parse(json))
    }

    @Test func loadingThenReady() throws {
        let api = OpenAIServer()
        let server = try Self.start(api)
        defer { server.shutdown(timeout: 1) }
        let early = try Self.post(server.port, "/v1/chat/completions", #"{"model": "smollm2", "messages": [{"role": "user", "content": "hi"}]}"#)
        #expect(early.status == 503 && early.body?["error"]?["code"] == .string("model_loading"))
        guard let s = try Self.service() else { return }
        api.ready(s)
        let r = try Self.post(server.port, "/v1/chat/completions", #"{"model": "smollm2", "messages": [{"role": "user", "content": "Say hi"}], "max_tokens": 4, "temperature": 0}"#)
        #expect(r.status == 200)
        guard case .array(let choices)? = r.body?["choices"] else { Issue.record("no choices"); return }
        #expect(choices.count == 1 && choices[0]["finish_reason"] != nil)
        #expect(r.body?["usage"]?["completion_tokens"] == .int(4))
        let missing = try Self.post(server.port, "/v1/chat/completions", #"{"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]}"#)
        #expect(missing.status == 404 && missing.body?["error"]?["code"] == .string("model_not_found"))
        s.engine.shutdown()
    }

    @Test func contextLengthIsExplained() throws {
        guard let s = try Self.service(context: 64) else { return }
        let api = OpenAIServer()
        api.ready(s)
        let server = try Self.start(api)
        defer { server.shutdown(timeout: 1); s.engine.shutdown() }
        let long = String(repeating: "word ", count: 200)
        let r = try Self.post(server.port, "/v1/chat/completions", #"{"model": "smollm2", "messages": [{"role": "user", "content": "\#(long)"}]}"#)
        #expect(r.status == 400)
        #expect(r.body?["error"]?["code"] == .string("context_length_exceeded"))
        #expect(r.body?["error"]?["message"]?.string?.hasPrefix("This model's maximum context length is 64 tokens. However, your messages resulted in ") == true)
        let both = try Self.post(server.port, "/v1/completions", #"{"model": "smollm2", "prompt": "Hello", "max_tokens": 100}"#)
        #expect(both.status == 400 && both.body?["error"]?["message"]?.string?.contains("in the completion") == true)
    }

    @Test func aClientLeavingMidStreamFreesItsBlocks() throws {
        guard let s = try Self.service() else { return }
        let api = OpenAIServer()
        api.ready(s)
        let server = try Self.start(api)
        defer { server.shutdown(timeout: 1); s.engine.shutdown() }
        var c: RawClient? = try RawClient(port: server.port)
        let body = #"{"model": "smollm2", "messages": [{"role": "user", "content": "Write a long story."}], "max_tokens": 400, "stream": true, "temperature": 0}"#
        c!.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let first = c!.read(until: { $0.components(separatedBy: "data: ").count > 4 }).text
        #expect(first.contains("\"delta\": {\"content\""))
        #expect(s.engine.statistics().blocksOwned > 0)
        c = nil
        let deadline = Date().addingTimeInterval(10)
        while (s.engine.statistics().blocksOwned > 0 || s.engine.statistics().running > 0) && Date() < deadline { usleep(10_000) }
        let stats = s.engine.statistics()
        #expect(stats.blocksOwned == 0 && stats.running == 0 && stats.requestsCancelled == 1)
        #expect(stats.tokensGenerated < 400)
    }

    @Test func aFullQueueAnswers429() throws {
        guard let s = try Self.service(maxWaiting: 0) else { return }
        let api = OpenAIServer()
        api.ready(s)
        let server = try Self.start(api)
        defer { server.shutdown(timeout: 1); s.engine.shutdown() }
        let c = try RawClient(port: server.port)
        let body = #"{"model": "smollm2", "prompt": "Hello", "max_tokens": 2}"#
        c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
        let r = c.responses(1).first ?? ""
        #expect(r.hasPrefix("HTTP/1.1 429 ") && r.contains("Retry-After: 1") && r.contains("\"type\": \"rate_limit_error\""))
        // A stream is refused the same way: the status says so before any event is sent.
        let streamed = #"{"model": "smollm2", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 2, "stream": true}"#
        c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(streamed.utf8.count)\r\n\r\n\(streamed)")
        let rs = c.responses(1).first ?? ""
        #expect(rs.hasPrefix("HTTP/1.1 429 ") && rs.contains("\"code\": \"overloaded\"") && !rs.contains("text/event-stream"))
    }
}
