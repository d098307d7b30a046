import Engine
import Foundation
import JSON
import Templates
import Tokenization

/// Where a reasoning model's thinking goes in responses: DeepSeek's `reasoning_content`,
/// vLLM's newer `reasoning`, or both.
public enum ReasoningFormat: String, Sendable, CaseIterable {
    case reasoningContent = "reasoning_content"
    case reasoning
    case both
}

/// One served model: its engine, tokenizer and chat template, and how clients name it.
public final class ModelService: Sendable {
    public let id: String
    /// Other names a request may use for it (the file name, with and without `.gguf`).
    public let aliases: Set<String>
    public let engine: Engine
    public let tokenizer: Tokenizer
    public let template: ChatTemplate?
    public let created: Int
    public let fingerprint: String
    /// Whether the model thinks in `<think>…</think>` (its template mentions the tag), and
    /// where the thinking goes.
    public let thinks: Bool
    public let reasoningFormat: ReasoningFormat
    /// How the model writes tool calls, from its template (nil: it has no tool format).
    let toolCallFormat: ToolCallFormat?
    /// Token bytes for constrained decoding.
    let tokenTable: TokenTable
    /// The tokens of the markers the API parses (tool calls, thinking), rendered as text even
    /// where the vocabulary makes them control tokens.
    let markerTokens: Set<Int32>

    public init(id: String, aliases: Set<String> = [], engine: Engine, tokenizer: Tokenizer, template: ChatTemplate?,
                created: Int = Int(Date().timeIntervalSince1970), fingerprint: String, reasoningFormat: ReasoningFormat = .reasoningContent) {
        self.id = id
        self.aliases = aliases
        self.engine = engine
        self.tokenizer = tokenizer
        self.template = template
        self.created = created
        self.fingerprint = fingerprint
        self.thinks = template?.source.contains("<think>") ?? false
        self.toolCallFormat = template.flatMap { ToolCallFormat.detect(template: $0.source) }
        self.tokenTable = TokenTable(tokenizer: tokenizer)
        let markers = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<|python_tag|>", "[TOOL_CALLS]",
                       "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>", "<｜tool▁calls▁end｜>"]
        self.markerTokens = Set(markers.compactMap { tokenizer.vocabulary.id(of: $0) })
        self.reasoningFormat = reasoningFormat
    }

    public func answers(to name: String) -> Bool { name == id || aliases.contains(name) }

    public var maxContext: Int { engine.maxContext }

    /// The chat rendered by the model's template and tokenized: the template's markup may
    /// hold special tokens, the messages' text never does.
    func chatPrompt(_ messages: JSONValue) throws(APIError) -> [Int32] { try renderChat(messages, tools: nil).tokens }

    /// The chat's prompt tokens, and whether the prompt leaves the model inside `<think>`.
    func renderChat(_ messages: JSONValue, tools: JSONValue?) throws(APIError) -> (tokens: [Int32], insideThink: Bool) {
        guard let template else {
            throw .invalid("messages", "The model '\(id)' has no chat template; use /v1/completions", code: "no_chat_template")
        }
        let v = tokenizer.vocabulary
        let bos = v.bos.map { String(decoding: tokenizer.pieceBytes($0, special: true), as: UTF8.self) } ?? ""
        let eos = v.eos.map { String(decoding: tokenizer.pieceBytes($0, special: true), as: UTF8.self) } ?? ""
        var rendered: Text
        do {
            rendered = try template.render(messages: messages, tools: tools, addGenerationPrompt: true, bosToken: bos, eosToken: eos)
        } catch {
            throw .invalid("messages", error.raisedByTemplate ? error.message : "The chat template failed: \(error.description)",
                           code: "template_error")
        }
        var segments = rendered.parts.map { PromptSegment($0.string, trusted: $0.trusted) }
        // The tokenizer adds BOS itself; a template that writes it too would double it
        // (llama.cpp strips it the same way).
        if v.addBOS, !bos.isEmpty, let first = segments.first, first.trusted, first.text.hasPrefix(bos) {
            segments[0].text.removeFirst(bos.count)
        }
        var tail = Substring(rendered.string)
        while let last = tail.last, last.isWhitespace { tail.removeLast() }
        return (tokenizer.encode(segments, addSpecial: true), thinks && tail.hasSuffix("<think>"))
    }
}

