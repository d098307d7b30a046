import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A blocking TCP client for the live tests of the server and the API: send bytes, read what comes back.
public final class RawClient {
    public let fd: Int32

    public init(port: Int, host: String = "127.0.0.1") throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let a = list else { throw POSIXError(.EINVAL) }
        defer { freeaddrinfo(list) }
        fd = socket(a.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        guard connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 else { close(fd); throw POSIXError(.ECONNREFUSED) }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    public func send(_ text: String) { send(Array(text.utf8)) }
    public func send(_ bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Reads until `done(received)` or end of file or the timeout; returns what came.
    public func read(until done: (String) -> Bool = { _ in false }, timeout: Double = 10) -> (text: String, closed: Bool) {
        let r = readBytes(until: { done(String(decoding: $0, as: UTF8.self)) }, timeout: timeout)
        return (String(decoding: r.bytes, as: UTF8.self), r.closed)
    }

    /// `read(until:timeout:)` on bytes, for large responses (`done` should look at the end).
    public func readBytes(until done: ([UInt8]) -> Bool, timeout: Double = 10) -> (bytes: [UInt8], closed: Bool) {
        var received: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, 65536, 0) }
            if n == 0 { return (received, true) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return (received, true)
            }
            received += buf[0..<n]
            if done(received) { break }
        }
        return (received, false)
    }

    /// Reads `count` complete responses with Content-Length bodies.
    public func responses(_ count: Int) -> [String] {
        let r = read { Self.split($0).count >= count }
        return Self.split(r.text)
    }

    public static func split(_ text: String) -> [String] {
        var out: [String] = []
        var rest = Array(text.utf8)[...]
        let crlf2: [UInt8] = [13, 10, 13, 10]
        while let headEnd = (rest.startIndex..<max(rest.startIndex, rest.endIndex - 3)).first(where: { rest[$0..<($0 + 4)].elementsEqual(crlf2) }) {
            let head = String(decoding: rest[rest.startIndex..<headEnd], as: UTF8.self)
            let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
            let bodyStart = headEnd + 4
            guard rest.endIndex - bodyStart >= length else { break }
            out.append(String(decoding: rest[rest.startIndex..<(bodyStart + length)], as: UTF8.self))
            rest = rest[(bodyStart + length)...]
        }
        return out
    }

    public func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
}
