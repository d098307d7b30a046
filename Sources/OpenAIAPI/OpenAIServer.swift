import Engine
import Foundation
import HTTPServer
import JSON

/// The OpenAI endpoints over the served models; a request's `model` picks one. Models may
/// still be loading when the server starts: until each is `ready`, requests for it get 503,
/// and `/ready` says not ready until all are.
public final class OpenAIServer: Sendable {
    // Guarded by lock.
    private let lock = NSLock()
    private nonisolated(unsafe) var services: [ModelService] = []
    private nonisolated(unsafe) var draining = false
    private let expectedModels: Int
    public let metrics = Metrics()

    public init(expectedModels: Int = 1) { self.expectedModels = expectedModels }

    public func ready(_ s: ModelService) { lock.withLock { services.append(s) } }

    /// From now on new generation requests get 503 and `/ready` says not ready; requests in
    /// flight go on.
    public func startDraining() { lock.withLock { draining = true } }

    public var loadedServices: [ModelService] { lock.withLock { services } }

    private var allLoaded: Bool { lock.withLock { services.count >= expectedModels } }

    /// The model a request names (nil: the first one).
    private func service(_ name: String?) throws(APIError) -> ModelService {
        let (list, d) = lock.withLock { (services, draining) }
        if d { throw APIError(status: 503, message: "The server is shutting down", type: "server_error", code: "shutting_down", retryAfter: 1) }
        guard let name else {
            guard let first = list.first else { throw .loading }
            return first
        }
        if let s = list.first(where: { $0.answers(to: name) }) { return s }
        if list.count < expectedModels { throw .loading }
        throw .modelNotFound(name)
    }

    /// The routes, ready to hand to the HTTP server.
    public var router: Router {
        var r = Router()
        r.notFound = { req in APIError(status: 404, message: "Unknown request URL: \(req.method) \(req.path)", type: "invalid_request_error",
                                       code: "unknown_url").response }
        r.methodNotAllowed = { req, allowed in
            var response = APIError(status: 405, message: "Method \(req.method) is not allowed for \(req.path); use \(allowed.joined(separator: " or "))",
                                    type: "invalid_request_error", code: "method_not_allowed").response
            response.headers.add("Allow", allowed.joined(separator: ", "))
            return response
        }
        r.add("GET", "/") { _, _, responder in
            responder.respond(HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: ChatPage.html,
                                           headers: HTTPHeaders([("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")])))
        }
        // Alive as long as the process answers (a liveness probe must not kill a loading server).
        r.add("GET", "/health") { [self] _, _, responder in
            responder.respond(HTTPResponse(status: 200, contentType: "application/json",
                                           body: allLoaded ? #"{"status": "ok"}"# : #"{"status": "loading"}"#))
        }
        r.add("GET", "/ready") { [self] _, _, responder in
            let d = lock.withLock { draining }
            let loaded = allLoaded
            let ok = loaded && !d
            responder.respond(HTTPResponse(status: ok ? 200 : 503, contentType: "application/json",
                                           body: ok ? #"{"status": "ready"}"# : d ? #"{"status": "draining"}"# : #"{"status": "loading"}"#))
        }
        r.add("GET", "/metrics") { [self] _, _, responder in
            let models = loadedServices.map { ($0.id, $0.engine.statistics()) }
            responder.respond(HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: metrics.render(models: models)))
        }
        r.add("GET", "/v1/models") { [self] _, _, responder in
            answer(responder) { () throws(APIError) in
                let list = loadedServices
                if list.isEmpty { throw .loading }
                return .object(JSONObject([("object", .string("list")), ("data", .array(list.map(modelJSON)))]))
            }
        }
        r.add("GET", "/v1/models/*") { [self] _, name, responder in
            answer(responder) { () throws(APIError) in
                try modelJSON(service(name.flatMap { $0.removingPercentEncoding } ?? ""))
            }
        }
        // Parsing, rendering and tokenizing a prompt can take a while: off the I/O loop.
        r.add("POST", "/v1/chat/completions") { [self] request, _, responder in
            DispatchQueue.global(qos: .userInitiated).async { self.chat(request, responder) }
        }
        r.add("POST", "/v1/completions") { [self] request, _, responder in
            DispatchQueue.global(qos: .userInitiated).async { self.completions(request, responder) }
        }
        // vLLM's token-counting endpoints.
        r.add("POST", "/tokenize") { [self] request, _, responder in
            DispatchQueue.global(qos: .userInitiated).async {
                self.answer(responder) { () throws(APIError) in try self.tokenize(request.body) }
            }
        }
        r.add("POST", "/detokenize") { [self] request, _, responder in
            answer(responder) { () throws(APIError) in try detokenize(request.body) }
        }
        return r
    }

    /// `{"prompt": TEXT, "add_special_tokens": true}` or `{"messages": [...]}` →
    /// `{"count", "max_model_len", "tokens"}`.
    private func tokenize(_ body: [UInt8]) throws(APIError) -> JSONValue {
        let f = try Fields(body)
        let s = try service(try f.string("model"))
        let tokens: [Int32]
        if f.present("messages") != nil {
            guard case .array(let list)? = f.present("messages"), !list.isEmpty else {
                throw .invalid("messages", "'messages' must be a non-empty array", code: "invalid_value")
            }
            var messages: [JSONValue] = []
            for (i, m) in list.enumerated() { messages.append(try ChatRequest.message(m, at: "messages[\(i)]")) }
            tokens = try s.renderChat(.array(messages), tools: f.present("tools")).tokens
        } else if let prompt = try f.string("prompt") {
            tokens = s.tokenizer.encode(prompt, addSpecial: try f.bool("add_special_tokens") ?? true, parseSpecial: false)
        } else {
            throw .invalid("prompt", "you must provide a prompt or messages parameter", code: "missing_required_parameter")
        }
        return .object(JSONObject([("count", .int(tokens.count)), ("max_model_len", .int(s.maxContext)),
                                   ("tokens", .array(tokens.map { .int(Int($0)) }))]))
    }

    /// `{"tokens": [ids]}` → `{"prompt": TEXT}`.
    private func detokenize(_ body: [UInt8]) throws(APIError) -> JSONValue {
        let f = try Fields(body)
        let s = try service(try f.string("model"))
        guard case .array(let list)? = f.present("tokens") else {
            throw .invalid("tokens", "you must provide a tokens parameter (an array of token ids)", code: "missing_required_parameter")
        }
        var ids: [Int32] = []
        for v in list {
            guard case .int(let i) = v, i >= 0, i < s.tokenizer.count else {
                throw .invalid("tokens", "'tokens' must hold token ids between 0 and \(s.tokenizer.count - 1)", code: "invalid_value")
            }
            ids.append(Int32(i))
        }
        let text = (try? s.tokenizer.decode(ids)) ?? ""
        return .object(JSONObject([("prompt", .string(text))]))
    }

    private func chat(_ request: HTTPRequest, _ responder: HTTPResponder) {
        do throws(APIError) {
            let chat = try ChatRequest(body: request.body)
            let s = try service(chat.options.model)
            var toolFormat: ToolCallFormat?
            if chat.tools != nil {
                guard let format = s.toolCallFormat else {
                    throw .invalid("tools", "The model '\(s.id)' has no tool-call format in its chat template that this server can parse", code: "tools_unsupported")
                }
                if chat.toolChoice != .none { toolFormat = format }
            }
            let (prompt, insideThink) = try s.renderChat(chat.messages, tools: chat.tools)
            let maxTokens = try Self.maxTokens(chat.options.maxTokens, prompt: prompt.count, service: s, param: "messages")
            GenerationSession(kind: .chat, service: s, responder: responder, options: chat.options, prompts: 1, notes: request.notes, metrics: metrics,
                              startsInsideThink: insideThink,
                              toolCalls: toolFormat, toolNames: chat.toolNames, parallelToolCalls: chat.parallelToolCalls,
                              constraint: Self.constraint(chat.grammar, s))
                .start([prompt], maxTokens: [maxTokens])
        } catch {
            responder.respond(error.response)
        }
    }

    private func completions(_ request: HTTPRequest, _ responder: HTTPResponder) {
        do throws(APIError) {
            let completion = try CompletionRequest(body: request.body)
            let s = try service(completion.options.model)
            var prompts: [[Int32]] = []
            var limits: [Int] = []
            var texts: [String] = []
            for p in completion.prompts {
                let ids: [Int32]
                switch p {
                case .text(let t): ids = s.tokenizer.encode(t, addSpecial: true, parseSpecial: false)
                case .tokens(let t): ids = t
                }
                for t in ids where Int(t) >= s.tokenizer.count {
                    throw .invalid("prompt", "token id \(t) is out of range for a vocabulary of \(s.tokenizer.count) tokens", code: "invalid_value")
                }
                prompts.append(ids)
                switch p {
                case .text(let t): texts.append(t)
                case .tokens(let t): texts.append((try? s.tokenizer.decode(t)) ?? "")
                }
                // The legacy endpoint's default is 16 tokens.
                limits.append(try Self.maxTokens(completion.options.maxTokens ?? 16, prompt: ids.count, service: s, param: "prompt",
                                                 explicit: completion.options.maxTokens != nil))
            }
            GenerationSession(kind: .completion, service: s, responder: responder, options: completion.options, prompts: prompts.count,
                              notes: request.notes, metrics: metrics)
                .start(prompts, maxTokens: limits, echo: completion.echo ? texts : nil)
        } catch {
            responder.respond(error.response)
        }
    }

    /// A factory of per-choice constraints for a compiled grammar.
    static func constraint(_ g: JSONSchemaGrammar?, _ s: ModelService) -> (@Sendable () -> TokenConstraint)? {
        guard let g else { return nil }
        let grammar = g.grammar, root = g.root, table = s.tokenTable
        return { GrammarConstraint(grammar: grammar, root: root, table: table) }
    }

    /// Tokens to generate at most: what the client asked, which must fit beside the prompt;
    /// without a request, whatever the context leaves.
    static func maxTokens(_ requested: Int?, prompt: Int, service: ModelService, param: String, explicit: Bool = true) throws(APIError) -> Int {
        let context = service.maxContext
        guard prompt < context else {
            var e = APIError.contextLength(max: context, prompt: prompt)
            e.param = param
            throw e
        }
        guard let requested else { return context - prompt }
        if prompt + requested > context {
            guard explicit else { return context - prompt }
            var e = APIError.contextLength(max: context, prompt: prompt, completion: requested)
            e.param = param
            throw e
        }
        return requested
    }

    private func modelJSON(_ s: ModelService) -> JSONValue {
        .object(JSONObject([("id", .string(s.id)), ("object", .string("model")), ("created", .int(s.created)), ("owned_by", .string("martlet"))]))
    }

    private func answer(_ responder: HTTPResponder, _ body: () throws(APIError) -> JSONValue) {
        do {
            let value = try body()
            responder.respond(HTTPResponse(status: 200, contentType: "application/json", body: PythonJSON.dumps(value)))
        } catch {
            responder.respond(error.response)
        }
    }
}
