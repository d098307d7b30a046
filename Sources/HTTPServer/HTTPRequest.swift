import Foundation

/// A parsed request: the request line, header fields in order, and the whole body.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request target as sent (origin form: path and query).
    public let target: String
    /// The target up to any `?`.
    public let path: Substring
    /// HTTP/1.x minor version: 0 or 1.
    public var minorVersion: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// Facts about the request gathered while answering it (an id, token counts), for the
    /// access log; set by whoever wraps the handlers.
    public var notes: RequestNotes?

    public init(method: String, target: String, minorVersion: Int, headers: HTTPHeaders, body: [UInt8] = [], notes: RequestNotes? = nil) {
        self.method = method
        self.target = target
        path = target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[..<$0] } ?? target[...]
        self.minorVersion = minorVersion
        self.headers = headers
        self.body = body
        self.notes = notes
    }

    /// Whether the connection stays open after the response (RFC 9112 §9.3).
    public var keepAlive: Bool {
        guard headers.contains("connection") else { return minorVersion >= 1 }
        let tokens = headers.values("connection").flatMap { $0.split(separator: ",").map { $0.trimmingSpaces.lowercased() } }
        if tokens.contains("close") { return false }
        return minorVersion >= 1 || tokens.contains("keep-alive")
    }
}

/// Header fields in arrival order; names compare case-insensitively (ASCII).
public struct HTTPHeaders: Sendable, Sequence {
    public private(set) var fields: [(name: String, value: String)] = []

    public init(_ fields: [(String, String)] = []) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public mutating func add(_ name: String, _ value: String) { fields.append((name, value)) }

    public mutating func replace(_ name: String, _ value: String) {
        fields.removeAll { $0.name.asciiCaseInsensitiveEquals(name) }
        fields.append((name, value))
    }

    public subscript(_ name: String) -> String? { fields.first { $0.name.asciiCaseInsensitiveEquals(name) }?.value }

    public func values(_ name: String) -> [String] { fields.filter { $0.name.asciiCaseInsensitiveEquals(name) }.map(\.value) }

    public func contains(_ name: String) -> Bool { fields.contains { $0.name.asciiCaseInsensitiveEquals(name) } }

    /// How many fields have this name.
    public func count(_ name: String) -> Int {
        var n = 0
        for f in fields where f.name.asciiCaseInsensitiveEquals(name) { n += 1 }
        return n
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }
}

extension StringProtocol {
    /// Header names are looked up for every request: compared over contiguous bytes.
    func asciiCaseInsensitiveEquals(_ other: some StringProtocol) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        if let r = a.withContiguousStorageIfAvailable({ x in b.withContiguousStorageIfAvailable { y in Self.foldedEqual(x, y) } }), let r {
            return r
        }
        return zip(a, b).allSatisfy { x, y in Self.foldedEqual(x, y) }
    }

    @inline(__always)
    private static func foldedEqual(_ x: UInt8, _ y: UInt8) -> Bool {
        x == y || (x | 0x20 == y | 0x20 && (x | 0x20) >= 0x61 && (x | 0x20) <= 0x7A)
    }

    private static func foldedEqual(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Bool {
        for i in 0..<x.count where !foldedEqual(x[i], y[i]) { return false }
        return true
    }

    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

/// Key-value notes about one request, written by handlers and read when it is logged.
/// Guarded by lock.
public final class RequestNotes: @unchecked Sendable {
    private let lock = SpinLock()
    private var values: [(String, String)] = []
    public let id: String

    public init(id: String) { self.id = id }

    public func set(_ key: String, _ value: String) {
        lock.withLock {
            values.removeAll { $0.0 == key }
            values.append((key, value))
        }
    }

    public var all: [(String, String)] { lock.withLock { values } }
}
