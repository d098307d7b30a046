import Testing
@testable import OpenAIAPI

/// Tool calls found in a model's output, whatever pieces the output arrives in.
@Suite struct ToolCallStreamTests {
    static func run(_ format: ToolCallFormat, _ output: String, seed: UInt64, names: Set<String> = ["get_weather", "add"]) -> (String, [ToolCall]) {
        var rng = seed &+ 1
        func next() -> Int { rng = rng &* 6364136223846793005 &+ 1442695040888963407; return Int(rng >> 33) }
        var s = ToolCallStream(format: format, names: names)
        var content = ""
        var calls: [ToolCall] = []
        let scalars = Array(output.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let n = 1 + next() % 6
            var piece = String.UnicodeScalarView()
            piece.append(contentsOf: scalars[i..<min(scalars.count, i + n)])
            let r = s.feed(String(piece))
            content += r.content
            calls += r.calls
            i += n
        }
        let r = s.finish()
        return (content + r.content, calls + r.calls)
    }

    static let weather = ToolCall(name: "get_weather", arguments: #"{"city": "Paris"}"#)
    static let add = ToolCall(name: "add", arguments: #"{"a": 1, "b": 2}"#)

    @Test(arguments: 0..<30)
    func formats(seed: UInt64) {
        func check(_ f: ToolCallFormat, _ out: String, _ content: String, _ calls: [ToolCall]) {
            let (c, k) = Self.run(f, out, seed: seed)
            #expect(c == content, "\(f) content for \(out.debugDescription)")
            #expect(k == calls, "\(f) calls for \(out.debugDescription)")
        }
        check(.hermes, "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}</tool_call>",
              "Let me check.\n\n", [Self.weather, Self.add])
        check(.hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}", "", [Self.weather])  // unterminated at the end
        check(.hermes, "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n```", "", [Self.weather])
        check(.hermes, "{\"name\": \"rm_rf\", \"arguments\": {}}", "{\"name\": \"rm_rf\", \"arguments\": {}}", [])  // not a declared tool
        check(.hermes, "a < b, and <tool_call>not json</tool_call> stays", "a < b, and <tool_call>not json</tool_call> stays", [])
        check(.llama3, "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", "", [Self.weather])
        check(.llama3, "The weather is nice.", "The weather is nice.", [])
        check(.mistral, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}, {\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}]",
              "", [Self.weather, Self.add])
        check(.mistral, "[TOOL_CALLS]oops", "[TOOL_CALLS]oops", [])
        check(.deepseek, "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
              "", [Self.weather])
    }

    @Test func formatsAreRecognizedFromTemplates() {
        #expect(ToolCallFormat.detect(template: "{% if tools %}<tool_call>{% endif %}") == .hermes)
        #expect(ToolCallFormat.detect(template: "<｜tool▁calls▁begin｜>") == .deepseek)
        #expect(ToolCallFormat.detect(template: "[TOOL_CALLS]") == .mistral)
        #expect(ToolCallFormat.detect(template: "<|start_header_id|>{{ parameters }}") == .llama3)
        #expect(ToolCallFormat.detect(template: "<|im_start|>") == nil)
    }
}
