import Engine
import HTTPServer
import JSON

/// An error as OpenAI reports it: `{"error": {"message", "type", "param", "code"}}` with
/// its HTTP status. Every failure of the API becomes one of these, here and nowhere else.
public struct APIError: Error, Equatable, Sendable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    public var retryAfter: Int?

    public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    public static func invalid(_ param: String?, _ message: String, code: String? = nil) -> APIError {
        APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
    }

    public static func unsupported(_ param: String, _ detail: String = "") -> APIError {
        invalid(param, "'\(param)' is not supported by this server\(detail.isEmpty ? "" : ": " + detail)", code: "unsupported_parameter")
    }

    public static func modelNotFound(_ model: String) -> APIError {
        APIError(status: 404, message: "The model '\(model)' does not exist", type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    public static let loading = APIError(status: 503, message: "The model is still loading; try again shortly", type: "server_error",
                                         code: "model_loading", retryAfter: 1)

    public static func contextLength(max: Int, prompt: Int, completion: Int? = nil) -> APIError {
        let message: String
        if let completion {
            message = "This model's maximum context length is \(max) tokens. However, you requested \(prompt + completion) tokens (\(prompt) in the messages, \(completion) in the completion). Please reduce the length of the messages or completion."
        } else {
            message = "This model's maximum context length is \(max) tokens. However, your messages resulted in \(prompt) tokens. Please reduce the length of the messages."
        }
        return invalid("messages", message, code: "context_length_exceeded")
    }

    /// The one mapping from the engine's refusals to API errors.
    public init(_ e: EngineError, param: String = "messages") {
        switch e {
        case let .contextLengthExceeded(p, m):
            self = .contextLength(max: m, prompt: p)
            self.param = param
        case .promptExceedsCache:
            self = .invalid(param, e.description, code: "context_length_exceeded")
        case let .overloaded(requests, tokens):
            self = APIError(status: 429, message: "The server is overloaded: \(requests) requests with \(tokens) prompt tokens are already waiting. Try again shortly.", type: "rate_limit_error",
                            code: "overloaded", retryAfter: 1)
        case .emptyPrompt:
            self = .invalid(param, "The prompt is empty")
        case .tokenOutOfRange:
            self = .invalid("prompt", e.description)
        case let .invalidParameter(name, message):
            self = .invalid(name, "\(name) \(message)")
        case .shuttingDown:
            self = APIError(status: 503, message: "The server is shutting down", type: "server_error", code: "shutting_down", retryAfter: 1)
        }
    }

    public var body: JSONValue {
        .object(JSONObject([("error", .object(JSONObject([
            ("message", .string(message)), ("type", .string(type)),
            ("param", param.map { .string($0) } ?? .null), ("code", code.map { .string($0) } ?? .null),
        ])))]))
    }

    public var response: HTTPResponse {
        var h = HTTPHeaders()
        if let retryAfter { h.add("Retry-After", String(retryAfter)) }
        return HTTPResponse(status: status, contentType: "application/json", body: PythonJSON.dumps(body), headers: h)
    }
}
