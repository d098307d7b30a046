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

    /// The status line and header section, ending with the blank line.
    static func head(status: Int, headers: HTTPHeaders, contentLength: Int?, keepAlive: Bool, chunked: Bool = false) -> [UInt8] {
        var s = "HTTP/1.1 \(status) \(reason(status))\r\nDate: \(HTTPDate.now())\r\nServer: martlet\r\n"
        for (name, value) in headers.fields { s += "\(name): \(value)\r\n" }
        if let contentLength { s += "Content-Length: \(contentLength)\r\n" }
        if chunked { s += "Transfer-Encoding: chunked\r\n" }
        s += keepAlive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n"
        return Array(s.utf8)
    }
}

/// The `Date` header value (RFC 9110 §5.6.7 IMF-fixdate), formatted at most once a second.
enum HTTPDate {
    // Guarded by lock.
    private nonisolated(unsafe) static var cached: (second: Int, text: String) = (-1, "")
    private static let lock = SpinLock()
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func now() -> String {
        var t = time(nil)
        if let hit = lock.withLock({ cached.second == t ? cached.text : nil }) { return hit }
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let text = "\(days[Int(tm.tm_wday)]), \(two(tm.tm_mday)) \(months[Int(tm.tm_mon)]) \(tm.tm_year + 1900) \(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec)) GMT"
        lock.withLock { cached = (t, text) }
        return text
    }
}
