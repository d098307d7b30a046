import Foundation
import TestSupport
import Testing
@testable import HTTPServer

/// The server on port 0, driven by a raw-socket client.
@Suite(.serialized) struct HTTPServerLiveTests {
    final class Flags: @unchecked Sendable {
        private let lock = NSLock()
        private var _disconnects = 0
        var disconnects: Int { lock.withLock { _disconnects } }
        func disconnected() { lock.withLock { _disconnects += 1 } }
    }

    static func start(_ configure: (inout HTTPServerConfiguration) -> Void = { _ in }) throws -> (HTTPServer, Flags) {
        let flags = Flags()
        var router = Router()
        router.add("GET", "/health") { _, _, r in r.respond(HTTPResponse(status: 200, contentType: "text/plain", body: "OK")) }
        router.add("POST", "/echo") { req, _, r in r.respond(HTTPResponse(status: 200, headers: HTTPHeaders([("Content-Type", "application/octet-stream")]), body: req.body)) }
        router.add("GET", "/slow") { _, _, r in
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.5) { r.respond(HTTPResponse(status: 200, contentType: "text/plain", body: "slept")) }
        }
        router.add("GET", "/flood") { _, _, r in
            let sse = SSEStream(r) { flags.disconnected() }
            let event = String(repeating: "x", count: 16 * 1024)
            DispatchQueue.global().async {
                for _ in 0..<4000 where flags.disconnects == 0 {
                    sse.send(data: event)
                    usleep(200)
                }
                sse.finish()
            }
        }
        router.add("GET", "/items/*") { _, p, r in r.respond(HTTPResponse(status: 200, contentType: "text/plain", body: p ?? "")) }
        router.add("GET", "/stream") { _, _, r in
            let sse = SSEStream(r, keepAliveInterval: 1) { flags.disconnected() }
            DispatchQueue.global().async {
                for i in 0..<3 { sse.send(data: "{\"i\":\(i)}"); usleep(20_000) }
                sse.send(data: "[DONE]")
                sse.finish()
            }
        }
        router.add("GET", "/forever") { _, _, r in
            let sse = SSEStream(r, keepAliveInterval: 1) { flags.disconnected() }
            sse.send(data: "{}")
        }
        var c = HTTPServerConfiguration()
        c.port = 0
        configure(&c)
        let server = HTTPServer(configuration: c, handler: router)
        try server.start()
        return (server, flags)
    }

    @Test func keepAliveAndPipelining() throws {
        let (server, _) = try Self.start()
        let c = try RawClient(port: server.port)
        c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(c.responses(1).first?.hasPrefix("HTTP/1.1 200 OK\r\n") == true)
        c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(c.responses(1).first?.hasSuffix("\r\n\r\nOK") == true)
        // Three at once, answered in order.
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
               + "GET /items/42 HTTP/1.1\r\nHost: x\r\n\r\n"
               + "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nthree\r\n0\r\n\r\n")
        let r = c.responses(3)
        #expect(r.count == 3)
        #expect(r.map { $0.components(separatedBy: "\r\n\r\n").last! } == ["one", "42", "three"])
        #expect(r.allSatisfy { $0.contains("\r\nDate: ") && $0.contains("Connection: keep-alive") })
    }

    @Test func headNotFoundMethodNotAllowedAndHTTP10() throws {
        let (server, _) = try Self.start()
        let c = try RawClient(port: server.port)
        c.send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nDELETE /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = c.read { $0.components(separatedBy: "HTTP/1.1 ").count > 3 && $0.hasSuffix("\n") }.text
        let parts = text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0 }
        #expect(parts.count == 3)
        #expect(parts[0].hasPrefix("200") && parts[0].contains("Content-Length: 2") && parts[0].hasSuffix("\r\n\r\n"))
        #expect(parts[1].hasPrefix("404"))
        #expect(parts[2].hasPrefix("405") && parts[2].contains("Allow: GET, HEAD"))
        let old = try RawClient(port: server.port)
        old.send("GET /health HTTP/1.0\r\n\r\n")
        let r = old.read()
        #expect(r.closed && r.text.contains("Connection: close") && r.text.hasSuffix("OK"))
    }

    @Test func aFramingErrorIsAnsweredAndTheConnectionClosed() throws {
        let (server, _) = try Self.start()
        let c = try RawClient(port: server.port)
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let r = c.read()
        #expect(r.closed)
        #expect(r.text.hasPrefix("HTTP/1.1 400 ") && r.text.contains("Connection: close"))
        #expect(!r.text.contains("200 OK"))
    }

    @Test func expectContinue() throws {
        let (server, _) = try Self.start()
        let c = try RawClient(port: server.port)
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        #expect(c.read { $0.hasSuffix("\r\n\r\n") }.text == "HTTP/1.1 100 Continue\r\n\r\n")
        c.send("body")
        #expect(c.responses(1).first?.hasSuffix("body") == true)
    }

    @Test func serverSentEventsAreChunkedAndEndCleanly() throws {
        let (server, _) = try Self.start()
        let c = try RawClient(port: server.port)
        c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = c.read { $0.hasSuffix("0\r\n\r\n") }.text
        #expect(text.contains("Content-Type: text/event-stream") && text.contains("Transfer-Encoding: chunked"))
        #expect(text.contains("data: {\"i\":0}\n\n") && text.contains("data: {\"i\":2}\n\n") && text.contains("data: [DONE]\n\n"))
        // The connection is reusable afterwards.
        c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(c.responses(1).first?.hasSuffix("OK") == true)
    }

    @Test func aClientLeavingMidStreamIsNoticedAndKeepAlivesFlow() throws {
        let (server, flags) = try Self.start()
        var c: RawClient? = try RawClient(port: server.port)
        c!.send("GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
        let got = c!.read(until: { $0.contains(": keep-alive\n\n") }, timeout: 5)
        let text = got.text
        #expect(text.contains("data: {}") && text.contains(": keep-alive\n\n"))
        c = nil  // closes the socket
        let deadline = Date().addingTimeInterval(5)
        while flags.disconnects == 0 && Date() < deadline { usleep(10_000) }
        #expect(flags.disconnects == 1)
        while server.requestsInFlight > 0 && Date() < deadline { usleep(10_000) }
        #expect(server.requestsInFlight == 0)
    }

    /// Pipelined requests sent faster than they are answered: input waits behind a slow
    /// handler (reading pauses past `maxBufferedInput` and must resume by itself, since the
    /// client is blocked and sends nothing new), and responses larger than the socket buffers
    /// wait for room. Every response arrives whole and in order.
    @Test func backpressureBothWays() throws {
        let (server, _) = try Self.start { $0.maxBufferedInput = 64 * 1024 }
        final class Box: @unchecked Sendable { let client: RawClient; init(_ c: RawClient) { client = c } }
        let box = Box(try RawClient(port: server.port))
        // More than the kernel buffers of both ends hold.
        let bodies = (0..<16).map { i in [UInt8](repeating: UInt8(ascii: "a") + UInt8(i), count: 1_000_000) }
        let sent = DispatchSemaphore(value: 0)
        Thread {
            box.client.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            for body in bodies {
                box.client.send(Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            }
            box.client.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            sent.signal()
        }.start()
        usleep(300_000)  // nothing read yet
        let end = Array("\r\n\r\nOK".utf8)
        let replies = box.client.readBytes(until: { $0.count >= end.count && Array($0.suffix(end.count)) == end }, timeout: 30)
        #expect(sent.wait(timeout: .now() + 5) == .success)
        let split = RawClient.split(String(decoding: replies.bytes, as: UTF8.self))
        #expect(split.count == bodies.count + 2)
        #expect(split.first?.hasSuffix("slept") == true)
        for (reply, body) in zip(split.dropFirst(), bodies) {
            #expect(reply.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(Array(reply.components(separatedBy: "\r\n\r\n").last!.utf8) == body)
        }
    }

    /// A body trickled a byte at a time is timed out like a slow header (408, then close); a
    /// client that never reads a stream is dropped once `maxBufferedOutput` is unsent, and its
    /// request is told.
    @Test func slowBodiesAndClientsThatNeverRead() throws {
        let (server, flags) = try Self.start { $0.headerTimeout = 1; $0.maxBufferedOutput = 256 * 1024 }
        let slow = try RawClient(port: server.port)
        slow.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        for _ in 0..<8 {
            slow.send("c")
            usleep(300_000)
        }
        let answer = slow.read(timeout: 5)
        #expect(answer.closed && answer.text.hasPrefix("HTTP/1.1 408 "))

        let deaf = try RawClient(port: server.port)
        deaf.send("GET /flood HTTP/1.1\r\nHost: x\r\n\r\n")
        let deadline = Date().addingTimeInterval(20)
        while flags.disconnects == 0 && Date() < deadline { usleep(20_000) }
        #expect(flags.disconnects == 1)
        while server.requestsInFlight > 0 && Date() < deadline { usleep(20_000) }
        #expect(server.requestsInFlight == 0)
    }

    @Test func limitsOnConnectionsAndTime() throws {
        let (server, _) = try Self.start { $0.maxConnections = 2; $0.headerTimeout = 1 }
        let a = try RawClient(port: server.port), b = try RawClient(port: server.port)
        a.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        b.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = a.responses(1); _ = b.responses(1)
        let third = try RawClient(port: server.port)
        let refused = third.read()
        #expect(refused.closed && refused.text.hasPrefix("HTTP/1.1 503 "))
        // A header that never ends: 408, then close.
        a.send("GET /health HTTP/1.1\r\nHost: x\r\n")
        let slow = a.read(timeout: 5)
        #expect(slow.closed && slow.text.hasPrefix("HTTP/1.1 408 "))
    }

    @Test func gzipBothWays() throws {
        let (server, _) = try Self.start { $0.limits.bodyBytes = 100_000 }
        let c = try RawClient(port: server.port)
        let text = String(repeating: "Martlet streams tokens. ", count: 200)  // 4,800 bytes
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br;q=1, gzip;q=0.5\r\nContent-Length: \(text.utf8.count)\r\n\r\n\(text)")
        let r = c.responses(1).first ?? ""
        #expect(r.contains("Content-Encoding: gzip") && r.contains("Vary: Accept-Encoding"))
        let packed = try #require(Gzip.compress(Array(text.utf8)))
        #expect(try Gzip.decompress(packed, limit: 10_000) == Array(text.utf8))
        // Small bodies and clients that refuse gzip get identity.
        c.send("POST /echo HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip;q=0\r\nContent-Length: \(text.utf8.count)\r\n\r\n\(text)")
        #expect(c.responses(1).first?.contains("Content-Encoding") == false)

        // A gzip request body is inflated for the handler.
        let bytes = packed
        var head = Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: \(bytes.count)\r\n\r\n".utf8)
        head += bytes
        c.send(head)
        #expect(c.responses(1).first?.hasSuffix(text) == true)
        // A bomb: 10 MB of zeros packed small, past the 100 KB limit: 413 before it is inflated.
        let bomb = try #require(Gzip.compress([UInt8](repeating: 0, count: 10_000_000), level: 9))
        #expect(bomb.count < 20_000)
        let b = try RawClient(port: server.port)
        b.send(Array("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n".utf8) + bomb)
        #expect(b.read().text.hasPrefix("HTTP/1.1 413 "))
        let d = try RawClient(port: server.port)
        d.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello")
        #expect(d.responses(1).first?.hasPrefix("HTTP/1.1 400 ") == true)
        d.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: br\r\nContent-Length: 5\r\n\r\nhello")
        #expect(d.responses(1).first?.hasPrefix("HTTP/1.1 415 ") == true)
    }

    @Test func listensOnIPv6AndIPv4Together() throws {
        guard let (server, _) = try? Self.start({ $0.host = "::" }) else {
            print("skipping: this machine cannot listen on IPv6 (::)")
            return
        }
        for host in ["127.0.0.1", "::1"] {
            guard let c = try? RawClient(port: server.port, host: host) else {
                Issue.record("could not connect over \(host)")
                continue
            }
            c.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(c.responses(1).first?.hasSuffix("OK") == true)
        }
    }
}
