import Foundation
import Synchronization
import Testing
import FolioTestSupport
@testable import Folio

/// EngineThreads.swift: engine calls run on a bounded set of threads, and writers waiting for
/// a group commit never starve it.
@Suite struct EngineThreadsTests {
    @Test func neverMoreThreadsThanTheLimit() async {
        let threads = EngineThreads(limit: 3)
        defer { threads.shutDown() }
        final class Gauge: Sendable {
            let running = Atomic<Int>(0), peak = Atomic<Int>(0)
        }
        let gauge = Gauge()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<200 {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        threads.submit {
                            let now = gauge.running.add(1, ordering: .relaxed).newValue
                            gauge.peak.max(now, ordering: .relaxed)
                            // Wait (briefly) for company, so that the check below does not
                            // depend on how the two cores happen to be scheduled: a pool
                            // running jobs in parallel gets a second one in; a serial one never.
                            let deadline = ContinuousClock.now + .milliseconds(50)
                            while gauge.running.load(ordering: .relaxed) < 2 && ContinuousClock.now < deadline { usleep(50) }
                            gauge.peak.max(gauge.running.load(ordering: .relaxed), ordering: .relaxed)
                            gauge.running.subtract(1, ordering: .relaxed)
                            done.resume()
                        }
                    }
                }
            }
        }
        #expect(threads.threadCount <= 3)
        #expect(gauge.peak.load(ordering: .relaxed) <= 3)
        #expect(gauge.peak.load(ordering: .relaxed) >= 2)
    }

    @Test func manyConcurrentDurableWritersOnTwoThreadsAllFinish() async throws {
        let dir = TestSupport.scratchPath("folio-threads", directory: false)
        let folio = try FolioClient.open(directory: dir, maximumConcurrentOperations: 2)
        defer { folio.close() }
        let c = folio.database("db").collection("c")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<64 {
                group.addTask {
                    try await c.insertOne(["_id": .int32(Int32(i))])
                    try await folio.withTransaction { txn in
                        _ = try await txn.database("db").collection("c").updateOne(["_id": .int32(Int32(i))], ["$set": ["t": true]])
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await c.countDocuments(["t": true]) == 64)
        #expect(folio.threads.threadCount <= 2)
    }

    @Test func jobsSubmittedAfterShutDownStillRun() async {
        let threads = EngineThreads(limit: 1)
        threads.shutDown()
        let ran = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in threads.submit { c.resume(returning: true) } }
        #expect(ran)
    }
}
