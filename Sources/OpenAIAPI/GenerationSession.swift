import Engine
import Foundation
import HTTPServer
import JSON

/// One API request from submission to its last byte: it submits one engine request per
/// prompt, turns the engine's events into deltas, and either streams each delta as a chunk
/// or folds them into one response. Both shapes come from the same deltas, so a
/// non-streaming response is exactly the fold of the stream.
///
/// Guarded by lock: a worker queue submits, the engine thread delivers events, the
/// connection's queue reports a client that left. Engine cancellations happen after the lock
/// is released.
final class GenerationSession: @unchecked Sendable {
    enum Kind { case chat, completion }

    let kind: Kind
    let service: ModelService
    let responder: HTTPResponder
    let options: GenerationOptions
    let id: String
    let created: Int
    private let lock = NSLock()
    private var stream: SSEStream?
    private var texts: [String]
    private var finishReasons: [String?]
    /// Per choice, the log-probability entries so far (chat: `content` items; completions:
    /// one item per token holding its parts of the legacy shape).
    private var logprobs: [[JSONValue]]
    /// Reasoning models' chat choices: the thinking, split from the answer.
    private var splitters: [ReasoningSplitter] = []
    private var reasoning: [String]
    /// Chat choices with tools: the calls found in the content so far.
    private var toolStreams: [ToolCallStream] = []
    private var toolCalls: [[(id: String, call: ToolCall)]]
    private let parallelToolCalls: Bool
    private let constraint: (@Sendable () -> TokenConstraint)?
    /// Completions with `echo`: each prompt's text and ids, returned before its completions.
    private var echoPrompts: [(text: String, ids: [Int32])]?
    private var engineIDs: [UInt64] = []
    private var openRequests = 0
    private var usage = Usage(promptTokens: 0, completionTokens: 0, cachedPromptTokens: 0)
    private var ended = false

    private let notes: RequestNotes?
    private let metrics: Metrics?
    private let started = DispatchTime.now().uptimeNanoseconds
    private var lastToken: UInt64 = 0

    init(kind: Kind, service: ModelService, responder: HTTPResponder, options: GenerationOptions, prompts: Int,
         notes: RequestNotes? = nil, metrics: Metrics? = nil, startsInsideThink: Bool = false,
         toolCalls format: ToolCallFormat? = nil, toolNames: [String] = [], parallelToolCalls: Bool = true,
         constraint: (@Sendable () -> TokenConstraint)? = nil) {
        self.constraint = constraint
        self.notes = notes
        self.metrics = metrics
        self.kind = kind
        self.service = service
        self.responder = responder
        self.options = options
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        id = (kind == .chat ? "chatcmpl-" : "cmpl-") + String((0..<24).map { _ in alphabet.randomElement()! })
        created = Int(Date().timeIntervalSince1970)
        texts = Array(repeating: "", count: prompts * options.n)
        finishReasons = Array(repeating: nil, count: prompts * options.n)
        logprobs = Array(repeating: [], count: prompts * options.n)
        reasoning = Array(repeating: "", count: prompts * options.n)
        toolCalls = Array(repeating: [], count: prompts * options.n)
        self.parallelToolCalls = parallelToolCalls
        if let format { toolStreams = Array(repeating: ToolCallStream(format: format, names: Set(toolNames)), count: prompts * options.n) }
        if kind == .chat && service.thinks {
            splitters = Array(repeating: ReasoningSplitter(startsInside: startsInsideThink), count: prompts * options.n)
        }
    }

    /// Submits every prompt, then opens the response. On a refusal nothing has been sent yet,
    /// so the client gets the error's own status (429 when overloaded, also for a stream), and
    /// what was submitted is cancelled. `echo`: the prompts' texts, to return before the
    /// completions.
    ///
    /// The lock is held throughout: engine events for prompts already submitted wait until the
    /// response is open. (The engine calls sinks without its own lock held, and disconnect
    /// handlers run later on the connection's queue, so nothing here can wait on this lock.)
    func start(_ prompts: [[Int32]], maxTokens: [Int], echo: [String]? = nil) {
        lock.lock()
        if let echo { echoPrompts = zip(echo, prompts).map { ($0, $1) } }
        openRequests = prompts.count
        for (i, prompt) in prompts.enumerated() {
            let offset = i * options.n
            var request = EngineRequest(prompt: prompt, n: options.n, sampling: samplingFor(i),
                                        stop: StopConditions(maxTokens: maxTokens[i], stopStrings: options.stop),
                                        logprobs: options.logprobs, constraint: constraint) { [self] event in
                handle(event, offset: offset, prompt: i)
            }
            request.promptLogprobs = echoPrompts != nil && options.logprobs != nil
            if !toolStreams.isEmpty || !splitters.isEmpty { request.visibleTokens = service.markerTokens }
            do {
                engineIDs.append(try service.engine.submit(request))
            } catch {
                ended = true
                responder.respond(APIError(error, param: kind == .chat ? "messages" : "prompt").response)
                let submitted = engineIDs
                lock.unlock()
                for id in submitted { service.engine.cancel(id) }
                return
            }
        }
        // A client that left meanwhile is told to these handlers at once.
        if options.stream {
            let s = SSEStream(responder) { [weak self] in self?.clientLeft() }
            stream = s
            if kind == .chat {
                for c in 0..<texts.count { s.send(data: chunk([delta(c, role: true, content: "")])) }
            }
        } else {
            responder.onDisconnect { [weak self] in self?.clientLeft() }
        }
        // Echo without log-probabilities needs nothing from the engine.
        if let echo = echoPrompts, options.logprobs == nil {
            for (i, e) in echo.enumerated() { for c in (i * options.n)..<((i + 1) * options.n) { emit(c, text: e.text, finish: nil) } }
        }
        lock.unlock()
    }

    /// Each prompt of a list samples with its own seed derived from the request's.
    private func samplingFor(_ prompt: Int) -> SamplingParameters {
        var s = options.sampling
        if let seed = s.seed { s.seed = seed &+ UInt64(prompt) &* 0x9E37_79B9_7F4A_7C15 }
        return s
    }

    private func clientLeft() {
        let ids = lock.withLock { () -> [UInt64] in
            ended = true
            return engineIDs
        }
        for id in ids { service.engine.cancel(id) }
    }

    /// Ends the session with `error` (mid-stream: an error event, then the end; else the
    /// error response) unless it has ended already. Returns the engine requests to cancel,
    /// which the caller does once the lock is released. (Answering under the lock is safe:
    /// sessions never run on the connection's queue, so the responder only queues work there.)
    private func failLocked(_ error: APIError) -> [UInt64] {
        if !ended {
            ended = true
            if let stream {
                stream.send(data: PythonJSON.dumps(error.body))
                stream.finish()
            } else {
                responder.respond(error.response)
            }
        }
        return engineIDs
    }

    // MARK: - Engine events (engine thread)

    private func handle(_ event: EngineEvent, offset: Int, prompt: Int) {
        let toCancel = lock.withLock { handleLocked(event, offset: offset, prompt: prompt) }
        for id in toCancel { service.engine.cancel(id) }
    }

    /// Returns the engine requests to cancel when the event ends the session with an error.
    private func handleLocked(_ event: EngineEvent, offset: Int, prompt: Int) -> [UInt64] {
        guard !ended else { return [] }
        switch event {
        case let .token(choice, id, text, lp):
            let now = DispatchTime.now().uptimeNanoseconds
            if lastToken == 0 {
                metrics?.firstToken(after: Double(now - started) / 1e9, model: service.id)
            } else {
                metrics?.interToken(Double(now - lastToken) / 1e9, model: service.id)
            }
            lastToken = now
            let entry = lp.flatMap { service.tokenizer.vocabulary.endOfGeneration.contains(id) ? nil : logprobEntry(id, $0, choice: offset + choice) }
            emit(offset + choice, text: text, finish: nil, logprob: entry)
        case let .finished(choice, reason, text):
            switch reason {
            case .stop, .length: emit(offset + choice, text: text, finish: reason.rawValue)
            case .cancelled, .error:
                // Not the client's doing (that ends the session first): the server is
                // shutting down or the request failed. Say so, then end.
                return failLocked(APIError(status: 503, message: "The request was stopped: the server is shutting down",
                                           type: "server_error", code: "shutting_down"))
            }
        case .promptLogprobs(let lps):
            guard let e = echoPrompts?[prompt] else { break }
            // The prompt, token by token, with its log-probabilities, before each completion.
            for c in offset..<(offset + options.n) {
                var entries: [JSONValue] = []
                var start = texts[c].unicodeScalars.count
                for (id, lp) in zip(e.ids, lps) {
                    let t = tokenText(id).0
                    var top = JSONObject()
                    for cand in lp?.top ?? [] { top[tokenText(cand.id).0] = .double(Double(cand.logprob)) }
                    entries.append(.object(JSONObject([("token", .string(t)), ("logprob", lp.map { .double(Double($0.logprob)) } ?? .null),
                                                       ("top", lp == nil ? .null : .object(top)), ("offset", .int(start))])))
                    start += t.unicodeScalars.count
                }
                texts[c] += e.text
                logprobs[c] += entries
                stream?.send(data: chunk([delta(c, content: e.text, logprobs: logprobsJSON(entries))]))
            }
        case .completed(let u):
            usage.promptTokens += u.promptTokens
            usage.completionTokens += u.completionTokens
            usage.cachedPromptTokens += u.cachedPromptTokens
            metrics?.usage(u, model: service.id)
            openRequests -= 1
            if openRequests == 0 { finishLocked() }
        }
        return []
    }

    private func emit(_ choice: Int, text: String, finish: String?, logprob: JSONValue? = nil) {
        var parts: [ReasoningSplitter.Part]
        if splitters.isEmpty {
            parts = text.isEmpty ? [] : [.content(text)]
        } else {
            parts = splitters[choice].feed(text)
            if finish != nil { parts += splitters[choice].finish() }
        }
        if !toolStreams.isEmpty {
            // Content goes through the tool-call parser: calls come out whole, the rest as content.
            var routed: [ReasoningSplitter.Part] = []
            var calls: [ToolCall] = []
            for part in parts {
                guard case .content(let t) = part else { routed.append(part); continue }
                let r = toolStreams[choice].feed(t)
                if !r.content.isEmpty { routed.append(.content(r.content)) }
                calls += r.calls
            }
            if finish != nil {
                let r = toolStreams[choice].finish()
                if !r.content.isEmpty { routed.append(.content(r.content)) }
                calls += r.calls
            }
            parts = routed
            for call in calls where parallelToolCalls || toolCalls[choice].isEmpty { emitToolCall(choice, call) }
        }
        for (i, part) in parts.enumerated() {
            let lp = i == 0 ? logprob : nil
            switch part {
            case .content(let t):
                texts[choice] += t
                stream?.send(data: chunk([delta(choice, content: t, logprobs: lp.map { logprobsJSON([$0]) })]))
            case .reasoning(let t):
                reasoning[choice] += t
                stream?.send(data: chunk([delta(choice, reasoning: t, logprobs: lp.map { logprobsJSON([$0]) })]))
            }
        }
        if parts.isEmpty, let logprob { stream?.send(data: chunk([delta(choice, content: "", logprobs: logprobsJSON([logprob]))])) }
        if let logprob { logprobs[choice].append(logprob) }
        if var finish {
            // A choice that called tools and then stopped ends for the tools.
            if finish == "stop" && !toolCalls[choice].isEmpty { finish = "tool_calls" }
            stream?.send(data: chunk([delta(choice, finish: finish)]))
            finishReasons[choice] = finish
        }
    }

    /// A complete call: its index, id and name first, then its arguments (OpenAI's deltas).
    private func emitToolCall(_ choice: Int, _ call: ToolCall) {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let id = "call_" + String((0..<24).map { _ in alphabet.randomElement()! })
        let index = toolCalls[choice].count
        toolCalls[choice].append((id, call))
        guard let stream else { return }
        let head = JSONValue.object(JSONObject([("index", .int(index)), ("id", .string(id)), ("type", .string("function")),
                                                ("function", .object(JSONObject([("name", .string(call.name)), ("arguments", .string(""))])))]))
        let args = JSONValue.object(JSONObject([("index", .int(index)), ("function", .object(JSONObject([("arguments", .string(call.arguments))])))]))
        for d in [head, args] {
            var o = header()
            o["choices"] = .array([.object(JSONObject([("index", .int(choice)), ("delta", .object(JSONObject([("tool_calls", .array([d]))]))),
                                                       ("logprobs", .null), ("finish_reason", .null)]))])
            if options.includeUsage { o["usage"] = .null }
            stream.send(data: PythonJSON.dumps(.object(o)))
        }
    }

    /// The thinking under the field(s) the service is set to use.
    private func reasoningFields(_ text: String?) -> [(String, JSONValue)] {
        let v = text.map { JSONValue.string($0) } ?? .null
        switch service.reasoningFormat {
        case .reasoningContent: return [("reasoning_content", v)]
        case .reasoning: return [("reasoning", v)]
        case .both: return [("reasoning_content", v), ("reasoning", v)]
        }
    }

    // MARK: - Log-probabilities

    private func tokenText(_ id: Int32) -> (String, [UInt8]) {
        let bytes = service.tokenizer.pieceBytes(id)
        return (String(decoding: bytes, as: UTF8.self), bytes)
    }

    /// One token's entry: chat's `{token, logprob, bytes, top_logprobs}`, or for completions
    /// the token's column of the legacy shape (`token`, `logprob`, `top`, `offset`).
    private func logprobEntry(_ id: Int32, _ lp: TokenLogprobs, choice: Int) -> JSONValue {
        let (text, bytes) = tokenText(id)
        if kind == .chat {
            func item(_ t: String, _ b: [UInt8], _ l: Float) -> [(String, JSONValue)] {
                [("token", .string(t)), ("logprob", .double(Double(l))), ("bytes", .array(b.map { .int(Int($0)) }))]
            }
            let top: [JSONValue] = lp.top.map { c in
                let (t, b) = tokenText(c.id)
                return .object(JSONObject(item(t, b, c.logprob)))
            }
            return .object(JSONObject(item(text, bytes, lp.logprob) + [("top_logprobs", .array(top))]))
        }
        var top = JSONObject()
        for c in lp.top { top[tokenText(c.id).0] = .double(Double(c.logprob)) }
        return .object(JSONObject([("token", .string(text)), ("logprob", .double(Double(lp.logprob))),
                                   ("top", .object(top)), ("offset", .int(texts[choice].unicodeScalars.count))]))
    }

    /// The `logprobs` object of a choice holding `entries`.
    private func logprobsJSON(_ entries: [JSONValue]) -> JSONValue {
        if kind == .chat { return .object(JSONObject([("content", .array(entries)), ("refusal", .null)])) }
        return .object(JSONObject([
            ("tokens", .array(entries.map { $0["token"] ?? .null })),
            ("token_logprobs", .array(entries.map { $0["logprob"] ?? .null })),
            ("top_logprobs", .array(entries.map { $0["top"] ?? .null })),
            ("text_offset", .array(entries.map { $0["offset"] ?? .null })),
        ]))
    }

    private func finishLocked() {
        ended = true
        notes?.set("prompt_tokens", String(usage.promptTokens))
        notes?.set("cached_tokens", String(usage.cachedPromptTokens))
        notes?.set("completion_tokens", String(usage.completionTokens))
        if let stream {
            if options.includeUsage {
                var o = header()
                o["choices"] = .array([])
                o["usage"] = usageJSON()
                stream.send(data: PythonJSON.dumps(.object(o)))
            }
            stream.send(data: "[DONE]")
            stream.finish()
        } else {
            responder.respond(HTTPResponse(status: 200, contentType: "application/json", body: PythonJSON.dumps(folded())))
        }
    }

    // MARK: - Shapes

    private func header() -> JSONObject {
        JSONObject([
            ("id", .string(id)),
            ("object", .string(kind == .chat ? (stream == nil ? "chat.completion" : "chat.completion.chunk") : "text_completion")),
            ("created", .int(created)),
            ("model", .string(service.id)),
            ("system_fingerprint", .string(service.fingerprint)),
        ])
    }

    private func delta(_ choice: Int, role: Bool = false, content: String? = nil, reasoning: String? = nil, finish: String? = nil,
                       logprobs: JSONValue? = nil) -> JSONValue {
        var d = JSONObject()
        if kind == .chat {
            if role { d["role"] = .string("assistant") }
            if let content { d["content"] = .string(content) }
            if let reasoning { for (k, v) in reasoningFields(reasoning) { d[k] = v } }
            return .object(JSONObject([("index", .int(choice)), ("delta", .object(d)), ("logprobs", logprobs ?? .null),
                                       ("finish_reason", finish.map { .string($0) } ?? .null)]))
        }
        return .object(JSONObject([("text", .string(content ?? "")), ("index", .int(choice)), ("logprobs", logprobs ?? .null),
                                   ("finish_reason", finish.map { .string($0) } ?? .null)]))
    }

    private func chunk(_ choices: [JSONValue]) -> String {
        var o = header()
        o["choices"] = .array(choices)
        if options.includeUsage { o["usage"] = .null }
        return PythonJSON.dumps(.object(o))
    }

    private func usageJSON() -> JSONValue {
        .object(JSONObject([
            ("prompt_tokens", .int(usage.promptTokens)),
            ("completion_tokens", .int(usage.completionTokens)),
            ("total_tokens", .int(usage.totalTokens)),
            ("prompt_tokens_details", .object(JSONObject([("cached_tokens", .int(usage.cachedPromptTokens))]))),
            ("completion_tokens_details", .object(JSONObject([("reasoning_tokens", .int(0))]))),
        ]))
    }

    /// The stream's deltas, folded.
    private func folded() -> JSONValue {
        var o = header()
        o["choices"] = .array(texts.indices.map { c in
            let finish = finishReasons[c].map { JSONValue.string($0) } ?? .null
            let lp = options.logprobs == nil ? JSONValue.null : logprobsJSON(logprobs[c])
            if kind == .chat {
                return .object(JSONObject([
                    ("index", .int(c)),
                    ("message", .object(JSONObject([("role", .string("assistant")),
                                                    ("content", toolCalls[c].isEmpty || !texts[c].isEmpty ? .string(texts[c]) : .null)]
                                               + (splitters.isEmpty ? [] : reasoningFields(reasoning[c].isEmpty ? nil : reasoning[c]))
                                               + (toolCalls[c].isEmpty ? [] : [("tool_calls", .array(toolCalls[c].map { t in
                                                   .object(JSONObject([("id", .string(t.id)), ("type", .string("function")),
                                                                       ("function", .object(JSONObject([("name", .string(t.call.name)),
                                                                                                        ("arguments", .string(t.call.arguments))])))]))
                                               }))])
                                               + [("refusal", .null)]))),
                    ("logprobs", lp), ("finish_reason", finish),
                ]))
            }
            return .object(JSONObject([("text", .string(texts[c])), ("index", .int(c)), ("logprobs", lp), ("finish_reason", finish)]))
        })
        o["usage"] = usageJSON()
        return .object(o)
    }
}
