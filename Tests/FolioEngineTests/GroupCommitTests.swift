import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine
import FolioStorage
import Foundation
import Synchronization

/// The in-memory catalog after writes that fail: it must describe what storage holds, so
/// reads, validate and a restart agree (found by the command fuzzer); and it changes for
/// readers only with the commit that makes the change.
@Suite struct GroupCommitTests {
    @Test(arguments: Backend.allCases)
    func readersSeeACollectionOnlyOnceItIsCommitted(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let created = try Namespace(database: "app", collection: "created")
        let inside = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let seen = Mutex<(inBatch: Bool, reader: Bool)>((false, true))
        let writer = Thread {
            _ = try? engine.committer.write(durable: false) { txn in
                try engine.create(created, options: [:], in: txn)
                let mine = engine.collectionExists(created)
                seen.withLock { $0.inBatch = mine }
                inside.signal()
                release.wait()
            }
            inside.signal()
        }
        writer.start()
        inside.wait()
        // Created in the batch, not committed: the batch sees it, a reader does not.
        let reader = engine.collectionExists(created)
        seen.withLock { $0.reader = reader }
        release.signal()
        inside.wait()
        #expect(seen.withLock { $0.inBatch } == true)
        #expect(seen.withLock { $0.reader } == false)
        #expect(engine.collectionExists(created))
        // A request that fails after creating a collection, in a batch with one that commits
        // (both queue while a first request holds the committer).
        let failing = try Namespace(database: "app", collection: "failing")
        let results = Mutex<[Bool]>([])
        let holder = Thread {
            _ = try? engine.committer.write(durable: false) { _ in
                inside.signal()
                release.wait()
            }
        }
        holder.start()
        inside.wait()
        let threads = (0..<2).map { i in
            Thread {
                let ok = (try? engine.committer.write(durable: false) { txn -> Bool in
                    if i == 0 {
                        try engine.create(failing, options: [:], in: txn)
                        throw FolioError(.badValue, "fails after creating")
                    }
                    _ = try engine.entryForWrite(ns, in: txn)
                    return true
                }) ?? false
                results.withLock { $0.append(ok) }
            }
        }
        threads.forEach { $0.start() }
        usleep(50_000)
        release.signal()
        while results.withLock({ $0.count }) < 2 { usleep(1000) }
        #expect(results.withLock { $0.filter { $0 }.count } == 1)
        #expect(!engine.collectionExists(failing))
        #expect(engine.collectionExists(ns))
    }

    @Test(arguments: Backend.allCases)
    func aFailedWriteThatCreatedACollectionLeavesNoTrace(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let missing = try Namespace(database: "app", collection: "missing")
        // The collection is created, then the second specification fails: all is undone.
        #expect(throws: FolioError.self) {
            _ = try engine.createIndexes(missing, [["key": ["a": 1], "name": "a_1"],
                                                   ["key": ["b": 1], "name": "b_1", "partialFilterExpression": ["b": ["$bogus": 1]]]])
        }
        #expect(!engine.collectionExists(missing))
        #expect(engine.collections(in: "app").isEmpty)
        // A failed index build on an existing collection leaves its indexes as they were.
        _ = try engine.insert(ns, [["_id": 1, "u": 1], ["_id": 2, "u": 1]])
        #expect(throws: FolioError.self) { _ = try engine.createIndexes(ns, [["key": ["u": 1], "name": "u_1", "unique": true]]) }
        #expect(engine.indexes(ns).isEmpty)
        #expect(try engine.validate(ns).isValid)
    }

    /// A leader returns once its own group is committed: a request that arrived while it
    /// committed is led by its own thread. Before, the leader went on to run every later
    /// group itself, so under a steady stream of writes its own reply could wait without end.
    @Test(arguments: Backend.allCases)
    func aLeaderReturnsOnceItsOwnGroupIsCommitted(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let inside = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let leaderReturned = DispatchSemaphore(value: 0)
        let followerSawLeaderReturn = Mutex<Bool?>(nil)
        let leader = Thread {
            _ = try? engine.committer.write(durable: false) { _ in
                inside.signal()
                release.wait()
            }
            leaderReturned.signal()
        }
        leader.start()
        inside.wait()
        // Queued behind the leader's group; its work needs the leader to have returned (a
        // leader that runs it instead waits here for the 10-second timeout).
        let follower = Thread {
            _ = try? engine.committer.write(durable: false) { _ in
                let returned = leaderReturned.wait(timeout: .now() + 10) == .success
                followerSawLeaderReturn.withLock { $0 = returned }
            }
        }
        follower.start()
        while engine.committer.queuedWrites == 0 { usleep(1000) }
        release.signal()
        while followerSawLeaderReturn.withLock({ $0 }) == nil { usleep(1000) }
        #expect(followerSawLeaderReturn.withLock { $0 } == true)
        #expect(engine.committer.queuedWrites == 0)
    }

    @Test func theStoredCatalogReopensAfterFailures() throws {
        let storage = MemoryStorageEngine()
        let engine = try Engine(storage: storage)
        let other = try Namespace(database: "app", collection: "other")
        _ = try engine.insert(ns, [["_id": 1, "date": .datetime(0)]])
        _ = try engine.createIndexes(ns, [["key": ["date": 1], "name": "date_1", "expireAfterSeconds": 60]])
        #expect(throws: FolioError.self) { _ = try engine.createIndexes(other, [["key": ["a": "nope"], "name": "a"]]) }
        // collMod keeps expireAfterSeconds within what createIndexes accepts: beyond it, the
        // stored entry would not load again.
        do {
            _ = try engine.modifyCollection(ns, ["index": ["name": "date_1", "expireAfterSeconds": .double(1e15)]])
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidOptions)
        }
        let reopened = try Engine(storage: storage)
        #expect(reopened.collections(in: "app").map(\.name) == ["users"])
        #expect(reopened.indexes(ns).map(\.name) == ["date_1"])
    }

    /// Catalog changes flush what earlier commits left unsynced before their durable commit
    /// (outside the writer, so their own sync is short); j: true writes do not (group commit
    /// shares their syncs).
    @Test func catalogChangesFlushBeforeTheirDurableCommit() throws {
        final class Counting: StorageEngine, Sendable {
            let base = MemoryStorageEngine()
            let flushes = Atomic(0)
            var name: String { base.name }
            func snapshot() throws(StorageError) -> any StorageSnapshot { try base.snapshot() }
            func beginWrite() throws(StorageError) -> any StorageWriteTransaction { try base.beginWrite() }
            func sizeOnDiskBytes() -> Int64 { 0 }
            func flushUnsynced() { flushes.add(1, ordering: .relaxed) }
            func close() { base.close() }
        }
        let storage = Counting()
        let engine = try Engine(storage: storage)
        defer { engine.close() }
        func flushes(_ body: () throws -> Void) rethrows -> Int {
            let before = storage.flushes.load(ordering: .relaxed)
            try body()
            return storage.flushes.load(ordering: .relaxed) - before
        }
        let other = try Namespace(database: "app", collection: "other")
        #expect(try flushes { try engine.createCollection(ns) } == 1)
        #expect(try flushes { _ = try engine.insert(ns, [["_id": 1]], options: WriteOptions(durable: true)) } == 0)
        #expect(try flushes { _ = try engine.insert(ns, [["_id": 2]]) } == 0)
        #expect(try flushes { _ = try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]]) } == 1)
        #expect(try flushes { _ = try engine.dropIndexes(ns, "v_1") } == 1)
        #expect(try flushes { try engine.renameCollection(ns, to: other) } == 1)
        #expect(try flushes { _ = try engine.dropCollection(other) } == 1)
    }
}
