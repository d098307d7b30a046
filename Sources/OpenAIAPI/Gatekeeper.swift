import Foundation
import Synchronization
import HTTPServer
import JSON

/// Who may talk to the server, and from where.
public struct AccessPolicy: Sendable {
    /// Accepted as `Authorization: Bearer KEY`; empty: no key needed.
    public var apiKeys: [String] = []
    /// The server listens on loopback only: requests must name a loopback host, so a web
    /// page on another site cannot reach it through DNS rebinding.
    public var loopbackOnly = true
    /// Origins allowed for CORS (`*` for any); empty: CORS is off.
    public var corsOrigins: [String] = []
    public init() {}
}

/// Wraps the API's routes with what every request goes through: a request id, the host
/// check, CORS, the API key, one access-log line and the request metrics.
public struct Gatekeeper: HTTPHandler {
    let inner: HTTPHandler
    let policy: AccessPolicy
    let metrics: Metrics
    let log: @Sendable ([UInt8]) -> Void
    /// Paths answered without a key.
    static let open: Set<Substring> = ["/health", "/ready", "/"]

    public init(inner: HTTPHandler, policy: AccessPolicy, metrics: Metrics, log: @escaping @Sendable ([UInt8]) -> Void) {
        self.inner = inner
        self.policy = policy
        self.metrics = metrics
        self.log = log
    }

    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        var request = request
        let notes = RequestNotes(id: Self.requestID(request.headers["x-request-id"]))
        request.notes = notes
        let start = DispatchTime.now().uptimeNanoseconds
        let route = Self.route(request.path)
        var headers = [("X-Request-Id", notes.id)]
        let origin = request.headers["origin"]
        let corsAllowed = origin.map { o in policy.corsOrigins.contains("*") || policy.corsOrigins.contains(o) } ?? false
        if corsAllowed, let origin {
            headers += [("Access-Control-Allow-Origin", policy.corsOrigins.contains("*") ? "*" : origin), ("Vary", "Origin")]
        }
        responder.addHeaders(headers)
        let (method, path, log, metrics) = (request.method, request.path, self.log, self.metrics)
        responder.onFinish { status in
            let micros = (DispatchTime.now().uptimeNanoseconds - start) / 1000
            metrics.request(route: route, status: status, seconds: Double(micros) / 1e6)
            log(Self.logLine(id: notes.id, method: method, path: path, status: status, micros: micros, notes: notes.all))
        }

        if policy.loopbackOnly, let host = request.headers["host"], !Self.isLoopback(host: host) {
            return responder.respond(APIError(status: 403, message: "The Host '\(host.prefix(100))' is not allowed: this server only answers to localhost",
                                              type: "invalid_request_error", code: "host_not_allowed").response)
        }
        if request.method == "OPTIONS" {
            guard corsAllowed else {
                return responder.respond(APIError(status: 403, message: "CORS is not enabled for this origin", type: "invalid_request_error",
                                                  code: "cors_not_allowed").response)
            }
            return responder.respond(HTTPResponse(status: 204, headers: HTTPHeaders([
                ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
                ("Access-Control-Allow-Headers", request.headers["access-control-request-headers"] ?? "Authorization, Content-Type"),
                ("Access-Control-Max-Age", "600"),
            ])))
        }
        if !policy.apiKeys.isEmpty && !Self.open.contains(request.path) {
            guard let auth = request.headers["authorization"], auth.hasPrefix("Bearer "), Self.matches(String(auth.dropFirst(7)), policy.apiKeys) else {
                var response = APIError(status: 401, message: "Incorrect API key provided. Send it as 'Authorization: Bearer KEY'.",
                                        type: "invalid_request_error", code: "invalid_api_key").response
                response.headers.add("WWW-Authenticate", "Bearer")
                return responder.respond(response)
            }
        }
        inner.handle(request, responder)
    }

    /// The route label for metrics: known paths as they are, anything else as "other"
    /// (so a scanner cannot grow the label set).
    static func route(_ path: Substring) -> String {
        if path.hasPrefix("/v1/models/") { return "/v1/models/{id}" }
        return knownRoutes.first { $0 == path } ?? "other"
    }

    private static let knownRoutes = ["/health", "/v1/chat/completions", "/v1/completions", "/", "/ready", "/metrics", "/v1/models",
                                      "/tokenize", "/detokenize"]

    /// One access-log line: a JSON object, written as bytes directly (this runs for every
    /// request).
    static func logLine(id: String, method: String, path: Substring, status: Int, micros: UInt64, notes: [(String, String)]) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(contentsOf: "{\"time\": \"".utf8)
        line.append(contentsOf: Timestamp.now().utf8)
        line.append(contentsOf: "\", \"id\": ".utf8)
        appendQuoted(id.utf8, to: &line)
        line.append(contentsOf: ", \"method\": ".utf8)
        appendQuoted(method.utf8, to: &line)
        line.append(contentsOf: ", \"path\": ".utf8)
        appendQuoted(path.utf8.prefix(512), to: &line)
        line.append(contentsOf: ", \"status\": ".utf8)
        line.append(contentsOf: String(status).utf8)
        line.append(contentsOf: ", \"duration_us\": ".utf8)
        line.append(contentsOf: String(micros).utf8)
        for (k, v) in notes {
            line.append(contentsOf: ", ".utf8)
            appendQuoted(k.utf8, to: &line)
            line.append(contentsOf: ": ".utf8)
            if let n = Int(v) { line.append(contentsOf: String(n).utf8) } else { appendQuoted(v.utf8, to: &line) }
        }
        line.append(0x7D)  // }
        return line
    }

    /// A JSON string literal; plain ASCII (the usual case) copied as it is.
    static func appendQuoted<C: Collection<UInt8>>(_ s: C, to line: inout [UInt8]) {
        if s.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) {
            line.append(0x22)
            line.append(contentsOf: s)
            line.append(0x22)
        } else {
            line.append(contentsOf: PythonJSON.quote(String(decoding: s, as: UTF8.self)).utf8)
        }
    }

    /// The client's id when it is short and printable, else a new one: a random prefix for
    /// this process and a counter.
    static func requestID(_ given: String?) -> String {
        if let g = given, !g.isEmpty, g.utf8.count <= 128, g.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return g }
        return idPrefix + String(idCounter.add(1, ordering: .relaxed).newValue, radix: 16)
    }

    private static let idPrefix = String(UInt64.random(in: 1 << 40 ..< 1 << 44), radix: 16) + "-"
    private static let idCounter = Atomic<Int>(0)

    static func isLoopback(host: String) -> Bool {
        // The usual forms, without allocating.
        if host.hasPrefix("127.0.0.1") || host.hasPrefix("localhost") {
            let rest = host.utf8.dropFirst(host.hasPrefix("127.0.0.1") ? 9 : 9)
            if rest.isEmpty || rest.first == UInt8(ascii: ":") { return true }
        }
        var h = Substring(host.lowercased())
        if h.hasPrefix("[") {  // [::1]:8080
            guard let close = h.firstIndex(of: "]") else { return false }
            h = h[h.index(after: h.startIndex)..<close]
            return h == "::1"
        }
        if let colon = h.lastIndex(of: ":") { h = h[..<colon] }
        return h == "localhost" || h.hasSuffix(".localhost") || h.hasPrefix("127.")
    }

    /// Whether `key` equals one of `keys`, in time that depends only on their lengths.
    static func matches(_ key: String, _ keys: [String]) -> Bool {
        let k = Array(key.utf8)
        var found = false
        for candidate in keys {
            let c = Array(candidate.utf8)
            var diff = UInt8(k.count == c.count ? 0 : 1)
            for i in 0..<max(k.count, c.count) { diff |= (i < k.count ? k[i] : 0) ^ (i < c.count ? c[i] : 0) }
            found = found || diff == 0
        }
        return found
    }
}

/// The current UTC time as ISO 8601 to the second (for the access log).
enum Timestamp {
    private static let clock = SecondClock { t in
        let two = SecondClock.two
        return "\(t.tm_year + 1900)-\(two(t.tm_mon + 1))-\(two(t.tm_mday))T\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec))Z"
    }

    static func now() -> String { clock.now() }
}
