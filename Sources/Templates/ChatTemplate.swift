import Foundation
import JSON

/// A compiled chat template (the Jinja program in a model's `tokenizer.chat_template`).
/// Rendering gives text in parts that say which came from the conversation, so the
/// tokenizer can keep client text from becoming special tokens. Immutable; reusable.
public struct ChatTemplate: Sendable {
    public let source: String
    private let nodes: [Node]
    public let limits: TemplateLimits

    public init(_ source: String, limits: TemplateLimits = TemplateLimits()) throws(TemplateError) {
        self.source = source
        self.limits = limits
        self.nodes = try Parser.parse(source, limits: limits)
    }

    /// Renders with `context` (top-level variables). `now` is the time `strftime_now` sees.
    public func render(_ context: [String: Value], now: Date = Date()) throws(TemplateError) -> Text {
        let interp = Interpreter(context: context, limits: limits, now: now.timeIntervalSince1970)
        return try interp.render(nodes)
    }

    /// Renders a chat: `messages` and `tools` as the client sent them (untrusted), and
    /// the model's BOS and EOS text (trusted). Tool-call arguments given as JSON strings are
    /// parsed into objects first, as templates expect (vLLM does the same).
    public func render(messages: JSONValue, tools: JSONValue? = nil, addGenerationPrompt: Bool = true,
                       bosToken: String = "", eosToken: String = "", extra: [String: Value] = [:],
                       now: Date = Date()) throws(TemplateError) -> Text {
        var context = extra
        context["messages"] = Value(json: Self.parsingToolArguments(messages))
        if let tools, tools != .null { context["tools"] = Value(json: tools) }
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        context["bos_token"] = .trusted(bosToken)
        context["eos_token"] = .trusted(eosToken)
        return try render(context, now: now)
    }

    /// `messages[].tool_calls[].function.arguments`: a JSON string becomes the object it holds.
    static func parsingToolArguments(_ messages: JSONValue) -> JSONValue {
        guard case .array(var list) = messages else { return messages }
        for (i, m) in list.enumerated() {
            guard case .object(var msg) = m, case .array(var calls)? = msg["tool_calls"] else { continue }
            for (j, c) in calls.enumerated() {
                guard case .object(var call) = c, case .object(var fn)? = call["function"],
                      case .string(let args)? = fn["arguments"],
                      let parsed = try? JSONParser().parse(args), case .object = parsed else { continue }
                fn["arguments"] = parsed
                call["function"] = .object(fn)
                calls[j] = .object(call)
            }
            msg["tool_calls"] = .array(calls)
            list[i] = .object(msg)
        }
        return .array(list)
    }
}
