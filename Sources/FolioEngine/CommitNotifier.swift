import FolioBSON
import Synchronization
import FolioLocks

// Waiting for the next commit without holding a thread: a tailable awaitData getMore (a
// change stream's, an oplog tailer's, a capped collection's) that found nothing registers a
// callback and gives its thread back; the group committer calls the callbacks right after a
// commit becomes visible. Costs a commit one atomic load when nobody waits.

/// Callbacks to run after the next commit.
public final class CommitNotifier: Sendable {
    private struct State {
        var next: UInt64 = 0
        var waiters: [UInt64: @Sendable () -> Void] = [:]
    }

    private let state = Locked(State())
    private let waiting = Atomic<Int>(0)

    /// Runs `callback` once after the first commit later than `since`: at once (and returns
    /// nil) when the latest commit already is. Otherwise returns an id for `cancel`.
    public func notify(after since: Timestamp, latest: () -> Timestamp, _ callback: @escaping @Sendable () -> Void) -> UInt64? {
        let id = state.withLock { s -> UInt64 in
            s.next &+= 1
            s.waiters[s.next] = callback
            waiting.add(1, ordering: .relaxed)
            return s.next
        }
        // A commit between the caller's read of `since` and the registration above has
        // already notified: check for it after registering.
        if latest() != since, cancel(id) {
            callback()
            return nil
        }
        return id
    }

    /// Removes a waiter that has not run; false when it ran (or is running) already.
    @discardableResult
    public func cancel(_ id: UInt64) -> Bool {
        state.withLock { s in
            guard s.waiters.removeValue(forKey: id) != nil else { return false }
            waiting.subtract(1, ordering: .relaxed)
            return true
        }
    }

    /// Waiters now (diagnostics).
    public var count: Int { waiting.load(ordering: .relaxed) }

    /// Runs every waiter (called after each commit).
    func committed() {
        guard waiting.load(ordering: .relaxed) > 0 else { return }
        let callbacks = state.withLock { s -> [@Sendable () -> Void] in
            let all = Array(s.waiters.values)
            waiting.subtract(s.waiters.count, ordering: .relaxed)
            s.waiters.removeAll()
            return all
        }
        for callback in callbacks { callback() }
    }
}

extension Engine {
    /// Runs `callback` after the first commit later than `since` (see CommitNotifier); nil
    /// when that commit happened already and `callback` ran.
    public func notifyAfterCommit(since: Timestamp, _ callback: @escaping @Sendable () -> Void) -> UInt64? {
        committer.notifier.notify(after: since, latest: { self.clusterTime }, callback)
    }

    /// Drops a callback `notifyAfterCommit` registered; false when it ran already.
    @discardableResult
    public func cancelCommitNotification(_ id: UInt64) -> Bool { committer.notifier.cancel(id) }
}
