/// Answers requests. Called on the connection's queue, one request at a time per
/// connection; it must eventually answer through the responder exactly once (a whole
/// response, or a stream that it finishes), from any thread.
public protocol HTTPHandler: Sendable {
    func handle(_ request: HTTPRequest, _ responder: HTTPResponder)
}

/// The way back to one request's connection. Safe to use from any thread: every call hops
/// onto the connection's queue. Calls after the connection has gone do nothing.
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
        connection.perform { [connection, generation] in connection.setDisconnectHandler(f, generation: generation) }
    }

    /// Adds header fields to this request's response (whole or streamed): call it before
    /// answering.
    public func addHeaders(_ fields: [(String, String)]) {
        connection.perform { [connection, generation] in connection.addHeaders(fields, generation: generation) }
    }

    /// `f(status)` runs once when the response has been written in full or the request ended
    /// without one (status 0): for access logs and metrics.
    public func onFinish(_ f: @escaping @Sendable (Int) -> Void) {
        connection.perform { [connection, generation] in connection.setFinishHandler(f, generation: generation) }
    }

    /// Sends a whole response.
    public func respond(_ response: HTTPResponse) {
        connection.perform { [connection, generation] in connection.respond(response, generation: generation) }
    }

    /// Starts a streamed response (chunked for HTTP/1.1, close-delimited for HTTP/1.0).
    /// `heartbeat` bytes are sent whenever nothing else was for `heartbeatInterval` seconds.
    /// `onDisconnect` runs (on the connection's queue) if the client leaves or stops reading
    /// before `finishStream`.
    public func startStream(status: Int, headers: HTTPHeaders, heartbeat: [UInt8]? = nil, heartbeatInterval: Double = 15,
                            onDisconnect: @escaping @Sendable () -> Void) {
        connection.perform { [connection, generation] in
            connection.startStream(status: status, headers: headers, heartbeat: heartbeat, interval: heartbeatInterval,
                                   onDisconnect: onDisconnect, generation: generation)
        }
    }

    public func send(_ bytes: [UInt8]) {
        connection.perform { [connection, generation] in connection.streamSend(bytes, generation: generation) }
    }

    /// Ends the stream; the connection is kept for the next request when it can be.
    public func finishStream() {
        connection.perform { [connection, generation] in connection.finishStream(generation: generation) }
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
