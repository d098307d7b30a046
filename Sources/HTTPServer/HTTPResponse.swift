import Foundation

/// A complete response. `Content-Length`, `Date`, `Server` and `Connection` are added when
/// it is written.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: Int, contentType: String, body: String, headers: HTTPHeaders = HTTPHeaders()) {
        var h = headers
        h.add("Content-Type", contentType)
        self.init(status: status, headers: h, body: Array(body.utf8))
    }

    /// A plain-text error response.
    public static func error(_ status: Int, _ message: String) -> HTTPResponse {
        HTTPResponse(status: status, contentType: "text/plain; charset=utf-8", body: message + "\n")
    }

    public static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 204: return "No Content"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 408: return "Request Timeout"
        case 411: return "Length Required"
        case 413: return "Content Too Large"
        case 414: return "URI Too Long"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 503: return "Service Unavailable"
        case 505: return "HTTP Version Not Supported"
        default: return "Status \(status)"
        }
    }

    /// The status line and header section, ending with the blank line. Built as bytes: this
    /// runs for every response.
    static func head(status: Int, headers: HTTPHeaders, contentLength: Int?, keepAlive: Bool, chunked: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(status, to: &out)
        out.append(0x20)
        out.append(contentsOf: reason(status).utf8)
        out.append(contentsOf: "\r\nDate: ".utf8)
        out.append(contentsOf: HTTPDate.now().utf8)
        out.append(contentsOf: "\r\nServer: martlet\r\n".utf8)
        for (name, value) in headers.fields {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: "\r\n".utf8)
        }
        if let contentLength {
            out.append(contentsOf: "Content-Length: ".utf8)
            appendDecimal(contentLength, to: &out)
            out.append(contentsOf: "\r\n".utf8)
        }
        if chunked { out.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8) }
        out.append(contentsOf: (keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n").utf8)
        return out
    }

    /// An integer in decimal (a small string: no allocation).
    @inline(__always)
    static func appendDecimal(_ value: Int, to out: inout [UInt8]) { out.append(contentsOf: String(value).utf8) }
}

/// A UTC time text that changes once a second, formatted once a second however many
/// requests ask (the `Date` header, access-log timestamps). Guarded by lock.
public final class SecondClock: @unchecked Sendable {
    private var cached: (second: Int, text: String) = (-1, "")
    private let lock = SpinLock()
    private let format: @Sendable (tm) -> String

    public init(format: @escaping @Sendable (tm) -> String) { self.format = format }

    public func now() -> String {
        var t = time(nil)
        if let hit = lock.withLock({ cached.second == t ? cached.text : nil }) { return hit }
        var parts = tm()
        gmtime_r(&t, &parts)
        let text = format(parts)
        lock.withLock { cached = (t, text) }
        return text
    }

    public static func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
}

/// The `Date` header value (RFC 9110 §5.6.7 IMF-fixdate).
enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let clock = SecondClock { t in
        let two = SecondClock.two
        return "\(days[Int(t.tm_wday)]), \(two(t.tm_mday)) \(months[Int(t.tm_mon)]) \(t.tm_year + 1900) \(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)) GMT"
    }

    static func now() -> String { clock.now() }
}
