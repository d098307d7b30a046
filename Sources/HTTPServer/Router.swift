/// Routes requests by method and path. A path pattern may end in `/*`, matching one more
/// segment (its text is the handler's `parameter`). HEAD is served by the GET route without
/// a body (the connection drops it). Unknown paths get 404; known paths with another method
/// get 405 with `Allow`.
public struct Router: HTTPHandler {
    public typealias Route = @Sendable (HTTPRequest, _ parameter: String?, HTTPResponder) -> Void
    private var routes: [(method: String, pattern: String, handler: Route)] = []
    public var notFound: @Sendable (HTTPRequest) -> HTTPResponse = { r in .error(404, "no route for \(r.path)") }
    public var methodNotAllowed: @Sendable (HTTPRequest, [String]) -> HTTPResponse = { r, allowed in
        var response = HTTPResponse.error(405, "\(r.method) is not allowed on \(r.path)")
        response.headers.add("Allow", allowed.joined(separator: ", "))
        return response
    }

    public init() {}

    public mutating func add(_ method: String, _ pattern: String, _ handler: @escaping Route) {
        routes.append((method, pattern, handler))
    }

    private static func match(_ pattern: String, _ path: Substring) -> (Bool, String?) {
        if pattern.hasSuffix("/*") {
            let prefix = pattern.dropLast(1)
            guard path.hasPrefix(prefix) else { return (false, nil) }
            let rest = path.dropFirst(prefix.count)
            guard !rest.isEmpty else { return (false, nil) }
            return (true, String(rest))
        }
        return (path == pattern, nil)
    }

    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        let path = request.path
        let method = request.method == "HEAD" ? "GET" : request.method
        var allowed: [String] = []
        for r in routes {
            let (matched, parameter) = Self.match(r.pattern, path)
            guard matched else { continue }
            if r.method == method { return r.handler(request, parameter, responder) }
            allowed.append(r.method)
        }
        if allowed.isEmpty { return responder.respond(notFound(request)) }
        if allowed.contains("GET") { allowed.append("HEAD") }
        responder.respond(methodNotAllowed(request, allowed))
    }
}
