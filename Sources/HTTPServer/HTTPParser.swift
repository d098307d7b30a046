/// Limits on what a client may send, each answered with its own status.
public struct HTTPLimits: Sendable {
    public var requestLineBytes = 8 * 1024        // 414
    public var headerSectionBytes = 32 * 1024     // 431
    public var headerFields = 100                 // 431
    public var bodyBytes = 16 * 1024 * 1024       // 413
    public init() {}
}

/// Why a request could not be parsed: the status to answer with before closing.
public struct HTTPParseError: Error, Equatable, Sendable {
    public let status: Int
    public let message: String
}

/// An incremental HTTP/1.1 request parser (RFC 9112). Bytes go in as they arrive; complete
/// requests come out in order. Framing is strict: anything that two parsers could read
/// differently (both lengths, odd lengths, unknown codings, folded or malformed fields) is
/// an error, after which the connection must close, so nothing can be smuggled behind it.
public struct HTTPParser: Sendable {
    public enum Event: Equatable, Sendable {
        /// More bytes are needed.
        case incomplete
        /// The head of a request with `Expect: 100-continue` is complete and its body has not
        /// begun: the server may send `100 Continue` (once).
        case continueExpected
        case request(HTTPRequestBox)
        case error(HTTPParseError)
    }

    public let limits: HTTPLimits
    private var buffer: [UInt8] = []
    private var position = 0
    private var state = State.head
    private var continueSent = false
    /// Bytes of the current head already searched for its end.
    private var scanned = 0
    private var failed: HTTPParseError?

    private enum State {
        case head
        case body(HTTPRequest, remaining: Int)
        case chunked(HTTPRequest, phase: ChunkPhase)
    }

    private enum ChunkPhase {
        case size
        case data(remaining: Int)
        case dataEnd
        case trailers
    }

    public init(limits: HTTPLimits = HTTPLimits()) { self.limits = limits }

    /// Bytes received but not yet consumed by a complete request.
    public var bufferedBytes: Int { buffer.count - position }

    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if position > 0 && position == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            position = 0
        } else if position > 64 * 1024 {
            buffer.removeFirst(position)
            position = 0
        }
        buffer.append(contentsOf: bytes)
    }

    public mutating func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }

    /// The next event; call again after `request` for a pipelined one.
    public mutating func next() -> Event {
        if let failed { return .error(failed) }
        let e = step()
        if case .error(let error) = e { failed = error }
        return e
    }

    private mutating func step() -> Event {
        while true {
            switch state {
            case .head:
                switch parseHead() {
                case .incomplete: return .incomplete
                case .error(let e): return .error(e)
                case .head(let request, let framing):
                    switch framing {
                    case .none:
                        return .request(HTTPRequestBox(request))
                    case .length(let n):
                        state = .body(request, remaining: n)
                    case .chunked:
                        state = .chunked(request, phase: .size)
                    }
                    continueSent = false
                }
            case .body(var request, let remaining):
                let available = buffer.count - position
                if available < remaining {
                    return expectsContinue(request) ? .continueExpected : .incomplete
                }
                request.body = Array(buffer[position..<(position + remaining)])
                position += remaining
                state = .head
                return .request(HTTPRequestBox(request))
            case .chunked(var request, let phase):
                switch parseChunk(&request, phase) {
                case .incomplete(let newPhase):
                    state = .chunked(request, phase: newPhase)
                    if case .size = newPhase, request.body.isEmpty, position == buffer.count, expectsContinue(request) {
                        return .continueExpected
                    }
                    return .incomplete
                case .error(let e): return .error(e)
                case .done:
                    state = .head
                    return .request(HTTPRequestBox(request))
                }
            }
        }
    }

    private mutating func expectsContinue(_ request: HTTPRequest) -> Bool {
        guard !continueSent, request.minorVersion >= 1,
              request.headers["expect"]?.asciiCaseInsensitiveEquals("100-continue") == true else { return false }
        continueSent = true
        return true
    }

    // MARK: - The head

    private enum Framing { case none, length(Int), chunked }
    private enum HeadResult { case incomplete, error(HTTPParseError), head(HTTPRequest, Framing) }

    private static func bad(_ message: String) -> HeadResult { .error(HTTPParseError(status: 400, message: message)) }

    private mutating func parseHead() -> HeadResult {
        // RFC 9112 §2.2: empty lines before the request line are ignored.
        while buffer.count - position >= 2 && buffer[position] == 0x0D && buffer[position + 1] == 0x0A { position += 2; scanned = 0 }
        let start = position
        // Scan only the new bytes for the end of the section (a client sending one byte at
        // a time must not cost quadratic time), then parse the whole section once.
        switch scanForSectionEnd(from: start) {
        case .complete:
            break
        case .bareLF:
            return .error(Self.bareLF)
        case .incomplete:
            if findCRLF(from: start, limit: limits.requestLineBytes) == nil && buffer.count - start > limits.requestLineBytes {
                return .error(HTTPParseError(status: 414, message: "request line longer than \(limits.requestLineBytes) bytes"))
            }
            if buffer.count - start > limits.headerSectionBytes {
                return .error(HTTPParseError(status: 431, message: "header section larger than \(limits.headerSectionBytes) bytes"))
            }
            return .incomplete
        }
        scanned = 0
        guard let lineEnd = findCRLF(from: start, limit: limits.requestLineBytes) else {
            if buffer.count - start > limits.requestLineBytes {
                return .error(HTTPParseError(status: 414, message: "request line longer than \(limits.requestLineBytes) bytes"))
            }
            return .incomplete
        }
        if lineEnd < 0 { return .error(Self.bareLF) }
        // The whole header section: up to CRLF CRLF.
        var fieldsEnd = lineEnd
        var lines: [Range<Int>] = []
        while true {
            let from = fieldsEnd + 2
            guard let end = findCRLF(from: from, limit: limits.headerSectionBytes) else {
                if buffer.count - start > limits.headerSectionBytes {
                    return .error(HTTPParseError(status: 431, message: "header section larger than \(limits.headerSectionBytes) bytes"))
                }
                return .incomplete
            }
            if end < 0 { return .error(Self.bareLF) }
            if end == from { fieldsEnd = end; break }
            lines.append(from..<end)
            if lines.count > limits.headerFields {
                return .error(HTTPParseError(status: 431, message: "more than \(limits.headerFields) header fields"))
            }
            fieldsEnd = end
        }
        if fieldsEnd + 2 - start > limits.headerSectionBytes {
            return .error(HTTPParseError(status: 431, message: "header section larger than \(limits.headerSectionBytes) bytes"))
        }

        // Request line: method SP request-target SP HTTP-version (RFC 9112 §3).
        let line = buffer[start..<lineEnd]
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(Self.isTokenChar) else { return Self.bad("malformed request line") }
        guard !parts[1].isEmpty, parts[1].allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return Self.bad("malformed request target") }
        let version = parts[2]
        guard version.count == 8, version.starts(with: Array("HTTP/".utf8)), version[version.startIndex + 6] == 0x2E,
              let major = Self.digit(version[version.startIndex + 5]), let minor = Self.digit(version[version.startIndex + 7]) else {
            return Self.bad("malformed HTTP version")
        }
        guard major == 1 else { return .error(HTTPParseError(status: 505, message: "only HTTP/1.0 and HTTP/1.1 are supported")) }

        // Header fields: field-name ":" OWS field-value OWS (RFC 9112 §5).
        var headers = HTTPHeaders()
        for r in lines {
            let first = buffer[r.lowerBound]
            if first == 0x20 || first == 0x09 { return Self.bad("obsolete line folding in the header section") }
            guard let colon = buffer[r].firstIndex(of: 0x3A) else { return Self.bad("header field without a colon") }
            let name = buffer[r.lowerBound..<colon]
            guard !name.isEmpty else { return Self.bad("empty header field name") }
            guard name.allSatisfy(Self.isTokenChar) else {
                if let last = name.last, last == 0x20 || last == 0x09 { return Self.bad("whitespace between a header field name and its colon") }
                return Self.bad("invalid character in a header field name")
            }
            var value = buffer[(colon + 1)..<r.upperBound]
            // Control bytes (but HTAB) and DEL are never allowed in a value (RFC 9110 §5.5).
            guard value.allSatisfy({ ($0 >= 0x20 && $0 != 0x7F) || $0 == 0x09 }) else { return Self.bad("control character in a header field value") }
            while let f = value.first, f == 0x20 || f == 0x09 { value.removeFirst() }
            while let l = value.last, l == 0x20 || l == 0x09 { value.removeLast() }
            headers.add(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
        position = fieldsEnd + 2

        var request = HTTPRequest(method: String(decoding: parts[0], as: UTF8.self), target: String(decoding: parts[1], as: UTF8.self),
                                  minorVersion: minor, headers: headers)
        if minor >= 1 {
            let hosts = headers.count("host")
            if hosts != 1 { return Self.bad(hosts == 0 ? "missing Host header" : "more than one Host header") }
        }

        // Message body length (RFC 9112 §6.3).
        let codings = headers.contains("transfer-encoding") ? headers.values("transfer-encoding") : []
        let lengths = headers.contains("content-length") ? headers.values("content-length") : []
        if !codings.isEmpty {
            if !lengths.isEmpty { return Self.bad("both Transfer-Encoding and Content-Length") }
            if minor == 0 { return Self.bad("Transfer-Encoding in an HTTP/1.0 request") }
            let list = codings.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }.map { $0.trimmingSpaces.lowercased() }
            for c in list where c != "chunked" {
                if c.isEmpty { return Self.bad("empty transfer coding") }
                return .error(HTTPParseError(status: 501, message: "transfer coding '\(c)' is not supported"))
            }
            guard list == ["chunked"] else { return Self.bad("chunked must be applied exactly once") }
            request.body = []
            return .head(request, .chunked)
        }
        if !lengths.isEmpty {
            var value: Int?
            for field in lengths {
                for item in field.split(separator: ",", omittingEmptySubsequences: false) {
                    let text = item.trimmingSpaces
                    // 1*DIGIT only: no sign, no hex, no overflow (at most 15 digits).
                    guard !text.isEmpty, text.utf8.count <= 15, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let n = Int(text) else {
                        return Self.bad("invalid Content-Length '\(text.prefix(32))'")
                    }
                    if let v = value, v != n { return Self.bad("conflicting Content-Length values") }
                    value = n
                }
            }
            let n = value!
            if n > limits.bodyBytes {
                return .error(HTTPParseError(status: 413, message: "body of \(n) bytes; at most \(limits.bodyBytes)"))
            }
            return .head(request, n > 0 ? .length(n) : .none)
        }
        return .head(request, .none)
    }

    // MARK: - Chunked bodies (RFC 9112 §7.1)

    private enum ChunkResult { case incomplete(ChunkPhase), error(HTTPParseError), done }

    private mutating func parseChunk(_ request: inout HTTPRequest, _ start: ChunkPhase) -> ChunkResult {
        var phase = start
        while true {
            switch phase {
            case .size:
                guard let end = findCRLF(from: position, limit: 1024) else {
                    if buffer.count - position > 1024 { return .error(HTTPParseError(status: 400, message: "chunk size line too long")) }
                    return .incomplete(phase)
                }
                if end < 0 { return .error(Self.bareLF) }
                let line = buffer[position..<end]
                let sizeEnd = line.firstIndex(where: { $0 == 0x3B }) ?? end  // chunk extensions after ';'
                var digits = line[line.startIndex..<sizeEnd]
                while let l = digits.last, l == 0x20 || l == 0x09 { digits.removeLast() }
                guard !digits.isEmpty, digits.count <= 8, digits.allSatisfy(Self.isHexDigit) else {
                    return .error(HTTPParseError(status: 400, message: "invalid chunk size"))
                }
                guard line[sizeEnd...].allSatisfy({ ($0 >= 0x20 && $0 != 0x7F) || $0 == 0x09 }) else {
                    return .error(HTTPParseError(status: 400, message: "control character in a chunk extension"))
                }
                let size = digits.reduce(0) { $0 * 16 + Self.hexValue($1) }
                position = end + 2
                if size == 0 { phase = .trailers; continue }
                if request.body.count + size > limits.bodyBytes {
                    return .error(HTTPParseError(status: 413, message: "chunked body larger than \(limits.bodyBytes) bytes"))
                }
                phase = .data(remaining: size)
            case .data(let remaining):
                let take = min(remaining, buffer.count - position)
                request.body.append(contentsOf: buffer[position..<(position + take)])
                position += take
                if take < remaining { return .incomplete(.data(remaining: remaining - take)) }
                phase = .dataEnd
            case .dataEnd:
                guard buffer.count - position >= 2 else { return .incomplete(phase) }
                guard buffer[position] == 0x0D && buffer[position + 1] == 0x0A else {
                    return .error(HTTPParseError(status: 400, message: "chunk data not followed by CRLF"))
                }
                position += 2
                phase = .size
            case .trailers:
                // Trailer fields are read and discarded, up to the empty line.
                guard let end = findCRLF(from: position, limit: limits.headerSectionBytes) else {
                    if buffer.count - position > limits.headerSectionBytes {
                        return .error(HTTPParseError(status: 431, message: "trailer section too large"))
                    }
                    return .incomplete(phase)
                }
                if end < 0 { return .error(Self.bareLF) }
                let line = buffer[position..<end]
                position = end + 2
                if line.isEmpty { return .done }
                guard line.contains(0x3A), line.allSatisfy({ ($0 >= 0x20 && $0 != 0x7F) || $0 == 0x09 }) else {
                    return .error(HTTPParseError(status: 400, message: "malformed trailer field"))
                }
            }
        }
    }

    // MARK: - Bytes

    private enum SectionScan { case complete, incomplete, bareLF }

    /// Whether CRLF CRLF follows `start`, searching only bytes not searched before; a LF
    /// without its CR ends the search at once.
    private mutating func scanForSectionEnd(from start: Int) -> SectionScan {
        var i = start + scanned
        while i < buffer.count {
            if buffer[i] == 0x0A {
                if i == start || buffer[i - 1] != 0x0D { return .bareLF }
                if i - start >= 3 && buffer[i - 2] == 0x0A && buffer[i - 3] == 0x0D { return .complete }
            }
            i += 1
        }
        scanned = buffer.count - start
        return .incomplete
    }

    /// The index of the next CRLF at or after `from`, looking at most `limit` bytes ahead;
    /// -1 for a bare LF (RFC 9112 §2.2 lets us reject it, and we do: lenient line endings
    /// are how requests get smuggled). A bare CR stays in the line, where the callers'
    /// checks reject it as a control byte.
    private func findCRLF(from: Int, limit: Int) -> Int? {
        let end = min(buffer.count, from + limit + 2)
        var i = from
        while i < end {
            if buffer[i] == 0x0A { return i > from && buffer[i - 1] == 0x0D ? i - 1 : -1 }
            i += 1
        }
        return nil
    }

    private static let bareLF = HTTPParseError(status: 400, message: "line ending without CR")

    private static func isTokenChar(_ c: UInt8) -> Bool {
        // tchar (RFC 9110 §5.6.2)
        switch c {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: return true
        default: return false
        }
    }

    private static func digit(_ c: UInt8) -> Int? { c >= 0x30 && c <= 0x39 ? Int(c - 0x30) : nil }
    private static func isHexDigit(_ c: UInt8) -> Bool { (0x30...0x39).contains(c) || (0x41...0x46).contains(c) || (0x61...0x66).contains(c) }
    private static func hexValue(_ c: UInt8) -> Int {
        switch c {
        case 0x30...0x39: return Int(c - 0x30)
        case 0x41...0x46: return Int(c - 0x41 + 10)
        default: return Int(c - 0x61 + 10)
        }
    }
}

/// A request in a parser event (events compare by identity of content for tests).
public struct HTTPRequestBox: Equatable, Sendable {
    public let request: HTTPRequest
    init(_ r: HTTPRequest) { request = r }
    public static func == (a: Self, b: Self) -> Bool {
        a.request.method == b.request.method && a.request.target == b.request.target && a.request.body == b.request.body
    }
}
