import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One client connection: reads when its event loop says the socket has input, parses
/// requests one at a time (pipelined ones wait in the parser's buffer, so responses go out in
/// order), and writes until the socket is full, then again when the loop says there is room.
///
/// Confined to its loop's queue.
final class Connection: @unchecked Sendable {
    let fd: Int32
    let queue: DispatchQueue
    private let server: ServerContext
    private let loop: EventLoop
    /// The loop's name for this connection, once registered.
    private var token: UInt64?
    private var parser: HTTPParser
    private var timer: DispatchSourceTimer?
    /// TLS over this socket, when the server has a certificate.
    private let tls: TLSSession?

    private var output: [UInt8] = []
    private var outputSent = 0

    /// `lingering`: our side is shut down; the client's remaining bytes are read and
    /// dropped for a moment so that closing does not reset the connection under the last
    /// response (RFC 9112 §9.6).
    private enum State { case reading, handling, streaming, closing, lingering, closed }
    private var state = State.reading
    /// Identifies the request being answered; responders of older requests are ignored.
    private var generation = 0
    private var keepAlive = true
    private var isHEAD = false
    /// The client takes gzip-encoded responses.
    private var acceptsGzip = false
    private var chunked = false
    private var onDisconnect: (@Sendable () -> Void)?
    private var heartbeat: [UInt8]?
    private var heartbeatInterval = 15.0
    private var readingSuspended = false

    // Timestamps in seconds of uptime.
    private var lastActivity: Double
    private var headStarted: Double?
    private var lastWrite: Double

    /// A request has been handed to the handler and not yet answered in full.
    private var requestOpen = false
    /// Set by the handler for the request being answered.
    private var extraHeaders: [(String, String)] = []
    private var finishHandler: (@Sendable (Int) -> Void)?
    private var responseStatus = 0
    private var lingerStarted = 0.0

    init(fd: Int32, server: ServerContext, loop: EventLoop) {
        self.fd = fd
        self.server = server
        self.loop = loop
        queue = loop.queue
        parser = HTTPParser(limits: server.configuration.limits)
        tls = server.configuration.tls.flatMap { TLSSession(context: $0) }
        let now = Self.now()
        lastActivity = now
        lastWrite = now
    }

    /// Whether the caller runs on this connection's queue (a responder called there acts at
    /// once instead of queueing a block).
    var isCurrent: Bool { loop.isCurrent }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Joins the loop (from any thread).
    func start() {
        queue.async { [self] in
            Sys.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            do { token = try loop.add(self) } catch { return closeSocket() }
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + 1, repeating: 1, leeway: .milliseconds(250))
            t.setEventHandler { [weak self] in self?.tick() }
            t.resume()
            timer = t
        }
    }

    // MARK: - Events from the loop

    /// The socket has input (or the peer hung up). Edge-triggered: read until it would block.
    func readable() {
        if !readingSuspended { readAvailable() }
    }

    /// The socket has room for output again: write, then take the requests that waited for it.
    func writable() {
        guard pendingOutput > 0 else { return }
        flush()
        if state == .reading && !outputBacklogged {
            processInput()
            resumeReading()
        }
    }

    // MARK: - Reading

    private func readAvailable() {
        guard state != .closed else { return }
        if state == .lingering { return drain() }
        while true {
            let r: Sys.IOResult
            do { r = try Sys.read(fd, loop.readBuffer, EventLoop.readBufferSize) } catch { return abort() }
            switch r {
            case .wouldBlock:
                return
            case .endOfFile:
                // The client closed its side: a request still being answered is abandoned.
                if state == .handling || state == .streaming { return abort() }
                if state == .reading && parser.bufferedBytes == 0 { return abort() }
                return beginClose()
            case .bytes(let n):
                lastActivity = Self.now()
                let received = UnsafeRawBufferPointer(start: loop.readBuffer, count: n)
                if let tls {
                    let plain: [UInt8]
                    do { plain = try tls.receive(received) } catch { return abort() }
                    writeRaw(tls.pendingOutput())  // handshake records
                    guard state != .closed && state != .lingering else { return }
                    plain.withUnsafeBytes { parser.append($0) }
                } else {
                    parser.append(received)
                }
                if state == .reading { processInput() }
                guard state != .closed else { return }
                // Bytes pile up behind a response being made or written: stop reading for now.
                if parser.bufferedBytes > server.configuration.maxBufferedInput && !readingSuspended && (state != .reading || outputBacklogged) {
                    readingSuspended = true
                    return
                }
            }
        }
    }

    /// Pipelined requests wait while this much output is unsent: a client that sends without
    /// reading cannot make the server buffer responses without bound.
    private static let pipelineOutputLimit = 64 * 1024
    private var outputBacklogged: Bool { pendingOutput > Self.pipelineOutputLimit }

    private func processInput() {
        while state == .reading && !outputBacklogged {
            switch parser.next() {
            case .incomplete:
                // The header timeout runs from a request's first byte; under TLS from the
                // handshake's first byte, so a handshake trickled forever is timed out too.
                let started = parser.bufferedBytes > 0 || !(tls?.isEstablished ?? true)
                if started { if headStarted == nil { headStarted = Self.now() } } else { headStarted = nil }
                return
            case .continueExpected:
                enqueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            case .error(let e):
                // After a framing error nothing more on this connection can be trusted.
                extraHeaders = []
                keepAlive = false
                isHEAD = false
                writeResponse(.error(e.status, e.message))
                beginClose()
                return
            case .request(let box):
                headStarted = nil
                var request = box.request
                generation += 1
                state = .handling
                keepAlive = request.keepAlive && !server.isDraining
                isHEAD = request.method == "HEAD"
                acceptsGzip = Self.acceptsGzip(request.headers["accept-encoding"])
                if let coding = request.headers["content-encoding"]?.trimmingSpaces.lowercased(), coding != "identity" {
                    guard coding == "gzip" else {
                        writeResponse(.error(415, "request bodies may be gzip-encoded or not encoded, not '\(coding.prefix(40))'"))
                        state = .reading
                        continue
                    }
                    do {
                        request.body = try Gzip.decompress(request.body, limit: server.configuration.limits.bodyBytes)
                    } catch .tooLarge {
                        keepAlive = false
                        writeResponse(.error(413, "the decompressed body is larger than \(server.configuration.limits.bodyBytes) bytes"))
                        beginClose()
                        return
                    } catch {
                        writeResponse(.error(400, "the body is not valid gzip"))
                        state = .reading
                        continue
                    }
                }
                requestOpen = true
                server.requestStarted()
                server.handler.handle(request, HTTPResponder(connection: self, generation: generation))
            }
        }
    }

    // MARK: - Answering

    func respond(_ response: HTTPResponse, generation g: Int) {
        guard g == generation, state == .handling else { return }
        onDisconnect = nil
        writeResponse(response)
        requestFinished()
    }

    private func writeResponse(_ response: HTTPResponse) {
        responseStatus = response.status
        var headers = withExtraHeaders(response.headers)
        var body = response.body
        // gzip for bodies worth it, when the client takes it (never for streams).
        if acceptsGzip && body.count > 1024 && !headers.contains("content-encoding"), let packed = Gzip.compress(body) {
            body = packed
            headers.add("Content-Encoding", "gzip")
            headers.add("Vary", "Accept-Encoding")
        }
        var bytes = HTTPResponse.head(status: response.status, headers: headers, contentLength: body.count, keepAlive: keepAlive)
        if !isHEAD { bytes.append(contentsOf: body) }
        enqueue(bytes)
    }

    /// Whether an Accept-Encoding value allows gzip (RFC 9110 §12.5.3: "gzip;q=0" refuses it).
    static func acceptsGzip(_ value: String?) -> Bool {
        guard let value else { return false }
        for item in value.lowercased().split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingSpaces }
            guard parts.first == "gzip" || parts.first == "*" else { continue }
            let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            return q > 0
        }
        return false
    }

    func addHeaders(_ fields: [(String, String)], generation g: Int) {
        guard g == generation, state == .handling else { return }
        extraHeaders += fields
    }

    func setFinishHandler(_ f: @escaping @Sendable (Int) -> Void, generation g: Int) {
        guard g == generation, requestOpen else { return f(0) }
        finishHandler = f
    }

    private func withExtraHeaders(_ h: HTTPHeaders) -> HTTPHeaders {
        var out = h
        for (name, value) in extraHeaders where !out.contains(name) { out.add(name, value) }
        return out
    }

    func setDisconnectHandler(_ f: @escaping @Sendable () -> Void, generation g: Int) {
        guard g == generation, state == .handling || state == .streaming else { return f() }
        onDisconnect = f
    }

    func startStream(status: Int, headers: HTTPHeaders, heartbeat: [UInt8]?, interval: Double,
                     onDisconnect: @escaping @Sendable () -> Void, generation g: Int) {
        guard g == generation, state == .handling else {
            if g == generation || state == .closed { onDisconnect() }
            return
        }
        state = .streaming
        let earlier = self.onDisconnect
        if let earlier {
            self.onDisconnect = { @Sendable in earlier(); onDisconnect() }
        } else {
            self.onDisconnect = onDisconnect
        }
        self.heartbeat = heartbeat
        heartbeatInterval = interval
        // HTTP/1.0 has no chunked coding: the stream ends when the connection does.
        chunked = keepAlive
        responseStatus = status
        enqueue(HTTPResponse.head(status: status, headers: withExtraHeaders(headers), contentLength: nil, keepAlive: keepAlive, chunked: chunked))
    }

    func streamSend(_ bytes: [UInt8], generation g: Int) {
        guard g == generation, state == .streaming, !bytes.isEmpty, !isHEAD else { return }
        enqueue(chunked ? Self.chunk(bytes) : bytes)
        if pendingOutput > server.configuration.maxBufferedOutput {
            // The client is not reading: drop it rather than buffer without bound.
            abort()
        }
    }

    func finishStream(generation g: Int) {
        guard g == generation, state == .streaming else { return }
        onDisconnect = nil
        if chunked && !isHEAD { enqueue(Array("0\r\n\r\n".utf8)) }
        if !chunked { keepAlive = false }
        requestFinished()
    }

    private static func chunk(_ bytes: [UInt8]) -> [UInt8] {
        var out = Array(String(bytes.count, radix: 16).utf8)
        out.reserveCapacity(bytes.count + 12)
        out.append(contentsOf: [0x0D, 0x0A])
        out.append(contentsOf: bytes)
        out.append(contentsOf: [0x0D, 0x0A])
        return out
    }

    private func closeRequest() {
        guard requestOpen else { return }
        requestOpen = false
        server.requestFinished()
        let f = finishHandler
        finishHandler = nil
        extraHeaders = []
        f?(responseStatus)
        responseStatus = 0
    }

    private func requestFinished() {
        closeRequest()
        guard keepAlive else { return beginClose() }
        state = .reading
        lastActivity = Self.now()
        processInput()
        resumeReading()
    }

    /// Reading paused behind a response: the loop's edge for what arrived meanwhile has
    /// passed, so read now (as a new block, not inside the caller).
    private func resumeReading() {
        guard readingSuspended else { return }
        readingSuspended = false
        queue.async { [self] in readAvailable() }
    }

    // MARK: - Writing

    private var pendingOutput: Int { output.count - outputSent }

    /// Plaintext out: encrypted first under TLS.
    private func enqueue(_ bytes: [UInt8]) {
        guard let tls else { return writeRaw(bytes) }
        guard state != .closed && state != .lingering else { return }
        do { try tls.send(bytes) } catch { return abort() }
        writeRaw(tls.pendingOutput())
    }

    /// Bytes for the socket as they are.
    private func writeRaw(_ bytes: [UInt8]) {
        guard state != .closed && state != .lingering, !bytes.isEmpty else { return }
        if pendingOutput == 0 {
            output.removeAll(keepingCapacity: true)
            outputSent = 0
        }
        output.append(contentsOf: bytes)
        flush()
    }

    private func flush() {
        while pendingOutput > 0 {
            let r: Sys.IOResult
            do {
                r = try output.withUnsafeBytes { p throws(SystemCallError) in try Sys.write(fd, p.baseAddress! + outputSent, pendingOutput) }
            } catch { return abort() }
            switch r {
            case .bytes(let n):
                outputSent += n
                lastWrite = Self.now()
            case .wouldBlock, .endOfFile:
                return  // the loop calls `writable` when there is room
            }
        }
        if state == .closing { finishClose() }
    }

    // MARK: - Timers

    private func tick() {
        let now = Self.now()
        let c = server.configuration
        switch state {
        case .reading:
            if let started = headStarted, now - started > c.headerTimeout {
                keepAlive = false
                isHEAD = false
                writeResponse(.error(408, "the request header took longer than \(Int(c.headerTimeout)) s"))
                beginClose()
            } else if pendingOutput > 0 && now - lastWrite > c.keepAliveTimeout {
                abort()  // pipelined responses that the client never reads
            } else if parser.bufferedBytes == 0 && now - lastActivity > c.keepAliveTimeout {
                beginClose()
            }
        case .streaming:
            if let hb = heartbeat, now - lastWrite >= heartbeatInterval, pendingOutput == 0 { enqueue(chunked ? Self.chunk(hb) : hb) }
        case .closing:
            // A peer that never reads what is left: give up after the keep-alive timeout.
            if now - lastWrite > c.keepAliveTimeout { abort() }
        case .lingering:
            if now - lingerStarted > 2 { closeSocket() }
        case .handling, .closed:
            break
        }
    }

    // MARK: - Closing

    /// Closes after the pending output is written.
    private func beginClose() {
        guard state != .closed && state != .closing && state != .lingering else { return }
        if state == .handling || state == .streaming { notifyDisconnect() }
        closeRequest()
        state = .closing
        if pendingOutput == 0 { finishClose() }
    }

    /// Closes now, dropping pending output; a request in flight is told its client left.
    func abort() {
        guard state != .closed && state != .lingering else { return }
        if state == .handling || state == .streaming { notifyDisconnect() }
        closeRequest()
        output.removeAll()
        outputSent = 0
        finishClose()
    }

    private func notifyDisconnect() {
        let f = onDisconnect
        onDisconnect = nil
        f?()
        // A handler still working on a whole response learns it from its responder's calls
        // being ignored; `generation` moves on so they are.
        generation += 1
    }

    private func finishClose() {
        guard state != .closed && state != .lingering else { return }
        if let tls {
            // close_notify, best effort: the output is drained already.
            tls.shutdown()
            let notify = tls.pendingOutput()
            if !notify.isEmpty { notify.withUnsafeBytes { _ = try? Sys.write(fd, $0.baseAddress!, $0.count) } }
        }
        state = .lingering
        lingerStarted = Self.now()
        shutdown(fd, Int32(SHUT_WR))
        readingSuspended = false
        drain()
    }

    private func drain() {
        while true {
            let r = (try? Sys.read(fd, loop.readBuffer, EventLoop.readBufferSize)) ?? .endOfFile
            switch r {
            case .bytes: continue
            case .wouldBlock: return
            case .endOfFile: return closeSocket()
            }
        }
    }

    private func closeSocket() {
        guard state != .closed else { return }
        state = .closed
        timer?.cancel()
        timer = nil
        if let token { loop.remove(token: token, fd: fd) }
        close(fd)
        server.connectionClosed(self)
    }
}
