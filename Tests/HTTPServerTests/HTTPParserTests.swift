import Testing
@testable import HTTPServer

@Suite struct HTTPParserTests {
    /// Every event of `input`, fed whole, byte by byte, and in two random halves: all three
    /// must agree.
    static func parse(_ input: String, limits: HTTPLimits = HTTPLimits()) -> [HTTPParser.Event] {
        func run(_ pieces: [[UInt8]]) -> [HTTPParser.Event] {
            var p = HTTPParser(limits: limits)
            var events: [HTTPParser.Event] = []
            for piece in pieces {
                p.append(piece)
                loop: while true {
                    let e = p.next()
                    switch e {
                    case .incomplete: break loop
                    case .continueExpected: events.append(e)
                    case .request: events.append(e)
                    case .error: events.append(e); return events
                    }
                }
            }
            return events
        }
        let bytes = Array(input.utf8)
        let whole = run([bytes])
        let single = run(bytes.map { [$0] })
        let cut = bytes.count / 3
        let halves = run([Array(bytes[..<cut]), Array(bytes[cut...])])
        let strip: ([HTTPParser.Event]) -> [HTTPParser.Event] = { $0.filter { $0 != .continueExpected } }
        #expect(strip(whole) == strip(single), "byte-by-byte parse differs for \(input.debugDescription)")
        #expect(strip(whole) == strip(halves))
        return whole
    }

    static func requests(_ events: [HTTPParser.Event]) -> [HTTPRequest] {
        events.compactMap { if case .request(let b) = $0 { return b.request } else { return nil } }
    }

    static func status(_ events: [HTTPParser.Event]) -> Int? {
        for e in events { if case .error(let err) = e { return err.status } }
        return nil
    }

    @Test func aSimpleGet() {
        let r = Self.requests(Self.parse("GET /v1/models?x=1 HTTP/1.1\r\nHost: a\r\nAccept:  */*  \r\n\r\n"))
        #expect(r.count == 1)
        #expect(r[0].method == "GET" && r[0].target == "/v1/models?x=1" && r[0].path == "/v1/models")
        #expect(r[0].headers["accept"] == "*/*" && r[0].keepAlive)
    }

    @Test func pipelinedRequestsComeOutInOrder() {
        let input = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            + "POST /b HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n"
            + "GET /c HTTP/1.0\r\n\r\n"
        let r = Self.requests(Self.parse(input))
        #expect(r.map(\.path) == ["/a", "/b", "/c"])
        #expect(r[0].body == Array("hello".utf8) && r[1].body == Array("abcde".utf8))
        #expect(r[2].minorVersion == 0 && !r[2].keepAlive)
    }

    @Test func connectionOptions() {
        let close = Self.requests(Self.parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"))[0]
        #expect(!close.keepAlive)
        let old = Self.requests(Self.parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))[0]
        #expect(old.keepAlive)
    }

    @Test func expectContinueIsOfferedOnceBeforeTheBody() {
        var p = HTTPParser()
        p.append(Array("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        #expect(p.next() == .continueExpected)
        #expect(p.next() == .incomplete)
        p.append(Array("ok".utf8))
        guard case .request(let b) = p.next() else { Issue.record("no request"); return }
        #expect(b.request.body == Array("ok".utf8))
    }

    @Test(arguments: [
        ("both lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("conflicting lengths", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        ("conflicting list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd", 400),
        ("plus sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400),
        ("negative", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        ("hex length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400),
        ("20 digits", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551617\r\n\r\n", 400),
        ("empty length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400),
        ("unknown coding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        ("chunked twice", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400),
        ("coding in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ("huge chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 400),
        ("chunk without CRLF", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", 400),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  continued\r\n\r\n", 400),
        ("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("control byte", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\u{01}b\r\n\r\n", 400),
        ("bare CR", "GET / HTTP/1.1\r\nHost: a\rX-A: 1\r\n\r\n", 400),
        ("bare LF", "GET / HTTP/1.1\nHost: a\n\n", 400),
        ("no colon", "GET / HTTP/1.1\r\nHost: a\r\nnonsense\r\n\r\n", 400),
        ("no host", "GET / HTTP/1.1\r\n\r\n", 400),
        ("two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("bad version", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
        ("HTTP/2", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        ("bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        ("extra spaces", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ])
    func framingErrors(_ name: String, _ input: String, _ status: Int) {
        #expect(Self.status(Self.parse(input)) == status, "\(name)")
    }

    @Test func nothingAfterAnErrorIsParsed() {
        let events = Self.parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n")
        #expect(Self.requests(events).isEmpty && Self.status(events) == 400)
    }

    @Test func limits() {
        var l = HTTPLimits()
        l.requestLineBytes = 64
        l.headerSectionBytes = 256
        l.headerFields = 4
        l.bodyBytes = 10
        #expect(Self.status(Self.parse("GET /\(String(repeating: "a", count: 100)) HTTP/1.1\r\nHost: a\r\n\r\n", limits: l)) == 414)
        #expect(Self.status(Self.parse("GET / HTTP/1.1\r\nHost: a\r\nX: \(String(repeating: "b", count: 300))\r\n\r\n", limits: l)) == 431)
        #expect(Self.status(Self.parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n", limits: l)) == 431)
        #expect(Self.status(Self.parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n", limits: l)) == 413)
        #expect(Self.status(Self.parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n", limits: l)) == 413)
        #expect(Self.requests(Self.parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", limits: l)).count == 1)
    }
}
