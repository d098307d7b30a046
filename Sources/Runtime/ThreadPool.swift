import Dispatch
import Foundation
import Synchronization

/// A persistent pool of worker threads that run one job at a time, split into `count` parts
/// across the workers and the calling thread. Workers spin briefly on a new job, then sleep
/// on a condition, so an idle pool costs nothing and a busy machine is not oversubscribed.
///
/// When the machine is oversubscribed (another process on the cores), a worker can be
/// descheduled holding a part, and the caller would wait for it a whole time slice at every
/// job: two threads slower than one. So the caller measures, over each window of jobs (20 ms
/// of them), how
/// long it waited for workers in waits that long (a worker waking from sleep takes far less)
/// against how long it worked; when it waited longer, it runs the jobs alone for a while,
/// then tries the workers again. Parts compute the same whoever runs them, so results do not
/// change.
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
        if threads == 1 || count == 1 || shared.alone() {
            for i in 0..<count { body(i) }
            return
        }
        shared.run(count, body)
    }

    /// Jobs the caller has run alone because the workers kept it waiting (for tests and
    /// statistics).
    public var jobsRunAlone: Int { shared.jobsAlone }

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

        // The caller's own bookkeeping (only the caller thread touches these): nanoseconds it
        // worked and waited in the current window of jobs, and until when it runs jobs alone.
        private var worked: UInt64 = 0, waited: UInt64 = 0
        private var aloneUntil: UInt64 = 0
        private(set) var jobsAlone = 0
        /// A window lasts this long (working and waiting): long enough that one preemption of a
        /// worker by a short-lived thread (a time slice, a few ms) does not send the caller alone.
        static let window: UInt64 = 20_000_000  // 20 ms
        static let aloneFor: UInt64 = 50_000_000  // 50 ms, then the workers are tried again
        /// Shorter waits are a worker waking up or finishing its part, not one descheduled.
        static let stall: UInt64 = 500_000  // 0.5 ms

        /// Whether the caller should run this job alone.
        func alone() -> Bool {
            guard aloneUntil != 0 else { return false }
            if DispatchTime.now().uptimeNanoseconds < aloneUntil {
                jobsAlone += 1
                return true
            }
            aloneUntil = 0
            return false
        }

        /// Records one job's split; at the end of a window, decides whether to go alone.
        private func account(worked w: UInt64, waited t: UInt64, now: UInt64) {
            worked += w
            if t >= Self.stall { waited += t }
            guard worked + waited >= Self.window else { return }
            if waited > worked { aloneUntil = now + Self.aloneFor }
            worked = 0
            waited = 0
        }

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
            let t0 = DispatchTime.now().uptimeNanoseconds
            work(body, count)
            let t1 = DispatchTime.now().uptimeNanoseconds
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
            let t2 = DispatchTime.now().uptimeNanoseconds
            account(worked: t1 - t0, waited: t2 - t1, now: t2)
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
