import Engine
import JSON

/// A validated `POST /v1/chat/completions` body.
struct ChatRequest {
    var options: GenerationOptions
    /// The messages as the template will see them (content parts joined into text,
    /// `developer` as `system`).
    var messages: JSONValue
    /// The tools as the client sent them (for the template), or nil.
    var tools: JSONValue?
    var toolNames: [String] = []
    enum ToolChoice: Equatable { case none, auto, required, function(String) }
    var toolChoice = ToolChoice.auto
    var parallelToolCalls = true
    /// What the output must be a document of (structured output, a forced tool call).
    var grammar: JSONSchemaGrammar?

    static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool"]
    static let maxMessages = 4096
    static let maxTools = 512

    init(body: [UInt8]) throws(APIError) {
        let f = try Fields(body)
        options = try GenerationOptions(f, maxTokensKeys: ["max_tokens", "max_completion_tokens"])
        guard let m = f.present("messages") else {
            throw .invalid("messages", "you must provide a messages parameter", code: "missing_required_parameter")
        }
        guard case .array(let list) = m, !list.isEmpty else {
            throw .invalid("messages", m == .array([]) ? "'messages' must not be empty" : "'messages' must be an array, got \(m.kind)", code: m == .array([]) ? "invalid_value" : "invalid_type")
        }
        guard list.count <= Self.maxMessages else {
            throw .invalid("messages", "'messages' may hold at most \(Self.maxMessages) messages, got \(list.count)", code: "invalid_value")
        }
        var out: [JSONValue] = []
        for (i, item) in list.enumerated() {
            out.append(try Self.message(item, at: "messages[\(i)]"))
        }
        messages = .array(out)
        if case .array(let list)? = f.present("tools"), !list.isEmpty {
            guard list.count <= Self.maxTools else {
                throw .invalid("tools", "'tools' may hold at most \(Self.maxTools) tools, got \(list.count)", code: "invalid_value")
            }
            for (i, t) in list.enumerated() {
                let at = "tools[\(i)]"
                guard t["type"] == .string("function"), case .object? = t["function"] else {
                    throw .invalid(at, "'\(at)' must be {\"type\": \"function\", \"function\": {...}}", code: "invalid_value")
                }
                guard case .string(let name)? = t["function"]?["name"], !name.isEmpty else {
                    throw .invalid("\(at).function.name", "'\(at).function.name' must be a non-empty string", code: "invalid_value")
                }
                if let p = t["function"]?["parameters"], p != .null, case .object = p {} else if let p = t["function"]?["parameters"], p != .null {
                    throw .invalid("\(at).function.parameters", "'\(at).function.parameters' must be a JSON schema object", code: "invalid_type")
                }
                toolNames.append(name)
            }
            tools = .array(list)
        } else if let v = f.present("tools"), v != .array([]) {
            throw .invalid("tools", "'tools' must be an array, got \(v.kind)", code: "invalid_type")
        }
        switch f.present("tool_choice") {
        case nil: toolChoice = tools == nil ? .none : .auto
        case .string("none")?: toolChoice = .none
        case .string("auto")?: toolChoice = tools == nil ? .none : .auto
        case .string("required")?: toolChoice = .required
        case let v?:
            guard v["type"] == .string("function"), case .string(let name)? = v["function"]?["name"] else {
                throw .invalid("tool_choice", "'tool_choice' must be none, auto, required or {\"type\": \"function\", \"function\": {\"name\": ...}}", code: "invalid_value")
            }
            toolChoice = .function(name)
        }
        if toolChoice == .required || { if case .function = toolChoice { return true } else { return false } }() {
            guard tools != nil else { throw .invalid("tool_choice", "'tool_choice' requires 'tools'", code: "invalid_value") }
            if case .function(let name) = toolChoice, !toolNames.contains(name) {
                throw .invalid("tool_choice", "'tool_choice' names the function '\(name)', which is not among the tools (\(toolNames.joined(separator: ", ")))", code: "invalid_value")
            }
            // The call is forced as one JSON object {"name": …, "arguments": …} of an allowed tool.
            var choices: [JSONValue] = []
            for t in Self.arrayItems(tools) {
                guard case .string(let name)? = t["function"]?["name"] else { continue }
                if case .function(let wanted) = toolChoice, wanted != name { continue }
                var params = JSONValue.object(JSONObject([("type", .string("object"))]))
                if let p = t["function"]?["parameters"], p != .null { params = p }
                choices.append(.object(JSONObject([
                    ("type", .string("object")),
                    ("properties", .object(JSONObject([("name", .object(JSONObject([("const", .string(name))]))), ("arguments", params)]))),
                    ("required", .array([.string("name"), .string("arguments")])),
                ])))
            }
            grammar = try Self.compile(.object(JSONObject([("anyOf", .array(choices))])), param: "tools")
        }
        parallelToolCalls = try f.bool("parallel_tool_calls") ?? true
        try f.refuse("functions", unless: { $0 == .array([]) }, "deprecated; use 'tools'")
        try f.refuse("function_call", unless: { $0 == .string("none") || $0 == .string("auto") }, "deprecated; use 'tool_choice'")
        if let rf = f.present("response_format"), grammar == nil {
            switch rf["type"] {
            case .string("text")?: break
            case .string("json_object")?: grammar = JSONSchemaGrammar.anyObject()
            case .string("json_schema")?:
                guard case .object? = rf["json_schema"], let schema = rf["json_schema"]?["schema"], schema != .null else {
                    throw .invalid("response_format", "'response_format.json_schema.schema' is required for type json_schema", code: "invalid_value")
                }
                grammar = try Self.compile(schema, param: "response_format")
            default:
                throw .invalid("response_format", "'response_format.type' must be text, json_object or json_schema", code: "invalid_value")
            }
        }
        let top = try f.int("top_logprobs", in: 0...20)
        if try f.bool("logprobs") == true {
            options.logprobs = top ?? 0
        } else if let top, top > 0 {
            throw .invalid("top_logprobs", "'top_logprobs' requires 'logprobs' to be true", code: "invalid_value")
        }
        try f.refuse("modalities", unless: { $0 == .array([.string("text")]) }, "only text is supported")
        try f.refuse("audio")
        try f.refuse("prediction")
        try f.refuse("reasoning_effort")
        try f.refuse("web_search_options")
        try f.refuse("verbosity")
    }

    private static func arrayItems(_ v: JSONValue?) -> [JSONValue] { if case .array(let a)? = v { return a } else { return [] } }

    static func compile(_ schema: JSONValue, param: String) throws(APIError) -> JSONSchemaGrammar {
        do { return try JSONSchemaGrammar(schema: schema) } catch {
            throw .invalid(param, "The JSON schema uses \(error.keyword) at \(error.path), which this server does not support", code: "unsupported_schema")
        }
    }

    static func message(_ item: JSONValue, at path: String) throws(APIError) -> JSONValue {
        guard case .object(var o) = item else { throw .invalid(path, "'\(path)' must be an object, got \(item.kind)", code: "invalid_type") }
        guard case .string(let role)? = o["role"] else {
            throw .invalid("\(path).role", "'\(path).role' must be one of \(roles.sorted().joined(separator: ", "))", code: "invalid_value")
        }
        guard roles.contains(role) else {
            throw .invalid("\(path).role", "'\(path).role' must be one of \(roles.sorted().joined(separator: ", ")), got '\(role)'", code: "invalid_value")
        }
        if role == "developer" { o["role"] = .string("system") }
        switch o["content"] {
        case .string?:
            break
        case .array(let parts)?:
            var texts: [String] = []
            for (j, p) in parts.enumerated() {
                let at = "\(path).content[\(j)]"
                guard case .string(let type)? = p["type"] else { throw .invalid(at, "'\(at).type' is missing", code: "invalid_value") }
                guard type == "text" else { throw .unsupported(at, "content of type '\(type)' is not supported; only text") }
                guard case .string(let text)? = p["text"] else { throw .invalid(at, "'\(at).text' must be a string", code: "invalid_type") }
                texts.append(text)
            }
            o["content"] = .string(texts.joined(separator: "\n"))
        case .null?, nil:
            guard role == "assistant" else { throw .invalid("\(path).content", "'\(path).content' is required for role '\(role)'", code: "missing_required_parameter") }
        case let v?:
            throw .invalid("\(path).content", "'\(path).content' must be a string or an array of text parts, got \(v.kind)", code: "invalid_type")
        }
        if let name = o["name"], name != .null, name.string == nil {
            throw .invalid("\(path).name", "'\(path).name' must be a string", code: "invalid_type")
        }
        return .object(o)
    }
}

/// A validated `POST /v1/completions` body.
struct CompletionRequest {
    var options: GenerationOptions
    enum Prompt { case text(String), tokens([Int32]) }
    var prompts: [Prompt]
    /// Return the prompt before each completion (with its log-probabilities when asked).
    var echo = false

    init(body: [UInt8]) throws(APIError) {
        let f = try Fields(body)
        options = try GenerationOptions(f, maxTokensKeys: ["max_tokens"])
        guard let p = f.present("prompt") else {
            throw .invalid("prompt", "you must provide a prompt parameter", code: "missing_required_parameter")
        }
        func tokens(_ list: [JSONValue], _ at: String) throws(APIError) -> [Int32] {
            var out: [Int32] = []
            for v in list {
                guard case .int(let i) = v, i >= 0, i <= Int(Int32.max) else {
                    throw .invalid("prompt", "'\(at)' must hold token ids (non-negative integers)", code: "invalid_type")
                }
                out.append(Int32(i))
            }
            return out
        }
        switch p {
        case .string(let s):
            prompts = [.text(s)]
        case .array(let list) where list.isEmpty:
            throw .invalid("prompt", "'prompt' must not be empty", code: "invalid_value")
        case .array(let list):
            if case .int = list[0] {
                prompts = [.tokens(try tokens(list, "prompt"))]
            } else {
                var out: [Prompt] = []
                for (i, e) in list.enumerated() {
                    switch e {
                    case .string(let s): out.append(.text(s))
                    case .array(let inner): out.append(.tokens(try tokens(inner, "prompt[\(i)]")))
                    default: throw .invalid("prompt", "'prompt' must be a string, an array of strings, or token ids", code: "invalid_type")
                    }
                }
                prompts = out
            }
        default:
            throw .invalid("prompt", "'prompt' must be a string, an array of strings, or token ids, got \(p.kind)", code: "invalid_type")
        }
        guard prompts.count * options.n <= 64 else {
            throw .invalid("prompt", "at most 64 choices in all (prompts × n), got \(prompts.count * options.n)", code: "invalid_value")
        }
        try f.refuse("best_of", unless: { $0 == .int(1) || $0 == .int(options.n) })
        echo = try f.bool("echo") ?? false
        try f.refuse("suffix", unless: { $0 == .string("") })
        if let v = f.present("logprobs"), v != .bool(false) {
            options.logprobs = try f.int("logprobs", in: 0...5)
        }
    }
}
