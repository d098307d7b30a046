import CEpoll
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// One I/O loop: a serial Dispatch queue that runs the work of its connections, and an
/// edge-triggered epoll set of their sockets, watched by a single Dispatch read source on the
/// epoll descriptor. One wake-up of the queue serves every socket that became ready since
/// the last one: measured on `/health`, a Dispatch read source per socket spent about a third
/// of the server's CPU time re-arming sources through Dispatch's manager thread, once per
/// request.
///
/// The member table and the read buffer are confined to `queue`.
final class EventLoop: @unchecked Sendable {
    let queue: DispatchQueue
    private let epollFD: Int32
    private var source: DispatchSourceRead?
    private var members: [UInt64: Connection] = [:]
    private var nextToken: UInt64 = 0
    private static let batch = 256
    private let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: EventLoop.batch)
    /// Read buffer shared by the loop's connections (they run one at a time).
    static let readBufferSize = 16 * 1024
    let readBuffer = UnsafeMutableRawPointer.allocate(byteCount: EventLoop.readBufferSize, alignment: 16)

    /// Marks each loop's queue, so that work already on it runs at once.
    private static let key = DispatchSpecificKey<ObjectIdentifier>()

    init(label: String) throws(SystemCallError) {
        queue = DispatchQueue(label: label, qos: .userInitiated)
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw SystemCallError(call: "epoll_create1", errno: errno) }
        queue.setSpecific(key: Self.key, value: ObjectIdentifier(self))
        let s = DispatchSource.makeReadSource(fileDescriptor: epollFD, queue: queue)
        s.setEventHandler { [weak self] in self?.poll() }
        s.setCancelHandler { [epollFD] in close(epollFD) }
        s.resume()
        source = s
    }

    /// When the server and all its connections are gone.
    deinit {
        source?.cancel()
        events.deallocate()
        readBuffer.deallocate()
    }

    /// Whether the caller runs on this loop's queue.
    var isCurrent: Bool { DispatchQueue.getSpecific(key: Self.key) == ObjectIdentifier(self) }

    /// Watches `connection`'s socket for input, output room and hang-up. On `queue`.
    func add(_ connection: Connection) throws(SystemCallError) -> UInt64 {
        nextToken += 1
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLOUT.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
        event.data.u64 = nextToken
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, connection.fd, &event) == 0 else {
            throw SystemCallError(call: "epoll_ctl", errno: errno)
        }
        members[nextToken] = connection
        return nextToken
    }

    /// Stops watching; events already fetched for the token are dropped. On `queue`, before
    /// the socket is closed.
    func remove(token: UInt64, fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
        members[token] = nil
    }

    private func poll() {
        while true {
            let n = epoll_wait(epollFD, events, Int32(Self.batch), 0)
            guard n > 0 else { return }
            for i in 0..<Int(n) {
                let e = events[i]
                // A token looked up per event: a connection closed earlier in this batch (and
                // its descriptor perhaps reused) is simply gone.
                guard let c = members[e.data.u64] else { continue }
                let failed = e.events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0
                if failed || e.events & EPOLLOUT.rawValue != 0 { c.writable() }
                if failed || e.events & (EPOLLIN.rawValue | EPOLLRDHUP.rawValue) != 0 { c.readable() }
            }
            if n < Self.batch { return }
        }
    }
}
