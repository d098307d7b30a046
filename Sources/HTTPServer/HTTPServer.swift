import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public struct HTTPServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var limits = HTTPLimits()
    /// Seconds to receive a request's header section once it has begun (408).
    public var headerTimeout = 10.0
    /// Seconds an idle keep-alive connection is kept.
    public var keepAliveTimeout = 60.0
    /// Open connections at most; past it new ones get 503 and are closed.
    public var maxConnections = 1024
    /// Unsent response bytes a connection may hold before its client is dropped as too slow.
    public var maxBufferedOutput = 4 * 1024 * 1024
    /// Received bytes waiting behind a response before reading pauses.
    public var maxBufferedInput = 1024 * 1024
    public var backlog: Int32 = 1024
    /// Serve HTTPS with this context (nil: plain HTTP).
    public var tls: TLSContext?

    public init() {}
}

/// What connections share: configuration, handler, counters. Counters guarded by lock.
final class ServerContext: @unchecked Sendable {
    let configuration: HTTPServerConfiguration
    let handler: HTTPHandler
    /// For the per-request counters (the connection table keeps `lock`).
    private let counters = SpinLock()
    /// The I/O loops, one per core; connections join them round-robin. Fewer queues than
    /// connections means fewer thread wake-ups per event (measured: a global concurrent queue
    /// spent a third of the time waking threads). Handlers therefore move slow work
    /// (rendering, tokenizing) elsewhere.
    private var loops: [EventLoop] = []
    private var lastLoop = 0
    private let lock = NSLock()
    private var connections: [ObjectIdentifier: Connection] = [:]
    private var activeRequests = 0
    private var draining = false

    init(configuration: HTTPServerConfiguration, handler: HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
    }

    /// Starts the loops; before the first connection.
    func startLoops() throws(SystemCallError) {
        var started: [EventLoop] = []
        for i in 0..<max(1, ProcessInfo.processInfo.activeProcessorCount) { started.append(try EventLoop(label: "martlet.io.\(i)")) }
        lock.withLock { loops = started }
    }

    var isDraining: Bool { counters.withLock { draining } }
    var connectionCount: Int { lock.withLock { connections.count } }
    var requestsInFlight: Int { counters.withLock { activeRequests } }

    /// A new connection for the socket on the next loop, or nil when the server is full.
    func admit(fd: Int32) -> Connection? {
        let d = isDraining
        return lock.withLock {
            guard !d, connections.count < configuration.maxConnections else { return nil }
            lastLoop = (lastLoop + 1) % loops.count
            let c = Connection(fd: fd, server: self, loop: loops[lastLoop])
            connections[ObjectIdentifier(c)] = c
            return c
        }
    }

    func connectionClosed(_ c: Connection) { lock.withLock { connections[ObjectIdentifier(c)] = nil } }
    func requestStarted() { counters.withLock { activeRequests += 1 } }
    func requestFinished() { counters.withLock { activeRequests -= 1 } }
    func startDraining() { counters.withLock { draining = true } }
}

/// A socket-level HTTP/1.1 server on Dispatch: one listening socket watched by a read
/// source, connections spread over one event loop per core. Knows nothing of what it serves.
public final class HTTPServer: @unchecked Sendable {
    private let context: ServerContext
    private var listenFD: Int32 = -1
    private var acceptSource: DispatchSourceRead?
    private let acceptQueue = DispatchQueue(label: "martlet.accept")
    /// The port actually bound (the configured one, or the one the system chose for 0).
    public private(set) var port = 0

    public init(configuration: HTTPServerConfiguration, handler: HTTPHandler) {
        context = ServerContext(configuration: configuration, handler: handler)
    }

    public var configuration: HTTPServerConfiguration { context.configuration }
    public var connectionCount: Int { context.connectionCount }
    public var requestsInFlight: Int { context.requestsInFlight }

    /// Binds and starts accepting.
    public func start() throws(SystemCallError) {
        let c = context.configuration
        try context.startLoops()
        let (fd, bound) = try Sys.listen(host: c.host, port: c.port, backlog: c.backlog)
        listenFD = fd
        port = bound
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: acceptQueue)
        source.setEventHandler { [unowned self] in acceptPending() }
        source.setCancelHandler { close(fd) }
        source.resume()
        acceptSource = source
    }

    private func acceptPending() {
        while true {
            let fd: Int32
            do {
                guard let accepted = try Sys.accept(listenFD) else { return }
                fd = accepted
            } catch {
                // Out of descriptors or similar: try again on the next event.
                return
            }
            if let connection = context.admit(fd: fd) {
                connection.start()
            } else {
                // Full (or shutting down): say so in one write and close.
                let body = "the server has too many open connections\n"
                let response = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\nRetry-After: 1\r\nConnection: close\r\n\r\n\(body)"
                _ = response.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                close(fd)
            }
        }
    }

    /// Stops accepting; idle connections close, requests in flight may finish. Returns when
    /// none are left or `timeout` seconds have passed (then the rest are dropped).
    public func shutdown(timeout: Double = 30) {
        context.startDraining()
        acceptQueue.sync {
            acceptSource?.cancel()
            acceptSource = nil
        }
        let deadline = Date().addingTimeInterval(timeout)
        while context.requestsInFlight > 0 && Date() < deadline { usleep(20_000) }
    }
}
