import CKernels
import Foundation
@testable import Runtime
import Synchronization
import Testing

@Suite struct ThreadPoolTests {
    /// Guided ranges cover 0..<n once, in order, in whole units, none shorter than a 32nd of
    /// the units (but the last) nor longer than a 4·threads-th, and never grow.
    @Test(arguments: [(0, 8), (5, 8), (8, 8), (192, 8), (1536, 8), (8960, 8), (49152, 8), (7, 1), (1000, 1)])
    func guidedRangesCoverEveryRowOnce(_ n: Int, _ unit: Int) {
        for threads in [1, 2, 4] {
            let ranges = ThreadPool(threads: threads).guidedRanges(n, unit: unit, width: threads)
            #expect(ranges.first?.lowerBound ?? 0 == 0 && ranges.last?.upperBound ?? 0 == n)
            #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound && $0.count >= $1.count || $1.upperBound == n })
            #expect(ranges.allSatisfy { $0.lowerBound % unit == 0 && !$0.isEmpty })
            let smallest = max(1, (n + unit - 1) / unit / 32) * unit
            #expect(ranges.dropLast().allSatisfy { $0.count >= smallest })
            let largest = max(1, (n + unit - 1) / unit / (4 * threads)) * unit
            #expect(ranges.allSatisfy { $0.count <= largest })
        }
    }

    /// Every part of every job runs exactly once, whoever runs it.
    @Test func everyPartRunsOnce() {
        let pool = ThreadPool(threads: 2)
        let counts = Mutex([Int](repeating: 0, count: 64))
        for _ in 0..<200 {
            pool.run(64) { part in counts.withLock { $0[part] += 1 } }
        }
        #expect(counts.withLock { $0 } == [Int](repeating: 200, count: 64))
    }

    /// On a crowded machine (here: another thread spinning on the one CPU the pool's threads
    /// may use), a worker that keeps the caller waiting makes it run the jobs alone; the jobs
    /// still complete, every part once.
    @Test func aCallerKeptWaitingOnACrowdedMachineRunsJobsAlone() throws {
        // The test thread on one CPU; the pool's workers and the spinner inherit it.
        var saved = [UInt8](repeating: 0, count: Int(CK_AFFINITY_BYTES))
        try #require(ck_pin_to_one_cpu(&saved) >= 0)
        defer { _ = ck_restore_affinity(saved) }
        let stop = Atomic<Bool>(false)
        let spinner = Thread { while !stop.load(ordering: .relaxed) {} }
        spinner.start()
        defer { stop.store(true, ordering: .relaxed) }

        let pool = ThreadPool(threads: 2)
        let caller = pthread_self()
        let runs = Mutex(0)
        for _ in 0..<(3 * 64) {
            pool.run(8) { _ in
                // The caller's parts take 0.1 ms, a worker's 5 ms: the caller waits longer than it works.
                usleep(pthread_equal(pthread_self(), caller) != 0 ? 100 : 5_000)
                runs.withLock { $0 += 1 }
            }
        }
        #expect(runs.withLock { $0 } == 3 * 64 * 8)
        #expect(pool.jobsRunAlone > 0)
    }

    /// Alone on a crowded machine, the caller stays alone, without trying the workers, while the
    /// other threads runnable leave them no core (here: what the pool is told), past the 100 ms
    /// after which it would try them; once they leave a core, it tries the workers again.
    @Test func aCallerAloneTriesTheWorkersOnlyOnceTheMachineIsNoLongerCrowded() throws {
        final class Others: Sendable { let count = Atomic<Int>(64) }
        let others = Others()
        let pool = ThreadPool(threads: 2, othersRunnable: { others.count.load(ordering: .relaxed) })
        let caller = pthread_self()
        let workerRan = Atomic<Bool>(false)
        /// Runs jobs of eight parts until `done` or `seconds` have passed; `slowWorker`: a worker's
        /// parts take 5 ms, the caller's 0.1 ms.
        func jobs(seconds: Double, slowWorker: Bool = false, until done: () -> Bool = { false }) {
            let end = Date().addingTimeInterval(seconds)
            while Date() < end && !done() {
                pool.run(8) { _ in
                    let mine = pthread_equal(pthread_self(), caller) != 0
                    if !mine { workerRan.store(true, ordering: .relaxed) }
                    usleep(slowWorker && !mine ? 5_000 : 100)
                }
            }
        }

        // Crowded: the test thread, the pool's worker and a spinner on one CPU.
        var saved = [UInt8](repeating: 0, count: Int(CK_AFFINITY_BYTES))
        try #require(ck_pin_to_one_cpu(&saved) >= 0)
        let stop = Atomic<Bool>(false)
        let spinner = Thread { while !stop.load(ordering: .relaxed) {} }
        spinner.start()
        jobs(seconds: 10, slowWorker: true) { pool.width == 1 }
        let alone = pool.jobsRunAlone
        try #require(pool.width == 1, "the caller never went alone")

        workerRan.store(false, ordering: .relaxed)
        jobs(seconds: 0.4)
        let triedWorkers = workerRan.load(ordering: .relaxed)
        #expect(!triedWorkers, "the caller tried the workers on a machine still crowded")
        #expect(pool.jobsRunAlone > alone)

        stop.store(true, ordering: .relaxed)
        _ = ck_restore_affinity(saved)
        others.count.store(0, ordering: .relaxed)
        if ProcessInfo.processInfo.activeProcessorCount >= 2 {  // (with one CPU, two threads crowd it whatever else runs)
            jobs(seconds: 3) { workerRan.load(ordering: .relaxed) }
            let triedAgain = workerRan.load(ordering: .relaxed)
            #expect(triedAgain, "the caller did not try the workers again on a machine no longer crowded")
        }
    }
}
