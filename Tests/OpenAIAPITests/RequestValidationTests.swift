import JSON
import Testing
@testable import OpenAIAPI

/// Each refusal names the field, and where there is one, the limit and the value.
@Suite struct RequestValidationTests {
    func chatError(_ body: String) -> APIError? {
        do { _ = try ChatRequest(body: Array(body.utf8)); return nil } catch { return error }
    }

    func completionError(_ body: String) -> APIError? {
        do { _ = try CompletionRequest(body: Array(body.utf8)); return nil } catch { return error }
    }

    static let messages = #""messages": [{"role": "user", "content": "hi"}]"#

    @Test(arguments: [
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 5}"#, "temperature", "'temperature' must be between 0.0 and 2.0, got 5.0"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_p": 1.5}"#, "top_p", "'top_p' must be between 0.0 and 1.0, got 1.5"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 0}"#, "n", "'n' must be between 1 and 16, got 0"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": "ten"}"#, "max_tokens", "'max_tokens' must be an integer, got a string (\"ten\")"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "presence_penalty": -3}"#, "presence_penalty", "'presence_penalty' must be between -2.0 and 2.0, got -3.0"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}"#, "stop", "'stop' may hold at most 4 sequences, got 5"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}"#, "stream", "'stream' must be a boolean, got a string"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": true}}"#, "stream_options", "'stream_options' is only allowed when 'stream' is true"),
        (#"{"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}"#, "messages[0].role", "'messages[0].role' must be one of assistant, developer, system, tool, user, got 'wizard'"),
        (#"{"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}"#, "messages[0].content[0]", "'messages[0].content[0]' is not supported by this server: content of type 'image_url' is not supported; only text"),
        (#"{"model": "m", "messages": []}"#, "messages", "'messages' must not be empty"),
        (#"{"messages": [{"role": "user", "content": "hi"}]}"#, "model", "you must provide a model parameter"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_logprobs": 3}"#, "top_logprobs", "'top_logprobs' requires 'logprobs' to be true"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "logprobs": true, "top_logprobs": 21}"#, "top_logprobs", "'top_logprobs' must be between 0 and 20, got 21"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": ""}}]}"#, "tools[0].function.name", "'tools[0].function.name' must be a non-empty string"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer", "multipleOf": 3}}}}"#, "response_format", "The JSON schema uses multipleOf at #, which this server does not support"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "yaml"}}"#, "response_format", "'response_format.type' must be text, json_object or json_schema"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "tool_choice": "required"}"#, "tool_choice", "'tool_choice' requires 'tools'"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "logit_bias": {"42": 500}}"#, "logit_bias", "'logit_bias' values must be between -100 and 100, got 500.0 for token 42"),
        (#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "logit_bias": {"x": 5}}"#, "logit_bias", "'logit_bias' keys must be token ids, got 'x'"),
    ])
    func chatRefusals(_ body: String, _ param: String, _ message: String) {
        let e = chatError(body)
        #expect(e?.status == 400)
        #expect(e?.param == param)
        #expect(e?.message == message)
    }

    @Test func brokenJSONIsNamed() {
        let e = chatError(#"{"model": "m", "messages": [}"#)
        #expect(e?.status == 400 && e?.code == "invalid_json" && e?.message.hasPrefix("The request body is not valid JSON") == true)
        #expect(chatError("[1]")?.message == "The request body must be a JSON object, got an array")
    }

    @Test func neutralValuesAndUnknownFieldsPass() throws {
        let body = #"{"model": "m", "messages": [{"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}], "logprobs": true, "top_logprobs": 2, "tools": [], "logit_bias": {}, "store": false, "response_format": {"type": "text"}, "n": 2, "my_extension": 1, "top_k": 40, "min_p": 0.05, "seed": 7, "stop": "x", "max_completion_tokens": 9}"#
        let r = try ChatRequest(body: Array(body.utf8))
        #expect(r.messages == .array([.object(JSONObject([("role", .string("system")), ("content", .string("a\nb"))]))]))
        #expect(r.options.n == 2 && r.options.sampling.topK == 40 && r.options.sampling.minP == 0.05 && r.options.sampling.seed == 7)
        #expect(r.options.stop == ["x"] && r.options.maxTokens == 9 && r.options.logprobs == 2)
    }

    @Test func completionPrompts() throws {
        let ids = try CompletionRequest(body: Array(#"{"model": "m", "prompt": [1, 2, 3]}"#.utf8))
        guard case .tokens(let t) = ids.prompts[0] else { Issue.record("not tokens"); return }
        #expect(t == [1, 2, 3])
        let many = try CompletionRequest(body: Array(#"{"model": "m", "prompt": ["a", [4, 5]]}"#.utf8))
        #expect(many.prompts.count == 2)
        #expect(try CompletionRequest(body: Array(#"{"model": "m", "prompt": "a", "echo": true}"#.utf8)).echo)
        #expect(completionError(#"{"model": "m", "prompt": "a", "echo": 1}"#)?.param == "echo")
        #expect(completionError(#"{"model": "m", "prompt": "a", "best_of": 3}"#)?.param == "best_of")
        #expect(completionError(#"{"model": "m", "prompt": [1, -2]}"#)?.param == "prompt")
        #expect(completionError(#"{"model": "m", "prompt": "a", "logprobs": 6}"#)?.message == "'logprobs' must be between 0 and 5, got 6")
        #expect(completionError(#"{"model": "m", "prompt": 5}"#)?.message == "'prompt' must be a string, an array of strings, or token ids, got an integer")
    }

    @Test func errorEnvelope() {
        let e = APIError.contextLength(max: 2048, prompt: 3000)
        #expect(PythonJSON.dumps(e.body) == #"{"error": {"message": "This model's maximum context length is 2048 tokens. However, your messages resulted in 3000 tokens. Please reduce the length of the messages.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}"#)
        let overloaded = APIError(.overloaded(waitingRequests: 3, waitingTokens: 9))
        #expect(overloaded.status == 429 && overloaded.response.headers["retry-after"] == "1")
    }
}
