import Foundation
import Synchronization

/// The threads the library's engine calls run on: at most `limit` of them, started as work
/// arrives and stopped when the client closes.
///
/// The engine is synchronous: a call may read storage, and a write waits (on a semaphore) for
/// its group commit's leader to sync. Such calls must not run on Swift's cooperative pool,
/// whose few threads would stall every task of the process, nor on a concurrent
/// `DispatchQueue`, which starts a new thread for every blocked call. Here a burst of
/// callers queues instead; a waiting group-commit follower is always behind a leader that is
/// running on another of these threads, so the bound cannot deadlock.
final class EngineThreads: @unchecked Sendable {
    let limit: Int
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var threads = 0
    private var idle = 0
    private var stopped = false

    /// The default bound: twice the cores, at least 4, so writers still batch into group
    /// commits while others read.
    static var defaultLimit: Int { max(4, 2 * ProcessInfo.processInfo.activeProcessorCount) }

    init(limit: Int = EngineThreads.defaultLimit) {
        precondition(limit > 0)
        self.limit = limit
    }

    deinit { shutDown() }

    /// Runs `job` on one of the threads (immediately or when one is free).
    func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        if stopped {
            condition.unlock()
            job()
            return
        }
        jobs.append(job)
        let start = idle == 0 && threads < limit
        if start { threads += 1 } else { condition.signal() }
        condition.unlock()
        if start {
            let thread = Thread { [self] in work() }
            thread.name = "folio.engine"
            thread.start()
        }
    }

    /// Threads started so far (never more than `limit`).
    var threadCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return threads
    }

    /// Lets the threads finish the queued jobs and end.
    func shutDown() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    private func work() {
        condition.lock()
        while true {
            while head == jobs.count && !stopped {
                idle += 1
                condition.wait()
                idle -= 1
            }
            if head == jobs.count {
                threads -= 1
                condition.unlock()
                return
            }
            let job = jobs[head]
            head += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 4096 && head * 2 >= jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
            condition.lock()
        }
    }
}
