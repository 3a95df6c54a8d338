import Foundation
import Synchronization
import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine

/// The commit timeline (ClusterClock.swift): every commit's cluster time is greater than the
/// last, within a second, when the wall clock goes back, and across restarts and crashes.
@Suite struct ClusterClockTests {
    @Test func timesIncreaseEvenWhenTheWallClockGoesBack() {
        let wall = Mutex<UInt32>(1_000)
        let clock = ClusterClock(reserved: 0, wallSeconds: { wall.withLock { $0 } })
        var last = clock.latest
        for step in 0..<50 {
            if step == 20 { wall.withLock { $0 = 900 } }       // the wall clock goes back
            if step == 30 { wall.withLock { $0 = 2_000 } }     // and jumps ahead
            let (time, reserve, _) = clock.tick()
            #expect(time > last, "step \(step)")
            clock.committed(time, reserved: reserve)
            last = time
        }
        #expect(last.seconds == 2_000 && clock.latest == last)
    }

    @Test func reservationsAreStoredAheadOfTheTimesIssued() {
        let wall = Mutex<UInt32>(500)
        let clock = ClusterClock(reserved: 0, wallSeconds: { wall.withLock { $0 } })
        let first = clock.tick()
        #expect(first.reserve == 500 + ClusterClock.reservationSeconds)
        clock.committed(first.time, reserved: first.reserve)
        #expect(clock.tick().reserve == nil)
        wall.withLock { $0 = 500 + ClusterClock.reservationSeconds + 1 }
        #expect(clock.tick().reserve != nil)
        // A clock started from a stored reservation issues only later times.
        let restarted = ClusterClock(reserved: 510, wallSeconds: { 400 })
        #expect(restarted.tick().time > Timestamp(seconds: 510, increment: .max))
    }

    @Test func aCommitTakesConsecutiveTimesInOneSecond() {
        let clock = ClusterClock(reserved: 0, wallSeconds: { 700 })
        let a = clock.tick(count: 3)
        #expect(a.first == Timestamp(seconds: 700, increment: 1) && a.time == Timestamp(seconds: 700, increment: 3))
        let b = clock.tick()
        #expect(b.first == b.time && b.time == Timestamp(seconds: 700, increment: 4))
        // A range that would pass the increment's end starts the next second.
        let full = ClusterClock(reserved: 0, wallSeconds: { 700 })
        _ = full.tick(count: Int(UInt32.max) - 2)
        let c = full.tick(count: 5)
        #expect(c.first == Timestamp(seconds: 701, increment: 1) && c.time == Timestamp(seconds: 701, increment: 5))
    }

    @Test func commitTimesIncreaseAcrossRestarts() throws {
        let directory = tempDir()
        var times: [Timestamp] = []
        for _ in 0..<3 {
            let engine = try Engine.open(directory: directory)
            for i in 0..<5 {
                _ = try engine.insert(ns, [["x": .int32(Int32(i))]])
                times.append(engine.clusterTime)
            }
            engine.close()   // reopened at once, within the same second
        }
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 }, "\(times)")
    }
}
