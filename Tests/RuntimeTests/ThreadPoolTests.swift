import Foundation
import Runtime
import Synchronization
import Testing

@Suite struct ThreadPoolTests {
    /// Every part of every job runs exactly once, whoever runs it.
    @Test func everyPartRunsOnce() {
        let pool = ThreadPool(threads: 2)
        let counts = Mutex([Int](repeating: 0, count: 64))
        for _ in 0..<200 {
            pool.run(64) { part in counts.withLock { $0[part] += 1 } }
        }
        #expect(counts.withLock { $0 } == [Int](repeating: 200, count: 64))
    }

    /// A worker that keeps the caller waiting (as one descheduled by another process does)
    /// makes the caller run the jobs alone; the jobs still complete, every part once.
    @Test func aCallerKeptWaitingRunsJobsAlone() {
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
}
