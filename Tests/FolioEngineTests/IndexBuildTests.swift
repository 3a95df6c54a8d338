import Foundation
import Testing
import FolioBSON
import FolioQuery
import FolioLocks
import FolioStorage
@testable import FolioEngine

/// Index builds on large collections while writes go on (IndexBuild.swift): writes between
/// the backfill's commits leave the index exactly as a build in one commit would, a unique
/// build fails only on a duplicate that is still there at its end, a build that fails or is
/// dropped leaves nothing behind, and one a crash or a shutdown cut short runs again at the
/// next open.
@Suite struct IndexBuildTests {
    static let count = 3_000

    /// An engine whose builds of more than 100 records read 500 records per snapshot, gather
    /// sorted runs of at least 1,100 entries (so 3,000 records make runs of 1,500 and 1,500)
    /// and commit 400 at a time.
    func loaded(_ backend: Backend, _ document: (Int) -> Document = { ["_id": .int32(Int32($0)), "v": .int32(Int32($0 % 700))] }) throws -> Engine {
        let engine = try makeEngine(backend)
        _ = try engine.insert(ns, (0..<Self.count).map(document))
        engine.indexBuildInOneCommitRecords.withLock { $0 = 100 }
        engine.indexBuildCommitEntries.withLock { $0 = 400 }
        engine.indexBuildRunEntries.withLock { $0 = 1_100 }
        engine.indexBuildChunkRecords.withLock { $0 = 500 }
        return engine
    }

    func expectValid(_ engine: Engine, _ index: String, keys: Int? = nil, line: Int = #line) throws {
        let report = try engine.validate(ns)
        #expect(report.errors.isEmpty, "line \(line): \(report.errors.prefix(3))")
        let found = report.keysPerIndex.first { $0.name == index }
        #expect(found != nil, "line \(line): no \(index)")
        if let keys { #expect(found?.keys == keys, "line \(line): \(String(describing: found?.keys)) keys") }
    }

    /// Before each commit of the backfill (which writes the records' keys as they were when
    /// read, in key order): updates of records whose keys are written and of others, of a
    /// field the index does not cover, deletes on both sides, inserts between and after the
    /// existing keys, and documents that make the index multikey. The index ends exactly as its documents
    /// say, is used by queries only once built, and is not listed before.
    @Test(arguments: Backend.allCases)
    func writesBetweenChunksLeaveTheIndexExact(backend: Backend) throws {
        let engine = try loaded(backend)
        defer { engine.close() }
        let chunks = Locked(0)
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            let n = chunks.withLock { $0 += 1; return $0 }
            #expect(!engine.indexes(ns).contains { $0.name == "v_1" })
            #expect(try engine.indexSpecifications(ns).count == 1)
            let here = Int32((n - 1) * 400 + 50), behind = here - 400, ahead = Int32(2_990 - n * 7)
            _ = try engine.update(ns, [
                UpdateStatement(filter: ["_id": .int32(here)], update: ["$set": ["v": .int32(5_000 + here)]]),
                UpdateStatement(filter: ["_id": .int32(here + 1)], update: ["$set": ["other": 1]]),                // key unchanged
                UpdateStatement(filter: ["_id": .int32(here + 2)], update: ["$set": ["v": [1, 2, .int32(here)]]]), // multikey
                UpdateStatement(filter: ["_id": .int32(ahead)], update: ["$set": ["v": .int32(6_000 + ahead)]]),
                UpdateStatement(filter: ["_id": .int32(ahead - 1)], update: ["$set": ["v": [3, 4]]]),
                UpdateStatement(filter: ["_id": .int32(behind)], update: ["$set": ["v": .int32(7_000 + behind)]]),
            ])
            _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": .int32(here + 3)], limitOne: true),
                                       DeleteStatement(filter: ["_id": .int32(ahead - 2)], limitOne: true),
                                       DeleteStatement(filter: ["_id": .int32(behind + 1)], limitOne: true)])
            _ = try engine.insert(ns, [["_id": .double(Double(here) + 0.5), "v": .int32(here)],
                                       ["_id": .double(Double(behind) + 0.5), "v": .int32(behind)],
                                       ["_id": .int32(10_000 + Int32(n)), "v": .int32(Int32(n))]])
            // A query does not use the index yet.
            #expect(throws: FolioError.self) {
                var request = FindRequest(filter: ["v": 1])
                request.hint = "v_1"
                _ = try docs(engine.find(ns, request))
            }
        } }
        let result = try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]])
        #expect(result.numIndexesBefore == 1 && result.numIndexesAfter == 2 && result.note == nil)
        #expect(chunks.withLock { $0 } >= 7)
        try expectValid(engine, "v_1")
        let index = try #require(engine.indexes(ns).first { $0.name == "v_1" })
        #expect(index.isMultikey && !index.building)
        // Queries through the index find what a collection scan finds.
        for filter: Document in [["v": ["$gte": 5_000]], ["v": 1], ["v": ["$lt": 100]]] {
            var indexed = FindRequest(filter: filter), scanned = FindRequest(filter: filter)
            indexed.hint = "v_1"
            scanned.hint = ["$natural": 1]
            let found = try docs(engine.find(ns, indexed)).count, all = try docs(engine.find(ns, scanned)).count
            #expect(found > 0 && found == all, "\(filter)")
        }
        // The change log says createIndexes once, after the build.
        let logged = try docs(engine.find(try Namespace(database: "local", collection: "oplog.rs"), FindRequest(filter: ["o.createIndexes": "users"])))
        #expect(logged.count == 1)
    }

    /// A unique build fails when a writer left a duplicate, and succeeds when the duplicate
    /// went again before the end; writes are not refused meanwhile.
    @Test(arguments: Backend.allCases)
    func aUniqueBuildFailsOnlyOnADuplicateLeftAtItsEnd(backend: Backend) throws {
        let engine = try loaded(backend) { ["_id": .int32(Int32($0)), "u": .int32(Int32($0))] }
        defer { engine.close() }
        let first = Locked(true)
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            guard first.withLock({ f in defer { f = false }; return f }) else { return }
            // One duplicate of a visited record, one of a record ahead: both accepted.
            let r = try engine.insert(ns, [["_id": -1, "u": 3], ["_id": -2, "u": 2_999]])
            #expect(r.insertedCount == 2)
        } }
        #expect { try engine.createIndexes(ns, [["key": ["u": 1], "name": "u_1", "unique": true]]) } throws: { error in
            (error as? FolioError)?.code == .duplicateKey && (error as? FolioError)?.message.contains("u_1") == true
        }
        #expect(engine.entry(ns)?.indexes.isEmpty == true)
        #expect(try engine.estimatedCount(ns) == Self.count + 2)
        // Again, with the duplicates removed by the last chunk's time.
        first.withLock { $0 = true }
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            if first.withLock({ f in defer { f = false }; return f }) {
                _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": -1], limitOne: true),
                                           DeleteStatement(filter: ["_id": -2], limitOne: true)])
                _ = try engine.insert(ns, [["_id": -3, "u": 2_000]])
                _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": -3], limitOne: true)])
            }
        } }
        _ = try engine.createIndexes(ns, [["key": ["u": 1], "name": "u_1", "unique": true]])
        try expectValid(engine, "u_1", keys: Self.count)
        #expect(try engine.insert(ns, [["_id": -4, "u": 7]]).writeErrors.first?.error.code == .duplicateKey)
    }

    /// Two indexes of one createIndexes, one unique and one compound, build together while
    /// documents change under both; a wildcard index builds beside them in a second request.
    @Test(arguments: Backend.allCases)
    func severalIndexesBuildTogether(backend: Backend) throws {
        let engine = try loaded(backend) { ["_id": .int32(Int32($0)), "u": .int32(Int32($0)), "v": .int32(Int32($0 % 13)), "w": ["x": .int32(Int32($0 % 5))]] }
        defer { engine.close() }
        let k = Locked(0)
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            let n = Int32(k.withLock { $0 += 1; return $0 })
            _ = try engine.update(ns, [UpdateStatement(filter: ["_id": .int32(n * 97)], update: ["$set": ["u": .int32(-n), "v": [1, 2], "w": ["x": [.int32(n)]]]])])
            _ = try engine.insert(ns, [["_id": .int32(-n), "u": .int32(100_000 + n), "v": .int32(n)]])
        } }
        _ = try engine.createIndexes(ns, [["key": ["u": 1], "name": "u_1", "unique": true], ["key": ["v": 1, "u": -1], "name": "v_u"]])
        _ = try engine.createIndexes(ns, [["key": ["w.$**": 1], "name": "w"]])
        #expect(k.withLock { $0 } > 10)
        for name in ["u_1", "v_u", "w"] { try expectValid(engine, name) }
        #expect(engine.indexes(ns).map(\.name) == ["u_1", "v_u", "w"])
        #expect(engine.indexes(ns).first { $0.name == "v_u" }?.isMultikey == true)
        #expect(engine.indexes(ns).first { $0.name == "w" }?.multikeyPaths.contains("w.x") == true)
    }

    /// Text and 2dsphere indexes (whose entries carry a score or come from a covering) build
    /// while their fields change, and answer `$text` and `$geoWithin` like a scan.
    @Test(arguments: Backend.allCases)
    func textAndGeoIndexesBuildWhileWriting(backend: Backend) throws {
        @Sendable func point(_ i: Int) -> BSON { ["type": "Point", "coordinates": [.double(Double(i % 360) - 180), .double(Double(i % 170) - 85)]] }
        let engine = try loaded(backend) { ["_id": .int32(Int32($0)), "t": .string("item w\($0 % 50) blue"), "loc": point($0)] }
        defer { engine.close() }
        let k = Locked(0)
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            let n = k.withLock { $0 += 1; return $0 }
            _ = try engine.update(ns, [UpdateStatement(filter: ["_id": .int32(Int32(n * 89))], update: ["$set": ["t": "moved red", "loc": point(n * 7)]])])
            _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": .int32(Int32(n * 89 + 1))], limitOne: true)])
        } }
        _ = try engine.createIndexes(ns, [["key": ["t": "text"], "name": "t_text"], ["key": ["loc": "2dsphere"], "name": "loc_2dsphere"]])
        #expect(k.withLock { $0 } > 5)
        try expectValid(engine, "t_text")
        try expectValid(engine, "loc_2dsphere")
        let red = try docs(engine.find(ns, FindRequest(filter: ["$text": ["$search": "red"]]))).count
        let moved = try docs(engine.find(ns, FindRequest(filter: ["t": "moved red"]))).count
        #expect(red > 5 && red == moved)
        let box: Document = ["loc": ["$geoWithin": ["$geometry": ["type": "Polygon", "coordinates": [[[-10, -10], [10, -10], [10, 10], [-10, 10], [-10, -10]]]]]]]
        var scanned = FindRequest(filter: box)
        scanned.hint = ["$natural": 1]
        var indexed = FindRequest(filter: box)
        indexed.hint = "loc_2dsphere"
        let found = try docs(engine.find(ns, indexed)).count, all = try docs(engine.find(ns, scanned)).count
        #expect(found > 0 && found == all)
    }

    /// Writers that touch records faster than catch-up commits take them do not keep the
    /// build from ending: after as many catch-up commits as there were touched records to
    /// take at its start, the last commit takes the rest.
    @Test(arguments: Backend.allCases)
    func writersFasterThanTheCatchUpDoNotKeepTheBuildGoing(backend: Backend) throws {
        let engine = try loaded(backend)
        defer { engine.close() }
        let commits = Locked(0)
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            // Every commit of the build, every record touched again (until 200, as a guard).
            guard commits.withLock({ $0 += 1; return $0 }) < 200 else { return }
            _ = try engine.update(ns, [UpdateStatement(filter: [:], update: ["$inc": ["v": 1]], multi: true)])
        } }
        _ = try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]])
        #expect(commits.withLock { $0 } < 30)
        try expectValid(engine, "v_1", keys: Self.count)
    }

    /// dropIndexes or a dropped collection between chunks aborts the build (276), and a
    /// build that fails leaves no index and no store.
    @Test(arguments: Backend.allCases)
    func aDroppedIndexOrCollectionAbortsTheBuild(backend: Backend) throws {
        let engine = try loaded(backend)
        defer { engine.close() }
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in _ = try engine.dropIndexes(ns, "v_1") } }
        #expect { try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]]) } throws: { ($0 as? FolioError)?.code == .indexBuildAborted }
        #expect(engine.entry(ns)?.indexes.isEmpty == true)
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in _ = try engine.dropCollection(ns) } }
        #expect { try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]]) } throws: { ($0 as? FolioError)?.code == .indexBuildAborted }
        #expect(engine.entry(ns) == nil)
        let stores = try engine.storage.snapshot()
        defer { stores.close() }
        #expect(try !stores.storeNames().contains { $0.hasPrefix("i.") })
    }

    /// A document the index cannot take fails the build and removes its index and store;
    /// an interruption between chunks does too.
    @Test(arguments: Backend.allCases)
    func aFailedBuildLeavesNothing(backend: Backend) throws {
        let engine = try loaded(backend) { ["_id": .int32(Int32($0)), "a": $0 == 2_222 ? [1, 2] : .int32(1), "b": [1, 2]] }
        defer { engine.close() }
        #expect { try engine.createIndexes(ns, [["key": ["a": 1, "b": 1], "name": "ab"]]) } throws: { ($0 as? FolioError)?.code == .cannotIndexParallelArrays }
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in throw FolioError(.interrupted, "operation was interrupted") } }
        #expect { try engine.createIndexes(ns, [["key": ["b": 1], "name": "b_1"]]) } throws: { ($0 as? FolioError)?.code == .interrupted }
        #expect(engine.entry(ns)?.indexes.isEmpty == true)
        let stores = try engine.storage.snapshot()
        defer { stores.close() }
        #expect(try !stores.storeNames().contains { $0.hasPrefix("i.") })
    }

    /// currentOp's view of a build: before each commit of keys, which phase it is in and how
    /// far (keys of a sorted run, then touched records read again); nothing once it ended.
    @Test func aBuildReportsItsProgress() throws {
        let engine = try loaded(.memory)
        defer { engine.close() }
        let seen = Locked<[IndexBuildProgress]>([])
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            let n = seen.withLock { $0.count }
            if let p = engine.indexBuildProgress(ns) { seen.withLock { $0.append(p) } }
            _ = try engine.update(ns, [UpdateStatement(filter: ["_id": .int32(Int32(n * 3))], update: ["$set": ["v": -1]])])
        } }
        _ = try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]])
        let phases = seen.withLock { $0 }
        #expect(engine.indexBuildProgress(ns) == nil)
        // Two runs of 1,500 keys (less the records updated before they were read), 400 per
        // commit; then the touched records.
        let inserting = phases.filter { $0.phase == IndexBuildProgress.inserting }
        #expect(inserting.map(\.done) == [0, 400, 800, 1_200, 0, 400, 800, 1_200])
        #expect(inserting.allSatisfy { $0.total == 1_500 })
        let draining = phases.filter { $0.phase == IndexBuildProgress.draining }
        #expect(!draining.isEmpty && draining.allSatisfy { $0.done <= $0.total && $0.total > 0 })
        #expect(phases[1].message == "Index Build: inserting keys from external sorter into index Index Build: inserting keys from external sorter into index: 400/1500 26%")
        try expectValid(engine, "v_1")
    }

    /// A writer's document that the index being built cannot take is stored, as in MongoDB
    /// (the index is not the writer's yet): the build fails at its end if the document is
    /// still so, and succeeds if it changed meanwhile. A built index refuses the document.
    @Test(arguments: Backend.allCases)
    func aWrittenDocumentTheBuildCannotTakeFailsOnlyTheBuild(backend: Backend) throws {
        let engine = try loaded(backend) { ["_id": .int32(Int32($0)), "a": .int32(Int32($0)), "b": [1, 2]] }
        defer { engine.close() }
        let chunks = Locked(0), fix = Locked(true)
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            switch chunks.withLock({ $0 += 1; return $0 }) {
            case 1:
                #expect(try engine.insert(ns, [["_id": -1, "a": [1, 2], "b": [3, 4]]]).insertedCount == 1)
                #expect(try engine.update(ns, [UpdateStatement(filter: ["_id": 5], update: ["$set": ["a": [7, 8]]])]).modified == 1)
            case 2 where fix.withLock({ $0 }):
                _ = try engine.update(ns, [UpdateStatement(filter: ["_id": -1], update: ["$set": ["a": 1]]),
                                           UpdateStatement(filter: ["_id": 5], update: ["$set": ["a": 5]])])
            default: break
            }
        } }
        _ = try engine.createIndexes(ns, [["key": ["a": 1, "b": 1], "name": "ab"]])
        try expectValid(engine, "ab", keys: 2 * (Self.count + 1))
        #expect(try engine.insert(ns, [["_id": -2, "a": [1, 2], "b": [3, 4]]]).writeErrors.map(\.error.code) == [.cannotIndexParallelArrays])
        _ = try engine.dropIndexes(ns, "ab")

        chunks.withLock { $0 = 0 }
        fix.withLock { $0 = false }
        _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": -1], limitOne: true)])
        #expect { try engine.createIndexes(ns, [["key": ["a": 1, "b": 1], "name": "ab"]]) } throws: { ($0 as? FolioError)?.code == .cannotIndexParallelArrays }
        #expect(engine.entry(ns)?.indexes.isEmpty == true)
        #expect(try docs(engine.find(ns, FindRequest(filter: ["_id": ["$in": [-1, 5]]]))).count == 2)
        #expect(try engine.validate(ns).errors.isEmpty)
    }

    /// A transaction that begins during the build (its snapshot has the index as building)
    /// inserts and updates records, and commits before the next commit of the backfill: the
    /// index ends exact. (A transaction open when the build begins makes the
    /// build's first commit wait for it, as any catalog change does; a chunk that puts a key
    /// an open transaction wrote waits for it, as any write does.)
    @Test(arguments: Backend.allCases)
    func aTransactionCommittingDuringTheBuildKeepsTheIndexExact(backend: Backend) throws {
        let engine = try loaded(backend)
        defer { engine.close() }
        let open = Locked<EngineTransaction?>(nil)
        let chunks = Locked(0)
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            switch chunks.withLock({ $0 += 1; return $0 }) {
            case 1:
                let txn = try engine.beginTransaction()
                _ = try txn.engine.insert(ns, [["_id": 100.5, "v": 8_888]])
                _ = try txn.engine.update(ns, [UpdateStatement(filter: ["_id": 2_999], update: ["$set": ["v": 9_999]])])
                open.withLock { $0 = txn }
            case 2:
                try open.withLock { $0 }?.commit(durable: false)
            default: break
            }
        } }
        _ = try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]])
        try expectValid(engine, "v_1")
        var request = FindRequest(filter: ["v": ["$gte": 7_000]])
        request.hint = "v_1"
        #expect(try docs(engine.find(ns, request)).count == 2)
    }

    /// The state a crash (or a shutdown) leaves between a build's first commit and its last:
    /// the index in the catalog as building, with whatever its store had (here an entry no
    /// record has).
    func leaveBuilding(_ engine: Engine, _ spec: Document) throws -> String {
        try engine.committer.write(durable: true) { txn -> String in
            var entry = try engine.entryForWrite(ns, in: txn)
            let fresh = try engine.newIndexes([spec], &entry)
            for i in entry.indexes.indices where entry.indexes[i].store == fresh[0].store { entry.indexes[i].building = true }
            try txn.createStore(fresh[0].store)
            try txn.put(fresh[0].store, [1], [1])
            try engine.saveEntry(entry, txn)
            return fresh[0].store
        }
    }

    /// A crash during a build leaves its index building: the next open empties its store and
    /// builds it again on a thread of its own, and logs createIndexes once it is ready.
    @Test func aBuildCutShortByACrashIsBuiltAgainAtTheNextOpen() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            _ = try engine.insert(ns, (0..<50).map { ["_id": .int32(Int32($0)), "v": .int32(Int32($0))] })
            _ = try leaveBuilding(engine, ["key": ["v": 1], "name": "v_1"])
            #expect(try engine.indexSpecifications(ns).count == 1)
            engine.close()
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        engine.resumedBuilds?.wait()
        let outcomes = engine.takeResumedIndexBuilds()
        #expect(outcomes.map(\.indexNames) == [["v_1"]] && outcomes.allSatisfy { $0.error == nil })
        #expect(engine.entry(ns)?.indexes.map(\.building) == [false])
        try expectValid(engine, "v_1", keys: 50)
        #expect(try engine.indexSpecifications(ns).count == 2)
        let logged = try docs(engine.find(try Namespace(database: "local", collection: "oplog.rs"),
                                          FindRequest(filter: ["o.createIndexes": .string(ns.collection)])))
        #expect(logged.count == 1)
        // Asking for the same index again finds it.
        #expect(try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]]).note == "all indexes already exist")
    }

    /// Writers keep a restarted build's index from the open on: updates, deletes and inserts
    /// before each of its commits leave it exact.
    @Test func writesDuringARestartedBuildLeaveTheIndexExact() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            _ = try engine.insert(ns, (0..<Self.count).map { ["_id": .int32(Int32($0)), "v": .int32(Int32($0 % 700))] })
            _ = try leaveBuilding(engine, ["key": ["v": 1], "name": "v_1"])
            engine.close()
        }
        let engine = try Engine.open(directory: dir, resumeIndexBuilds: false)
        defer { engine.close() }
        engine.indexBuildCommitEntries.withLock { $0 = 400 }
        engine.indexBuildRunEntries.withLock { $0 = 1_100 }
        engine.indexBuildChunkRecords.withLock { $0 = 500 }
        // A write before the build begins, then writes before each of its commits.
        _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 7], update: ["$set": ["v": 9_007]])])
        let chunks = Locked(0)
        engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
            let n = Int32(chunks.withLock { $0 += 1; return $0 })
            _ = try engine.update(ns, [UpdateStatement(filter: ["_id": .int32(n * 97)], update: ["$set": ["v": .int32(8_000 + n)]]),
                                       UpdateStatement(filter: ["_id": .int32(2_999 - n)], update: ["$set": ["v": [1, .int32(n)]]])])
            _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": .int32(n * 131)], limitOne: true)])
            _ = try engine.insert(ns, [["_id": .int32(10_000 + n), "v": .int32(n)]])
        } }
        engine.resumedBuilds?.start(engine)
        engine.resumedBuilds?.wait()
        #expect(chunks.withLock { $0 } >= 8)
        #expect(engine.takeResumedIndexBuilds().map { $0.error == nil } == [true])
        try expectValid(engine, "v_1")
        #expect(engine.entry(ns)?.indexes.first?.isMultikey == true)
        var request = FindRequest(filter: ["v": ["$gte": 8_000]])
        request.hint = "v_1"
        #expect(try docs(engine.find(ns, request)).count == docs(engine.find(ns, FindRequest(filter: ["v": ["$gte": 8_000]]))).count)
    }

    /// A shutdown during a restarted build leaves its index building for the next open; a
    /// restarted unique build that finds a duplicate fails and leaves no index.
    @Test func aRestartedBuildStopsAtShutdownAndFailsOnADuplicate() throws {
        let dir = tempDir()
        var store = ""
        do {
            let engine = try Engine.open(directory: dir)
            _ = try engine.insert(ns, (0..<Self.count).map { ["_id": .int32(Int32($0)), "v": .int32(Int32($0 % 700)), "u": .int32(Int32($0))] })
            _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 5], update: ["$set": ["u": 6]])])
            _ = try leaveBuilding(engine, ["key": ["v": 1], "name": "v_1"])
            store = try leaveBuilding(engine, ["key": ["u": 1], "name": "u_1", "unique": true])
            engine.close()
        }
        do {
            let engine = try Engine.open(directory: dir, resumeIndexBuilds: false)
            engine.indexBuildCommitEntries.withLock { $0 = 400 }
            engine.indexBuildBeforeChunkCommit.withLock { $0 = { @Sendable in
                throw FolioError(.interruptedAtShutdown, "interrupted at shutdown")
            } }
            engine.resumedBuilds?.start(engine)
            engine.resumedBuilds?.wait()
            #expect(engine.takeResumedIndexBuilds().map { $0.error?.code } == [.interruptedAtShutdown])
            #expect(engine.entry(ns)?.indexes.map(\.building) == [true, true])
            engine.close()
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        engine.resumedBuilds?.wait()
        #expect(engine.takeResumedIndexBuilds().map { $0.error?.code } == [.duplicateKey])
        #expect(engine.entry(ns)?.indexes.map(\.building) == [])
        let stores = try engine.storage.snapshot()
        defer { stores.close() }
        #expect(try !stores.storeNames().contains(store))
        // The unique index fails with what it had built, the other index too: one build
        // started both (as one createIndexes of both would).
        _ = try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]])
        try expectValid(engine, "v_1", keys: Self.count)
    }
}
