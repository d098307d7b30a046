#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call: which one, and errno.
public struct SystemCallError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32
    public var description: String { "\(call) failed: \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// The socket calls the server makes, in one place: each retries on EINTR and reports
/// would-block as a value instead of an error (like swift-nio's SystemCallHelpers).
enum Sys {
    enum IOResult: Equatable {
        case bytes(Int)
        case wouldBlock
        case endOfFile
    }

    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) throws(SystemCallError) -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer, count)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .endOfFile }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            throw SystemCallError(call: "read", errno: e)
        }
    }

    static func write(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) throws(SystemCallError) -> IOResult {
        while true {
            // MSG_NOSIGNAL: a peer that left is an error here, not a SIGPIPE.
            let n = Glibc.send(fd, buffer, count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .bytes(n) }
            let e = errno
            if e == EINTR { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return .wouldBlock }
            throw SystemCallError(call: "send", errno: e)
        }
    }

    /// A connected socket, non-blocking, or nil when none is pending.
    static func accept(_ fd: Int32) throws(SystemCallError) -> Int32? {
        while true {
            // accept4 is not in Swift's Glibc module: accept, then set the flags.
            let c = Glibc.accept(fd, nil, nil)
            if c >= 0 {
                _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
                _ = fcntl(c, F_SETFD, FD_CLOEXEC)
                return c
            }
            let e = errno
            if e == EINTR || e == ECONNABORTED { continue }
            if e == EAGAIN || e == EWOULDBLOCK { return nil }
            throw SystemCallError(call: "accept4", errno: e)
        }
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var v = value
        _ = setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
    }

    /// A listening socket on `host:port` (port 0 picks one), non-blocking. "::" listens on
    /// IPv6 and IPv4 alike.
    static func listen(host: String, port: Int, backlog: Int32) throws(SystemCallError) -> (fd: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else { throw SystemCallError(call: "getaddrinfo(\(host))", errno: rc == EAI_SYSTEM ? errno : EINVAL) }
        defer { freeaddrinfo(list) }
        var lastError = SystemCallError(call: "socket", errno: EINVAL)
        var ai: UnsafeMutablePointer<addrinfo>? = first
        while let a = ai {
            defer { ai = a.pointee.ai_next }
            let fd = socket(a.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { lastError = SystemCallError(call: "socket", errno: errno); continue }
            setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if a.pointee.ai_family == AF_INET6 { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 0) }
            guard bind(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 else {
                lastError = SystemCallError(call: "bind(\(host):\(port))", errno: errno)
                close(fd)
                continue
            }
            guard Glibc.listen(fd, backlog) == 0 else {
                lastError = SystemCallError(call: "listen", errno: errno)
                close(fd)
                continue
            }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let bound = withUnsafeMutablePointer(to: &storage) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            guard bound == 0 else { close(fd); throw SystemCallError(call: "getsockname", errno: errno) }
            let family = Int32(storage.ss_family)
            let boundPort: UInt16 = withUnsafePointer(to: &storage) { p in
                if family == AF_INET6 {
                    return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                }
                return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
            return (fd, Int(boundPort))
        }
        throw lastError
    }
}
