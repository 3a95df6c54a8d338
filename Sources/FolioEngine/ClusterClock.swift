import FolioBSON
import FolioStorage
import Synchronization
import FolioLocks

// The commit timeline: every storage commit gets a cluster time, a MongoDB Timestamp
// (seconds, increment) that strictly increases across commits and restarts. A hybrid
// logical clock: the seconds follow the wall clock but never go back; the increment orders
// commits within one second.
//
// Durability without a write per commit: the clock keeps a reservation in the `meta` store,
// a second that no issued time exceeds. A commit whose time would pass it moves it
// `reservationSeconds` ahead in the same storage transaction (one small write every few
// seconds under load). After a restart or a crash the clock starts after the reservation, so
// it never repeats or goes back, even if the wall clock did.

/// Cluster times for commits.
final class ClusterClock: Sendable {
    struct State {
        /// The last time handed to a commit.
        var last: Timestamp
        /// The time of the latest commit that succeeded.
        var committed: Timestamp
        /// No issued time has more seconds than this (stored in the `meta` store).
        var reserved: UInt32
    }

    static let key: [UInt8] = Array("clusterTimeReservation".utf8)
    static let reservationSeconds: UInt32 = 10

    let state: Locked<State>
    let wallSeconds: @Sendable () -> UInt32
    /// `state.committed`, readable without the lock (every command's reply reads it).
    private let committedRaw: Atomic<UInt64>

    /// A clock that starts after `reserved` (the stored reservation; 0 for a new directory).
    init(reserved: UInt32, wallSeconds: @escaping @Sendable () -> UInt32 = { UInt32(truncatingIfNeeded: ObjectID.currentSeconds()) }) {
        self.wallSeconds = wallSeconds
        // Times up to the reservation may have been issued before: start past it.
        let start = Timestamp(seconds: reserved == 0 ? wallSeconds() : reserved &+ 1, increment: 0)
        state = Locked(State(last: start, committed: start, reserved: reserved))
        committedRaw = Atomic(start.rawValue)
    }

    /// The time of the latest commit (what commands report as their operation time).
    var latest: Timestamp { Timestamp(rawValue: committedRaw.load(ordering: .acquiring)) }

    /// The next commit's time, and the reservation the commit must store first when this time
    /// passes the stored one. With `count` > 1 the commit takes that many consecutive times in
    /// one second (one per change-log entry, as each of MongoDB's oplog entries has its own);
    /// `time` is the last of them and `first` the first.
    func tick(count: Int = 1) -> (time: Timestamp, reserve: UInt32?, first: Timestamp) {
        let wall = wallSeconds()
        let n = UInt32(clamping: max(1, count))
        return state.withLock { s in
            var first: Timestamp
            if wall > s.last.seconds {
                first = Timestamp(seconds: wall, increment: 1)
            } else if s.last.increment <= UInt32.max - n {
                first = Timestamp(seconds: s.last.seconds, increment: s.last.increment + 1)
            } else {
                first = Timestamp(seconds: s.last.seconds &+ 1, increment: 1)
            }
            let next = Timestamp(seconds: first.seconds, increment: first.increment + (n - 1))
            s.last = next
            return (next, next.seconds > s.reserved ? next.seconds &+ ClusterClock.reservationSeconds : nil, first)
        }
    }

    /// Notes a commit that succeeded at `time`, with the reservation it stored (if any).
    func committed(_ time: Timestamp, reserved seconds: UInt32?) {
        state.withLock { s in
            if time > s.committed {
                s.committed = time
                committedRaw.store(time.rawValue, ordering: .releasing)
            }
            if let seconds { s.reserved = max(s.reserved, seconds) }
        }
    }

    /// The stored reservation as bytes, and back.
    static func encode(_ seconds: UInt32) -> [UInt8] { withUnsafeBytes(of: seconds.bigEndian) { Array($0) } }
    static func decode(_ bytes: [UInt8]?) -> UInt32 {
        guard let bytes, bytes.count == 4 else { return 0 }
        return bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
}
