import Dispatch
import Foundation
import HTTPServer

/// Lines for a file descriptor (the access log on standard error), gathered and written at
/// most every 100 ms or every 32 KiB, so a busy server does not pay a system call per
/// request. Guarded by lock.
final class LineWriter: @unchecked Sendable {
    private let lock = SpinLock()
    private var buffer: [UInt8] = []
    private let handle: FileHandle
    private let timer: DispatchSourceTimer

    init(_ handle: FileHandle) {
        self.handle = handle
        timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "martlet.log"))
        timer.schedule(deadline: .now() + 0.1, repeating: 0.1, leeway: .milliseconds(50))
        timer.setEventHandler { [weak self] in self?.flush() }
        timer.resume()
    }

    func write(_ line: [UInt8]) {
        let full = lock.withLock {
            buffer.append(contentsOf: line)
            buffer.append(0x0A)
            return buffer.count >= 32 * 1024
        }
        if full { flush() }
    }

    func flush() {
        let bytes = lock.withLock {
            let b = buffer
            buffer.removeAll(keepingCapacity: true)
            return b
        }
        if !bytes.isEmpty { handle.write(Data(bytes)) }
    }
}
