import Foundation
import JSON

/// How a model family writes tool calls, recognized from its chat template.
enum ToolCallFormat: String, Sendable {
    /// Qwen 2.5/3 and Hermes: `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, repeated.
    case hermes
    /// Llama 3.x: the whole answer is `{"name": …, "parameters": {…}}` (after `<|python_tag|>`).
    case llama3
    /// DeepSeek R1/V3: `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
    /// ```json …``` <｜tool▁call▁end｜>…<｜tool▁calls▁end｜>`.
    case deepseek
    /// Mistral: `[TOOL_CALLS][{"name": …, "arguments": {…}}, …]`.
    case mistral

    static func detect(template: String) -> ToolCallFormat? {
        if template.contains("<tool_call>") { return .hermes }
        if template.contains("tool▁calls▁begin") { return .deepseek }
        if template.contains("[TOOL_CALLS]") { return .mistral }
        if template.contains("<|start_header_id|>") && template.contains("parameters") { return .llama3 }
        return nil
    }
}

struct ToolCall: Equatable {
    var name: String
    /// The arguments as a JSON string, as OpenAI sends them.
    var arguments: String
}

/// Finds tool calls in a model's output as it streams: text outside calls is content (held
/// back only while it could be the start of a call), each complete call comes out parsed.
/// Feeding the output in any pieces gives the same content and calls. Output that looks like
/// a call but does not parse stays content, so nothing the model wrote is lost.
///
/// Small models often write a call as the whole answer, as bare JSON or in a ```json fence,
/// without their family's tags (Qwen2.5-Coder-0.5B does). An answer that starts like that is
/// held to the end and becomes a call if it is exactly one call of a declared tool.
struct ToolCallStream {
    let format: ToolCallFormat
    /// The declared tools; a call of another name is content.
    let names: Set<String>
    private var held: [UInt8] = []
    private var inCall = false
    /// Llama 3 and Mistral calls run to the end of the output.
    private var toEnd = false
    private var started = false
    /// Mistral's tag was taken off the held text (it goes back if the call does not parse).
    private var consumedOpen = false

    init(format: ToolCallFormat, names: Set<String>) {
        self.format = format
        self.names = names
    }

    private var open: [UInt8] {
        switch format {
        case .hermes: return Array("<tool_call>".utf8)
        case .deepseek: return Array("<｜tool▁calls▁begin｜>".utf8)
        case .mistral: return Array("[TOOL_CALLS]".utf8)
        case .llama3: return Array("<|python_tag|>".utf8)
        }
    }
    private var close: [UInt8] {
        switch format {
        case .hermes: return Array("</tool_call>".utf8)
        case .deepseek: return Array("<｜tool▁calls▁end｜>".utf8)
        case .mistral, .llama3: return []
        }
    }

    mutating func feed(_ text: String) -> (content: String, calls: [ToolCall]) {
        held.append(contentsOf: text.utf8)
        var content: [UInt8] = []
        var calls: [ToolCall] = []
        while true {
            if toEnd { break }
            if !started {
                // A call as the whole answer starts with `{`, a fence, or Llama 3's python tag.
                let start = held.firstIndex { !($0 == 0x20 || $0 == 0x0A) } ?? held.count
                if start == held.count { break }
                started = true
                let first = held[start]
                if first == UInt8(ascii: "{") || first == UInt8(ascii: "`")
                    || (format == .llama3 && (held[start...].starts(with: open) || open.starts(with: held[start...]))) {
                    toEnd = true
                    break
                }
                continue
            }
            if !inCall {
                if let at = ByteSearch.find(open, in: held) {
                    content += held[..<at]
                    held.removeFirst(at + open.count)
                    if format == .mistral { toEnd = true; consumedOpen = true; break }
                    inCall = true
                    continue
                }
                let keep = ByteSearch.partialSuffix(of: held, prefixOf: open)
                content += held[..<(held.count - keep)]
                held.removeFirst(held.count - keep)
                break
            }
            guard let end = ByteSearch.find(close, in: held) else { break }
            let body = Array(held[..<end])
            held.removeFirst(end + close.count)
            inCall = false
            if let parsed = parse(body) { calls += parsed } else { content += open + body + close }
        }
        return (String(decoding: content, as: UTF8.self), calls)
    }

    /// The end of the output: a call still open is parsed if it can be (models often end a
    /// call with end-of-turn instead of its closing tag); otherwise it is content.
    mutating func finish() -> (content: String, calls: [ToolCall]) {
        defer { held.removeAll() }
        if inCall || toEnd {
            var body = held[...]
            if format == .llama3, body.starts(with: open) { body = body.dropFirst(open.count) }
            if let parsed = parse(Array(body)) ?? (inCall ? nil : wholeAnswerCall(Array(body))) { return ("", parsed) }
            let prefix = inCall || consumedOpen ? open : []
            return (String(decoding: prefix + held, as: UTF8.self), [])
        }
        return (String(decoding: held, as: UTF8.self), [])
    }

    /// A whole answer that is one call, bare or fenced.
    private func wholeAnswerCall(_ body: [UInt8]) -> [ToolCall]? {
        var text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("```") {
            guard let newline = text.firstIndex(of: "\n"), text.hasSuffix("```") else { return nil }
            text = String(text[text.index(after: newline)...].dropLast(3))
        }
        guard let v = try? JSONParser().parse(text), let call = Self.call(v), names.contains(call.name) else { return nil }
        return [call]
    }

    /// The calls in one call body (a list for Mistral and DeepSeek).
    private func parse(_ body: [UInt8]) -> [ToolCall]? {
        switch format {
        case .hermes, .llama3:
            guard let v = try? JSONParser().parse(body), let call = Self.call(v), names.contains(call.name) else { return nil }
            return [call]
        case .mistral:
            guard case .array(let list)? = try? JSONParser().parse(body) else { return nil }
            let calls = list.compactMap(Self.call)
            return calls.count == list.count && !calls.isEmpty ? calls : nil
        case .deepseek:
            let text = String(decoding: body, as: UTF8.self)
            var calls: [ToolCall] = []
            for part in text.components(separatedBy: "<｜tool▁call▁begin｜>").dropFirst() {
                let call = part.components(separatedBy: "<｜tool▁call▁end｜>")[0]
                let pieces = call.components(separatedBy: "<｜tool▁sep｜>")
                guard pieces.count == 2 else { return nil }
                var rest = Substring(pieces[1])
                guard let newline = rest.firstIndex(of: "\n") else { return nil }
                let name = String(rest[..<newline]).trimmingCharacters(in: .whitespaces)
                rest = rest[rest.index(after: newline)...]
                var json = rest.trimmingCharacters(in: .whitespacesAndNewlines)
                if json.hasPrefix("```json") { json = String(json.dropFirst(7)) }
                if json.hasSuffix("```") { json = String(json.dropLast(3)) }
                guard !name.isEmpty, let args = try? JSONParser().parse(json), case .object = args else { return nil }
                calls.append(ToolCall(name: name, arguments: PythonJSON.dumps(args)))
            }
            return calls.isEmpty ? nil : calls
        }
    }

    private static func call(_ v: JSONValue) -> ToolCall? {
        guard case .string(let name)? = v["name"], !name.isEmpty else { return nil }
        let args = v["arguments"] ?? v["parameters"] ?? .object(JSONObject())
        switch args {
        case .object: return ToolCall(name: name, arguments: PythonJSON.dumps(args))
        case .string(let s):  // already a JSON string
            guard let parsed = try? JSONParser().parse(s), case .object = parsed else { return nil }
            return ToolCall(name: name, arguments: PythonJSON.dumps(parsed))
        default: return nil
        }
    }


}
