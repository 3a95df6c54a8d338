import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine
@testable import FolioStorage

/// Reads at a point in time outside transactions (SnapshotReads.swift): a read sees one
/// commit's state, later reads naming its time find the same state while the history keeps
/// it, and times the history does not hold are refused with MongoDB's errors.
@Suite struct SnapshotReadsTests {
    /// Expects `body` to fail with `code`.
    func expect(_ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws(FolioError) -> Void) {
        do throws(FolioError) {
            try body()
            Issue.record("expected error \(code)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, sourceLocation: sourceLocation)
        }
    }

    func ids(_ engine: Engine) throws -> [Int64] {
        try docs(engine.find(ns, FindRequest(sort: ["_id": 1]))).compactMap { $0["_id"]?.exactInt64 }
    }

    @Test(arguments: Backend.allCases)
    func aReadAndLaterReadsAtItsTimeSeeOneState(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<3).map { ["_id": .int64($0)] })
        let first = try engine.snapshotRead()
        #expect(first.atClusterTime == engine.clusterTime)
        _ = try engine.insert(ns, [["_id": .int64(7)]])
        _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": 0], limitOne: true)])
        #expect(try ids(first.engine) == [0, 1, 2])
        #expect(try first.engine.count(ns, filter: [:]) == 3)
        // Another read naming the first one's time, after the first has gone.
        let time = first.atClusterTime
        _ = consume first
        let again = try engine.snapshotRead(atClusterTime: time)
        #expect(again.atClusterTime == time)
        #expect(try ids(again.engine) == [0, 1, 2])
        #expect(try ids(engine.snapshotRead().engine) == [1, 2, 7])
        // A time at or after the latest commit reads the latest state.
        let now = try engine.snapshotRead(atClusterTime: engine.clusterTime)
        #expect(try ids(now.engine) == [1, 2, 7])
    }

    @Test(arguments: Backend.allCases)
    func timesTheHistoryLacksAreRefused(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1]])
        let write = engine.clusterTime
        _ = try engine.insert(ns, [["_id": 2]])
        // No read took the first write's snapshot: it is gone.
        expect(.snapshotTooOld) { () throws(FolioError) in _ = try engine.snapshotRead(atClusterTime: write) }
        // A time after the latest commit.
        let future = Timestamp(seconds: engine.clusterTime.seconds + 10, increment: 1)
        expect(.invalidOptions) { () throws(FolioError) in _ = try engine.snapshotRead(atClusterTime: future) }
        // A kept snapshot expires with the window.
        let kept = try engine.snapshotRead().atClusterTime
        _ = try engine.insert(ns, [["_id": 3]])
        #expect(engine.keptSnapshots >= 1)
        _ = try engine.snapshotRead(atClusterTime: kept)
        engine.expireSnapshotHistory(windowSeconds: 0)
        #expect(engine.keptSnapshots == 0)
        expect(.snapshotTooOld) { () throws(FolioError) in _ = try engine.snapshotRead(atClusterTime: kept) }
        #expect(engine.openTransactions.snapshots == 0)
    }

    /// Kept snapshots are given up while the log they pin is past the limit.
    @Test func aLargeLogGivesUpTheHistory() throws {
        let engine = try makeEngine(.sqlite)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1]])
        _ = try engine.snapshotRead()
        _ = try engine.insert(ns, [["_id": 2]])
        (engine.storage as? SQLiteStorageEngine)?.checkpointer?.runNow()
        #expect(engine.storageStatistics.logBytes > 0)
        engine.expireSnapshotHistory(windowSeconds: 300)
        #expect(engine.keptSnapshots == 1)
        engine.expireSnapshotHistory(windowSeconds: 300, logLimitBytes: 1)
        #expect(engine.keptSnapshots == 0)
    }

    @Test(arguments: Backend.allCases)
    func theHistoryIsBounded(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        for i in 0..<(SnapshotHistory.limit + 10) {
            _ = try engine.insert(ns, [["_id": .int64(Int64(i))]])
            _ = try engine.snapshotRead()
        }
        #expect(engine.keptSnapshots == SnapshotHistory.limit)
        #expect(engine.openTransactions.snapshots == SnapshotHistory.limit)
    }

    @Test(arguments: Backend.allCases)
    func aSnapshotReadCannotWrite(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1]])
        let read = try engine.snapshotRead()
        #expect(try read.engine.insert(ns, [["_id": 2]]).writeErrors.count == 1)
        #expect(try read.engine.insert(try Namespace(database: "app", collection: "new"), [["_id": 2]]).insertedCount == 0)
        #expect(try ids(engine) == [1])
        #expect(engine.openTransactions.transactions == 0)
    }

    @Test(arguments: Backend.allCases)
    func aTransactionAtAnOlderTimeIsTooOld(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1]])
        let before = engine.clusterTime
        let txn = try engine.beginTransaction(atClusterTime: before)
        txn.abort()
        _ = try engine.insert(ns, [["_id": 2]])
        expect(.snapshotTooOld) { () throws(FolioError) in _ = try engine.beginTransaction(atClusterTime: before) }
        #expect(engine.openTransactions.transactions == 0)
    }
}
