import Testing
import FolioBSON
import FolioQuery
import FolioStorage
@testable import FolioEngine

/// The change log (ChangeLog.swift): what commits append, in which order, with which times,
/// and what they leave out (rolled-back statements, aborted transactions).
@Suite struct ChangeLogTests {
    static func entries(_ engine: Engine) throws -> [Document] {
        let snapshot = try engine.storage.snapshot()
        defer { snapshot.close() }
        return try snapshot.scan(ChangeLog.store, .all, reverse: false, limit: nil).flatMap { try ChangeLog.entries($0.value) }
    }

    /// The entries after the log's first (the no-op a new log starts with).
    static func writes(_ engine: Engine) throws -> [Document] {
        let all = try entries(engine)
        #expect(all.first?["op"] == "n")
        return Array(all.dropFirst())
    }

    @Test(arguments: Backend.allCases)
    func eachWriteIsOneEntryWithItsOwnIncreasingTime(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1, "a": 1], ["_id": 2]])
        _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$set": ["a": 2]])])
        _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 2], update: ["b": 1])])
        _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": 1], limitOne: true)])
        let log = try Self.writes(engine)
        #expect(log.map { $0["op"] } == ["c", "i", "i", "u", "u", "d"])
        #expect(log[0]["o"] == ["create": "users", "idIndex": ["v": .int32(2), "key": ["_id": .int32(1)], "name": "_id_"]])
        #expect(log[1]["o"] == ["_id": 1, "a": 1] && log[1]["o2"] == ["_id": 1] && log[1]["ns"] == "app.users")
        #expect(log[3]["o"] == ["$v": .int32(2), "diff": ["u": ["a": 2]]])
        #expect(log[4]["o"] == ["_id": 2, "b": 1])  // a replacement logs the new document
        #expect(log[5]["o"] == ["_id": 1])
        let times = log.compactMap { v -> Timestamp? in if case .timestamp(let t)? = v["ts"] { return t }; return nil }
        #expect(times.count == log.count && zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
        #expect(times.last == engine.clusterTime)
        #expect(log.allSatisfy { $0["t"] == .int64(1) && $0["v"] == .int64(2) && $0["wall"]?.type == .datetime })
    }

    @Test(arguments: Backend.allCases)
    func failedStatementsAndNoOpUpdatesLeaveNothing(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1]])
        let before = try Self.writes(engine).count
        // The duplicate is undone with its savepoint; the unordered batch goes on.
        let r = try engine.insert(ns, [["_id": 1], ["_id": 2]], options: WriteOptions(ordered: false))
        #expect(r.writeErrors.count == 1)
        _ = try engine.update(ns, [UpdateStatement(filter: ["_id": 2], update: ["$set": ["_id": 2]])])
        let log = try Self.writes(engine)
        #expect(log.count == before + 1 && log.last?["o"] == ["_id": 2])
    }

    @Test(arguments: Backend.allCases)
    func aTransactionIsOneApplyOpsEntryAtItsCommitAndAnAbortIsNone(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 0]])
        let aborted = try engine.beginTransaction()
        _ = try aborted.engine.insert(ns, [["_id": 99]])
        aborted.abort()
        let before = try Self.writes(engine).count
        let txn = try engine.beginTransaction()
        _ = try txn.engine.insert(ns, [["_id": 1]])
        _ = try txn.engine.update(ns, [UpdateStatement(filter: ["_id": 0], update: ["$set": ["x": 1]])])
        let lsid: Document = ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: Array(repeating: 7, count: 16)))]
        try txn.commit(durable: false, session: (key: Array(repeating: 7, count: 16), txnNumber: 3), lsid: lsid)
        let log = try Self.writes(engine)
        #expect(log.count == before + 1)
        let entry = try #require(log.last)
        #expect(entry["op"] == "c" && entry["ns"] == "admin.$cmd" && entry["lsid"] == .document(lsid) && entry["txnNumber"] == .int64(3))
        guard case .document(let o)? = entry["o"], case .array(let ops)? = o["applyOps"] else {
            Issue.record("no applyOps in \(entry)")
            return
        }
        #expect(ops.map { $0.documentValue?["op"] } == ["i", "u"])
        #expect(entry["ts"] == .timestamp(engine.clusterTime))
    }

    @Test(arguments: Backend.allCases)
    func aCommitsPlainWritesShareOneRowAndResumeInsideIt(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 0]])
        let snapshotRows = { () throws -> Int in
            let s = try engine.storage.snapshot()
            defer { s.close() }
            return try s.count(ChangeLog.store)
        }
        let rows = try snapshotRows()
        _ = try engine.insert(ns, (1...100).map { ["_id": .int32($0)] })
        #expect(try snapshotRows() == rows + 1)
        // A stream resumed from the 50th insert's time reads from inside that row.
        let entries = try Self.writes(engine).filter { $0["op"] == "i" }
        let fiftieth = try #require(ChangeLog.time(entries[50]))
        let cursor = try engine.watch(try ChangeStreamSpec(parsing: ["startAtOperationTime": .timestamp(fiftieth)], database: "app",
                                                           collection: "users"), pipeline: [])
        #expect(try cursor.next().map { $0.document()["documentKey"] } == (50...100).map { ["_id": .int32($0)] })
        #expect(throws: FolioError.self) { try ChangeLog.entries([9, 0, 0, 0, 0]) }
        #expect(throws: FolioError.self) { try ChangeLog.entries([5, 0, 0, 0, 0, 1]) }
    }

    /// A damaged row (truncated, bytes flipped, lengths that lie) is an error, never a crash.
    @Test func damagedRowsAreErrors() throws {
        let engine = try Engine.inMemory()
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<5).map { ["_id": .int32($0), "s": "text", "a": [1, ["b": 2]]] })
        let snapshot = try engine.storage.snapshot()
        let rows = try snapshot.scan(ChangeLog.store, .all, reverse: false, limit: nil).map(\.value)
        snapshot.close()
        let row = try #require(rows.max { $0.count < $1.count })
        #expect(try ChangeLog.entries(row).count == 6)  // the collection's create and five inserts
        var g = SystemRandomNumberGenerator()
        for i in 0..<2_000 {
            var damaged = row
            switch i % 3 {
            case 0: damaged = Array(row.prefix(Int.random(in: 0..<row.count, using: &g)))
            case 1: for _ in 0..<4 { damaged[Int.random(in: 0..<row.count, using: &g)] = UInt8.random(in: 0...255, using: &g) }
            default: damaged.replaceSubrange(0..<4, with: (0..<4).map { _ in UInt8.random(in: 0...255, using: &g) })
            }
            _ = try? ChangeLog.entries(damaged)
            _ = ChangeLog.firstWall(damaged)
        }
    }

    /// The in-memory tail keeps the newest rows within its count and byte bounds, and answers
    /// only readers it reaches back to (the others read the store).
    @Test func theTailIsBoundedAndAnswersOnlyFromItsFirstRow() throws {
        let tail = ChangeLogTail()
        func key(_ n: UInt32) -> [UInt8] { ChangeLog.key(Timestamp(seconds: 100, increment: n)) }
        #expect(tail.read(from: key(1), limit: 10) == nil)
        let big = [UInt8](repeating: 0, count: ChangeLogTail.capacityBytes / 4 + 1)
        for n in UInt32(1)...8 { tail.append([(key(n), big)], time: Timestamp(seconds: 100, increment: n)) }
        // Four rows of a quarter of the bound do not fit: the newest three stay.
        #expect(tail.read(from: key(5), limit: 10) == nil)
        let recent = try #require(tail.read(from: key(6), limit: 10))
        #expect(recent.entries.map(\.key) == [key(6), key(7), key(8)] && recent.time == Timestamp(seconds: 100, increment: 8))
        #expect(tail.read(from: key(7) + [0], limit: 10)?.entries.map(\.key) == [key(8)])
        for n in 9...(9 + UInt32(ChangeLogTail.capacity)) { tail.append([(key(n), [1])], time: Timestamp(seconds: 100, increment: n)) }
        #expect(tail.read(from: key(9), limit: 1) == nil)
        #expect(tail.read(from: key(10), limit: 1)?.entries.count == 1)
    }

    /// A row the tail drops is freed at once, not when its array is next compacted (rows can be
    /// megabytes; thousands of dropped ones were held).
    @Test func theTailFreesTheRowsItDrops() throws {
        let tail = ChangeLogTail()
        func key(_ n: UInt32) -> [UInt8] { ChangeLog.key(Timestamp(seconds: 100, increment: n)) }
        let big = [UInt8](repeating: 0, count: ChangeLogTail.capacityBytes / 2)
        tail.append([(key(1), big)], time: Timestamp(seconds: 100, increment: 1))
        weak var first: ChangeLogTail.Entry?
        first = try #require(tail.read(from: key(1), limit: 1)?.entries.first)
        #expect(first != nil)
        // Two more such rows exceed the byte bound: the first is dropped.
        for n in UInt32(2)...3 { tail.append([(key(n), big)], time: Timestamp(seconds: 100, increment: n)) }
        #expect(tail.read(from: key(1), limit: 1) == nil)
        #expect(first == nil)
        #expect(tail.read(from: key(2), limit: 5)?.entries.map(\.key) == [key(2), key(3)])
    }

    /// Trimming reads the oldest rows only as far as they cover the excess, removes no more
    /// than that, and keeps the newest row.
    @Test(arguments: Backend.allCases)
    func trimmingRemovesOnlyWhatCoversTheExcess(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        // Large rows (batches) beside small ones.
        for i in 0..<6 {
            let docs: [Document] = (0..<20).map { ["_id": .int32(Int32(i * 100 + $0)), "pad": .string(String(repeating: "x", count: 1_000))] }
            _ = try engine.insert(ns, docs)
            _ = try engine.insert(ns, [["_id": .int32(Int32(10_000 + i))]])
        }
        let rows = try { () throws -> [Int] in
            let snapshot = try engine.storage.snapshot()
            defer { snapshot.close() }
            return try snapshot.scan(ChangeLog.store, .all, reverse: false, limit: nil).map(\.value.count)
        }()
        let total = try engine.changeLogBytes()
        #expect(total == rows.reduce(0, +))
        // Rows: the log's first no-op, then a batch and a single insert six times. An excess
        // of one byte removes the first row only; one byte more than the next two, three.
        engine.changeLogRetention = ChangeLogRetention(maxBytes: total - 1, minRetentionHours: 0)
        #expect(try engine.trimChangeLog() == 1)
        engine.changeLogRetention = ChangeLogRetention(maxBytes: total - rows[0] - rows[1] - rows[2] - 1, minRetentionHours: 0)
        #expect(try engine.trimChangeLog() == 3)
        #expect(try engine.changeLogBytes() == rows.dropFirst(4).reduce(0, +))
        #expect(try Self.entries(engine).first?["o"]?.documentValue?["_id"] == .int32(10_001))
        // Past everything: all but the newest go.
        engine.changeLogRetention = ChangeLogRetention(maxBytes: 0, minRetentionHours: 0)
        #expect(try engine.trimChangeLog() == rows.count - 5)
        #expect(try Self.entries(engine).map { $0["o"]?.documentValue?["_id"] } == [.int32(10_005)])
    }

    @Test func theLogSurvivesARestartAndTimesGoOn() throws {
        let directory = tempDir()
        var engine = try Engine.open(directory: directory)
        _ = try engine.insert(ns, [["_id": 1]])
        let first = try Self.writes(engine)
        engine.close()
        engine = try Engine.open(directory: directory)
        defer { engine.close() }
        #expect(try Self.writes(engine) == first)
        _ = try engine.insert(ns, [["_id": 2]])
        let log = try Self.writes(engine)
        #expect(log.count == first.count + 1)
        guard case .timestamp(let a)? = first.last?["ts"], case .timestamp(let b)? = log.last?["ts"] else {
            Issue.record("entries without ts")
            return
        }
        #expect(b > a)
    }

    @Test(arguments: Backend.allCases)
    func catalogChangesAreCommands(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1]])
        _ = try engine.createIndexes(ns, [["key": ["a": 1], "name": "a_1"]])
        _ = try engine.dropIndexes(ns, "a_1")
        let other = try Namespace(database: "app", collection: "people")
        try engine.renameCollection(ns, to: other)
        try engine.dropDatabase("app")
        let commands = try Self.writes(engine).filter { $0["op"] == "c" }.compactMap { $0["o"]?.documentValue?.fieldNames.first }
        #expect(commands == ["create", "createIndexes", "dropIndexes", "renameCollection", "drop", "dropDatabase"])
    }

    @Test(arguments: Backend.allCases)
    func retentionRemovesTheOldestEntriesAndStreamsFromThemAreLost(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let early = engine.clusterTime
        // One commit each: a commit's writes are one stored row, and rows go whole.
        for i in 0..<50 { _ = try engine.insert(ns, [["_id": .int32(Int32(i)), "pad": .string(String(repeating: "x", count: 100))]]) }
        let total = try engine.changeLogBytes()
        #expect(total == (try Self.entries(engine)).reduce(0) { $0 + $1.bsonBytes().count })
        // Young entries stay while a minimum retention holds them.
        engine.changeLogRetention = ChangeLogRetention(maxBytes: 1_000, minRetentionHours: 1)
        #expect(try engine.trimChangeLog() == 0)
        engine.changeLogRetention = ChangeLogRetention(maxBytes: 1_000, minRetentionHours: 0)
        #expect(try engine.trimChangeLog() > 0)
        let kept = try Self.entries(engine)
        #expect(!kept.isEmpty && kept.count < 52 && kept.last?["o"]?.documentValue?["_id"] == .int32(49))
        #expect(try engine.changeLogBytes() <= 1_000)
        let error = #expect(throws: FolioError.self) {
            try engine.watch(try ChangeStreamSpec(parsing: ["startAtOperationTime": .timestamp(early)], database: "app", collection: "users"),
                             pipeline: [])
        }
        #expect(error?.code == .changeStreamHistoryLost)
        // The newest entry stays even when it alone is past the size.
        engine.changeLogRetention = ChangeLogRetention(maxBytes: 1, minRetentionHours: 0)
        try engine.trimChangeLog()
        #expect(try Self.entries(engine).count == 1)
    }
}
