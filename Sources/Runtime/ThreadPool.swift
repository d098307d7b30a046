import CKernels
import Dispatch
import Foundation
import Synchronization

/// A persistent pool of worker threads that run one job at a time, split into `count` parts
/// across the workers and the calling thread. Workers spin briefly on a new job, then sleep
/// on a condition, so an idle pool costs nothing and a busy machine is not oversubscribed.
///
/// When the machine is oversubscribed (another process busy on the cores), a worker can be
/// descheduled holding a part, and the caller waits for it: two threads can be slower than
/// one. So the caller compares, over each window of 32 jobs, how long it waited for the
/// workers with how long they would have taken to run their parts at its own pace (its time
/// per part times the parts they ran): when it waited longer and the machine is crowded, it
/// runs the jobs alone for 100 ms. Crowded: the kernel's count of how long the pool's threads
/// waited for a core (/proc/self/task/TID/schedstat), read every 25 ms of pooled jobs, was over
/// 15% of the time in two samples running: a process spinning on a core makes it 20 to 50% in
/// every sample, while short bursts of other threads (a load generator, the server's own I/O)
/// keep it at a few percent and cross 15% in one sample now and then, so they do not send the
/// caller alone. While alone, it counts the other threads runnable on the machine every 10 ms
/// (/proc/loadavg): while they leave no core for the workers it stays alone, 100 ms more at a
/// time, without trying them (a try on a machine still crowded cost a few milliseconds of
/// jobs at two thirds of the speed every time: 5–10% of a decode with retries every 100 ms).
/// Otherwise it tries the workers again; while they still keep it waiting, each time alone is
/// twice as long, up to 1.6 s. Where the count cannot tell about the pool's cores (a process
/// limited to some of the CPUs, which the count does not single out), only the tries decide.
/// Parts compute the same whoever runs them, so results do not change.
///
/// Used by one caller thread at a time (the engine thread); `run` blocks until every part
/// has finished. The workers stop when the pool is released.
public final class ThreadPool: @unchecked Sendable {
    public let threads: Int
    private let shared: Shared

    /// `threads` counts the caller: 1 means no extra threads.
    public convenience init(threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.init(threads: threads, othersRunnable: ThreadPool.othersRunnable)
    }

    /// `othersRunnable` says how many threads other than the caller are runnable on the machine
    /// now, or nil where it cannot tell (tests pass their own).
    init(threads: Int, othersRunnable: @escaping @Sendable () -> Int?) {
        self.threads = max(1, threads)
        shared = Shared(threads: self.threads, othersRunnable: othersRunnable)
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

    /// The threads the next job will run on: 1 while the caller runs the jobs alone. Callers
    /// split work into parts for this many threads (`parallelFor`, `guidedRanges`), so a caller
    /// alone runs the parts one thread would have (a two-thread split run by one thread alone
    /// was 2–4% slower than one thread).
    public var width: Int { threads == 1 || shared.isAlone ? 1 : threads }

    /// Jobs the caller has run alone because the workers kept it waiting on a crowded machine
    /// (for tests and statistics).
    public var jobsRunAlone: Int { shared.jobsAlone }

    /// Threads runnable on the machine now, less the caller: the fourth field of /proc/loadavg
    /// ("running/total") less one. Nil where the process may not run on every CPU (the count
    /// covers them all) or /proc does not tell.
    static func othersRunnable() -> Int? {
        guard Int(ck_usable_cpus()) == Shared.cores,
              let fields = Shared.procFields("/proc/loadavg"), fields.count >= 4,
              let running = fields[3].split(separator: "/").first.flatMap({ Int($0) }) else { return nil }
        return max(0, running - 1)
    }

    /// Splits `0..<n` into about one range per thread and runs them in parallel.
    public func parallelFor(_ n: Int, minimumPerPart: Int = 1, _ body: @escaping (Range<Int>) -> Void) {
        let partsCount = max(1, min(width, n / max(1, minimumPerPart)))
        let chunk = (n + partsCount - 1) / partsCount
        run(partsCount) { p in
            let start = p * chunk
            let end = min(n, start + chunk)
            if start < end { body(start..<end) }
        }
    }

    /// 0..<n in ranges of whole `unit`s (the last may be short), each about a 2·width-th of
    /// what is left (guided scheduling), none over a 4·width-th of n nor under a 32nd: few
    /// ranges, the small ones last. Jobs whose parts take them in this order end with small
    /// parts, so a thread that has finished waits less for the other (with equal ranges, half a
    /// range on average). The cap: a worker descheduled by another process (a crowded machine)
    /// holds at most that much of a job while the caller waits (with ranges of a quarter of n,
    /// two threads beside a spinning process were slower than one).
    public func guidedRanges(_ n: Int, unit: Int = 1, width: Int) -> [Range<Int>] {
        let units = (n + unit - 1) / unit
        let smallest = max(1, units / 32), largest = max(1, units / (4 * width))
        var ranges: [Range<Int>] = []
        var start = 0
        while start < units {
            let size = min(units - start, largest, max(smallest, (units - start) / (2 * width)))
            ranges.append((start * unit)..<min(n, (start + size) * unit))
            start += size
        }
        return ranges
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
        /// The next part to take, and the parts done (each thread adds its count once, when no
        /// part is left): each on a cache line of its own, away from `generation`, which the
        /// idle worker reads in a loop. Taken per part and shared with the spinning reader,
        /// these counters were 1–2% of a four-sequence decode step.
        let nextPart = PaddedCounter(), finished = PaddedCounter()
        /// Workers inside `work` for the current job; `run` returns only when none is.
        let active = Atomic<Int>(0)
        /// Workers asleep on `lock` (or about to be) waiting for a job.
        let sleepers = Atomic<Int>(0)

        /// Kernel thread ids of the workers, as each starts (guarded by `lock`).
        var workerTids: [Int32] = []
        let threads: Int
        let othersRunnable: @Sendable () -> Int?
        init(threads: Int, othersRunnable: @escaping @Sendable () -> Int?) {
            self.threads = threads
            self.othersRunnable = othersRunnable
        }

        // The caller's own bookkeeping (only the caller thread touches these): nanoseconds it
        // waited for the workers in the current window of jobs, and the workers' parts priced at
        // its own time per part; when the current sample of the run-queue delay started (0:
        // none) and the delay then; whether the last two samples found the machine crowded
        // (a burst of a load generator's threads crosses the share in one sample now and then,
        // a process spinning on a core in every one), and whether the last one did; until
        // when it runs jobs alone.
        private var waited: UInt64 = 0, workersWorth: Double = 0, windowJobs = 0, windowStart: UInt64 = 0
        private var sampleStart: UInt64 = 0, sampleDelay: UInt64 = 0
        private var crowded = false, lastOver = false
        private var aloneUntil: UInt64 = 0
        private(set) var jobsAlone = 0
        /// While alone: the other threads runnable beside the caller, summed over samples taken
        /// every `othersSample`, and when the next is due.
        private var othersSum = 0, othersSamples = 0, nextOthersSample: UInt64 = 0
        static let othersSample: UInt64 = 10_000_000
        static let cores = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        /// Going alone again right after a try of the workers doubles the time alone (`streak`).
        private var streak = 0
        /// A window: 32 jobs, or fewer when they take 4 ms (a prefill's jobs are long, and while
        /// the workers are tried again on a crowded machine, 32 of them cost tens of milliseconds).
        static let window = 32
        static let windowTime: UInt64 = 4_000_000
        /// 100 ms alone (more while the machine stays crowded), then the workers are tried again;
        /// each time in a row that they still keep the caller waiting, twice as long, up to 1.6 s.
        static let aloneFor: UInt64 = 100_000_000
        static let longestStreak = 4
        static let sample: UInt64 = 25_000_000  // 25 ms of pooled jobs
        /// The share of the time the pool's threads wait for a core above which the machine is crowded.
        static let crowdedShare = 0.15

        /// Whether the caller runs jobs alone now (without counting a job, unlike `alone`).
        var isAlone: Bool { aloneUntil != 0 && DispatchTime.now().uptimeNanoseconds < aloneUntil }

        /// Whether the caller should run this job alone.
        func alone() -> Bool {
            guard aloneUntil != 0 else { return false }
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= aloneUntil {
                if !stillCrowded {
                    aloneUntil = 0
                    sampleStart = 0  // the next sample covers pooled jobs only
                    return false
                }
                goAlone(now: now, for: Self.aloneFor)
            }
            jobsAlone += 1
            if now >= nextOthersSample {
                if let n = othersRunnable() {
                    othersSum += n
                    othersSamples += 1
                }
                nextOthersSample = now + Self.othersSample
            }
            return true
        }

        /// Whether the other threads runnable on the machine while the caller ran alone left no
        /// core for the workers: on average more than half a thread over the cores the pool's
        /// threads leave free. Then the caller stays alone without trying the workers again.
        private var stillCrowded: Bool {
            guard othersSamples > 0 else { return false }
            return Double(othersSum) / Double(othersSamples) > Double(Self.cores - threads) + 0.5
        }

        private func goAlone(now: UInt64, for time: UInt64) {
            aloneUntil = now + time
            (othersSum, othersSamples, nextOthersSample) = (0, 0, now)
        }

        /// Records one job: the caller ran `mine` of its `count` parts in `worked` nanoseconds,
        /// then waited `waited` for the workers; at the end of a window, decides whether to go alone.
        private func account(count: Int, mine: Int, worked: UInt64, waited w: UInt64, now: UInt64) {
            sampleRunQueue(now: now)
            if mine > 0 {  // (a job the workers ran whole gives no pace to price theirs at)
                waited += w
                workersWorth += Double(worked) / Double(mine) * Double(count - mine)
            }
            if windowJobs == 0 { windowStart = now }
            windowJobs += 1
            guard windowJobs == Self.window || now - windowStart >= Self.windowTime else { return }
            if Double(waited) > workersWorth && crowded {
                goAlone(now: now, for: Self.aloneFor << UInt64(streak))
                streak = min(streak + 1, Self.longestStreak)
            } else {
                streak = 0
            }
            waited = 0
            workersWorth = 0
            windowJobs = 0
        }

        private func sampleRunQueue(now: UInt64) {
            if sampleStart == 0 {
                guard let d = runQueueDelay() else { return }
                (sampleStart, sampleDelay) = (now, d)
                return
            }
            guard now - sampleStart >= Self.sample, let d = runQueueDelay() else { return }
            let over = Double(d &- sampleDelay) / (Double(now - sampleStart) * Double(threads)) > Self.crowdedShare
            crowded = over && lastOver
            lastOver = over
            (sampleStart, sampleDelay) = (now, d)
        }

        /// Nanoseconds the caller and the workers have waited for a core in all, or nil where
        /// the kernel does not tell.
        private func runQueueDelay() -> UInt64? {
            lock.lock()
            let tids = workerTids
            lock.unlock()
            guard tids.count + 1 == threads else { return nil }  // a worker not started yet
            var total: UInt64 = 0
            for tid in tids + [ck_thread_id()] {
                guard let d = Self.schedDelay(tid) else { return nil }
                total += d
            }
            return total
        }

        /// The second field of /proc/self/task/TID/schedstat: time spent waiting on a run queue.
        private static func schedDelay(_ tid: Int32) -> UInt64? {
            guard let fields = procFields("/proc/self/task/\(tid)/schedstat"), fields.count >= 2 else { return nil }
            return UInt64(fields[1])
        }

        /// The space-separated fields of a short /proc file, or nil where it cannot be read.
        static func procFields(_ path: String) -> [Substring]? {
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 96)
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 95) }
            guard n > 0 else { return nil }
            return String(decoding: buffer[0..<n], as: UTF8.self).split(separator: " ")
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
            nextPart.value.store(0, ordering: .relaxed)
            finished.value.store(0, ordering: .relaxed)
            lock.unlock()
            // Announced after the lock is released: a spinning worker that sees the new
            // generation takes the lock at once instead of finding it held (a contended mutex
            // puts the worker to sleep in the kernel). Sleeping workers are woken under the lock
            // (they count themselves in `sleepers` before their last look at the generation).
            generation.add(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                lock.lock()
                lock.broadcast()
                lock.unlock()
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let mine = work(body, count)
            let t1 = DispatchTime.now().uptimeNanoseconds
            Self.spinThenYield { finished.value.load(ordering: .acquiring) >= count }
            // No worker may still hold this job when the next one starts.
            lock.lock()
            job = nil
            lock.unlock()
            Self.spinThenYield { active.load(ordering: .acquiring) == 0 }
            let t2 = DispatchTime.now().uptimeNanoseconds
            account(count: count, mine: mine, worked: t1 - t0, waited: t2 - t1, now: t2)
        }

        /// Waits until `done`: a few thousand checks first (most waits end within microseconds),
        /// then yielding the core between checks.
        @inline(__always)
        static func spinThenYield(_ done: () -> Bool) {
            var spins = 0
            while !done() {
                spins += 1
                if spins > 2000 { sched_yield() }
            }
        }

        /// Runs parts of the job until none is left; returns how many it ran.
        @discardableResult
        func work(_ body: (Int) -> Void, _ count: Int) -> Int {
            var ran = 0
            while true {
                let p = nextPart.value.wrappingAdd(1, ordering: .relaxed).oldValue
                if p >= count { break }
                body(p)
                ran += 1
            }
            if ran > 0 { finished.value.wrappingAdd(ran, ordering: .releasing) }
            return ran
        }

        func workerLoop() {
            lock.lock()
            workerTids.append(ck_thread_id())
            lock.unlock()
            var seen = 0
            while true {
                // Spin for the next job before sleeping: 200,000 checks (a few tenths of a
                // millisecond) outlast the caller's serial work between steps (choosing a token
                // over a vocabulary of 150,000), so a step's first job does not wait on a worker
                // waking up (Qwen2.5-1.5B decode 6–9% faster than with 20,000). On a crowded
                // machine the caller goes alone instead, and the idle worker soon sleeps.
                var spins = 0
                while generation.load(ordering: .acquiring) == seen && spins < 200_000 { spins += 1 }
                lock.lock()
                while !stopping {
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    let asleep = generation.load(ordering: .sequentiallyConsistent) == seen
                    if asleep { lock.wait() }
                    sleepers.subtract(1, ordering: .relaxed)
                    if !asleep { break }
                }
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

/// An atomic counter alone on its cache line (64 bytes of padding on either side).
final class PaddedCounter: Sendable {
    private let before: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
    let value = Atomic<Int>(0)
    private let after: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
}
