import Foundation
import Synchronization

/// A persistent pool of worker threads that run one job at a time, split into `count` parts
/// across the workers and the calling thread. Workers spin briefly on a new job, then sleep
/// on a condition, so an idle pool costs nothing and a busy machine is not oversubscribed.
///
/// Used by one caller thread at a time (the engine thread); `run` blocks until every part
/// has finished. The workers stop when the pool is released.
public final class ThreadPool: @unchecked Sendable {
    public let threads: Int
    private let shared: Shared

    /// `threads` counts the caller: 1 means no extra threads.
    public init(threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.threads = max(1, threads)
        shared = Shared()
        for i in 1..<self.threads {
            let state = shared
            let t = Thread { state.workerLoop() }
            t.name = "martlet-worker-\(i)"
            t.stackSize = 1 << 20
            t.start()
        }
    }

    deinit { shared.stop() }

    /// Runs `body(part)` for part in 0..<count, spread over the pool; returns when all are done.
    public func run(_ count: Int, _ body: @escaping (Int) -> Void) {
        if count <= 0 { return }
        if threads == 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        shared.run(count, body)
    }

    /// Splits `0..<n` into about one range per thread and runs them in parallel.
    public func parallelFor(_ n: Int, minimumPerPart: Int = 1, _ body: @escaping (Range<Int>) -> Void) {
        let partsCount = max(1, min(threads, n / max(1, minimumPerPart)))
        let chunk = (n + partsCount - 1) / partsCount
        run(partsCount) { p in
            let start = p * chunk
            let end = min(n, start + chunk)
            if start < end { body(start..<end) }
        }
    }

    /// The state workers share with the pool; it outlives the pool until every worker has seen
    /// the stop.
    private final class Shared: @unchecked Sendable {
        // Guarded by `lock`: job, parts, stopping. Counters are atomics.
        let lock = NSCondition()
        var job: ((Int) -> Void)?
        var parts = 0
        var stopping = false
        let generation = Atomic<Int>(0)
        let nextPart = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
        /// Workers inside `work` for the current job; `run` returns only when none is.
        let active = Atomic<Int>(0)

        func stop() {
            lock.lock()
            stopping = true
            generation.add(1, ordering: .releasing)
            lock.broadcast()
            lock.unlock()
        }

        func run(_ count: Int, _ body: @escaping (Int) -> Void) {
            lock.lock()
            job = body
            parts = count
            nextPart.store(0, ordering: .relaxed)
            finished.store(0, ordering: .relaxed)
            generation.add(1, ordering: .releasing)
            lock.broadcast()
            lock.unlock()
            work(body, count)
            var spins = 0
            while finished.load(ordering: .acquiring) < count {
                spins += 1
                if spins > 2000 { sched_yield() }
            }
            // No worker may still hold this job when the next one starts.
            lock.lock()
            job = nil
            lock.unlock()
            while active.load(ordering: .acquiring) > 0 { sched_yield() }
        }

        func work(_ body: (Int) -> Void, _ count: Int) {
            while true {
                let p = nextPart.add(1, ordering: .relaxed).oldValue
                if p >= count { break }
                body(p)
                finished.add(1, ordering: .releasing)
            }
        }

        func workerLoop() {
            var seen = 0
            while true {
                // Spin a little for the next job before sleeping.
                var spins = 0
                while generation.load(ordering: .acquiring) == seen && spins < 20_000 { spins += 1 }
                lock.lock()
                while generation.load(ordering: .acquiring) == seen && !stopping { lock.wait() }
                if stopping {
                    lock.unlock()
                    return
                }
                seen = generation.load(ordering: .acquiring)
                let body = job
                let count = parts
                if body != nil { active.add(1, ordering: .relaxed) }
                lock.unlock()
                if let body {
                    work(body, count)
                    active.subtract(1, ordering: .releasing)
                }
            }
        }
    }
}
