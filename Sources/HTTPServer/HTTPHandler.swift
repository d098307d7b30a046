/// Answers requests. Called on the connection's queue, one request at a time per
/// connection; it must eventually answer through the responder exactly once (a whole
/// response, or a stream that it finishes), from any thread.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder)
}

/// The way back to one request's connection. Safe to use from any thread: a call made on the
/// connection's own queue acts at once (no block is allocated or queued; this is the path of
/// every synchronous answer), any other hops onto that queue. Calls after the connection has
/// gone do nothing.
public final class HTTPResponder: Sendable {
    private let connection: Connection
    private let generation: Int

    init(connection: Connection, generation: Int) {
        self.connection = connection
        self.generation = generation
    }

    /// `f` runs (on the connection's queue) if the client leaves before the answer is
    /// complete, at most once; right away if it has already gone.
    public func onDisconnect(_ f: @escaping @Sendable () -> Void) {
        if connection.isCurrent { return connection.setDisconnectHandler(f, generation: generation) }
        connection.queue.async { [self] in onDisconnect(f) }
    }

    /// Adds header fields to this request's response (whole or streamed): call it before
    /// answering.
    public func addHeaders(_ fields: [(String, String)]) {
        if connection.isCurrent { return connection.addHeaders(fields, generation: generation) }
        connection.queue.async { [self] in addHeaders(fields) }
    }

    /// `f(status)` runs once when the response has been written in full or the request ended
    /// without one (status 0): for access logs and metrics.
    public func onFinish(_ f: @escaping @Sendable (Int) -> Void) {
        if connection.isCurrent { return connection.setFinishHandler(f, generation: generation) }
        connection.queue.async { [self] in onFinish(f) }
    }

    /// Sends a whole response.
    public func respond(_ response: HTTPResponse) {
        if connection.isCurrent { return connection.respond(response, generation: generation) }
        connection.queue.async { [self] in respond(response) }
    }

    /// Starts a streamed response (chunked for HTTP/1.1, close-delimited for HTTP/1.0).
    /// `heartbeat` bytes are sent whenever nothing else was for `heartbeatInterval` seconds.
    /// `onDisconnect` runs (on the connection's queue) if the client leaves or stops reading
    /// before `finishStream`.
    public func startStream(status: Int, headers: HTTPHeaders, heartbeat: [UInt8]? = nil, heartbeatInterval: Double = 15,
                            onDisconnect: @escaping @Sendable () -> Void) {
        if connection.isCurrent {
            return connection.startStream(status: status, headers: headers, heartbeat: heartbeat, interval: heartbeatInterval,
                                          onDisconnect: onDisconnect, generation: generation)
        }
        connection.queue.async { [self] in startStream(status: status, headers: headers, heartbeat: heartbeat,
                                                        heartbeatInterval: heartbeatInterval, onDisconnect: onDisconnect) }
    }

    public func send(_ bytes: [UInt8]) {
        if connection.isCurrent { return connection.streamSend(bytes, generation: generation) }
        connection.queue.async { [self] in send(bytes) }
    }

    /// Ends the stream; the connection is kept for the next request when it can be.
    public func finishStream() {
        if connection.isCurrent { return connection.finishStream(generation: generation) }
        connection.queue.async { [self] in finishStream() }
    }
}

/// Server-sent events (text/event-stream) over a responder: one `data:` event per call,
/// flushed at once; `: keep-alive` comments while nothing else is sent.
public struct SSEStream: Sendable {
    public let responder: HTTPResponder

    public init(_ responder: HTTPResponder, status: Int = 200, keepAliveInterval: Double = 15, onDisconnect: @escaping @Sendable () -> Void) {
        self.responder = responder
        var h = HTTPHeaders()
        h.add("Content-Type", "text/event-stream; charset=utf-8")
        h.add("Cache-Control", "no-cache")
        h.add("X-Accel-Buffering", "no")
        responder.startStream(status: status, headers: h, heartbeat: Array(": keep-alive\n\n".utf8),
                              heartbeatInterval: keepAliveInterval, onDisconnect: onDisconnect)
    }

    /// `data: <payload>\n\n`; the payload must not contain a line break (JSON never does).
    public func send(data payload: String) {
        var bytes: [UInt8] = Array("data: ".utf8)
        bytes.reserveCapacity(payload.utf8.count + 8)
        bytes.append(contentsOf: payload.utf8)
        bytes.append(contentsOf: [0x0A, 0x0A])
        responder.send(bytes)
    }

    public func finish() { responder.finishStream() }
}
