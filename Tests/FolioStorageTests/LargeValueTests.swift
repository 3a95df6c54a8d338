import CSQLite
import Foundation
import Testing
@testable import FolioStorage

/// Values too large for a B-tree cell live in the store's side table (SQLiteStorageEngine.swift,
/// "large values"); every engine must read and write them like any other value.
@Suite struct LargeValueTests {
    /// A value of `count` bytes, different for each `seed`.
    static func big(_ count: Int, _ seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed } }

    @Test(arguments: EngineKind.allCases, [0, 1 << 20])
    func largeValuesReadWriteAndReplaceLikeSmallOnes(kind: EngineKind, cacheBytes: Int) throws {
        let directory = temporaryDirectory()
        let engine: any StorageEngine = kind == .sqlite
            ? try SQLiteStorageEngine(directory: directory, recordCacheBytes: cacheBytes) : try kind.make(directory)
        defer { engine.close() }
        let a = Self.big(5000, 1), b = Self.big(70000, 2), c = Self.big(9000, 3)
        let w = try engine.beginWrite()
        try w.createStore("s")
        try w.put("s", k(1), a)
        try w.put("s", k(2), k(20))
        try w.put("s", k(3), b)
        #expect(try w.get("s", k(1)) == a)
        #expect(try w.get("s", k(3)) == b)
        // Large over large, small over large, large over small.
        try w.put("s", k(1), c)
        try w.put("s", k(3), k(30))
        try w.put("s", k(2), b)
        // An insert finds the key whatever its value's size, and leaves the value.
        #expect(try w.insert("s", k(2), a) == false)
        #expect(try w.insert("s", k(2), k(99)) == false)
        #expect(try w.insert("s", k(4), a))
        try w.commit(durable: false)

        let s = try engine.snapshot()
        #expect(try s.get("s", k(1)) == c)
        #expect(try s.get("s", k(2)) == b)
        #expect(try s.get("s", k(3)) == k(30))
        #expect(try s.get("s", k(4)) == a)
        #expect(try s.scan("s", .all, reverse: false, limit: nil).map(\.value) == [c, b, k(30), a])
        #expect(try s.scan("s", .all, reverse: true, limit: 2).map(\.key) == [k(4), k(3)])
        var visited: [[UInt8]] = []
        _ = try s.visit("s", .all, limit: nil) { _, v in visited.append(Array(v)); return true }
        #expect(visited == [c, b, k(30), a])
        #expect(try s.count("s") == 4)
        #expect(try s.valueBytes("s") == visited.reduce(0) { $0 + $1.count })
        s.close()

        let d = try engine.beginWrite()
        #expect(try d.delete("s", k(1)))
        #expect(try d.delete("s", k(1)) == false)
        try d.commit(durable: false)
        let after = try engine.snapshot()
        #expect(try after.get("s", k(1)) == nil)
        #expect(try after.count("s") == 3)
        #expect(try after.valueBytes("s") == b.count + k(30).count + a.count)
        after.close()
        if let sqlite = engine as? SQLiteStorageEngine { #expect(try Self.orphans(sqlite, "s") == 0) }
    }

    @Test(arguments: EngineKind.allCases)
    func aSnapshotKeepsTheLargeValueItSaw(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        let old = Self.big(20000, 4), new = Self.big(20000, 5)
        try RecordCacheTests.write(engine) { try $0.createStore("s"); try $0.put("s", k(1), old) }
        let before = try engine.snapshot()
        try RecordCacheTests.write(engine) { try $0.put("s", k(1), new) }
        // The side row is rewritten in place: the older snapshot still reads its own version.
        #expect(try before.scan("s", .all, reverse: false, limit: nil).map(\.value) == [old])
        before.close()
        let now = try engine.snapshot()
        #expect(try now.get("s", k(1)) == new)
        now.close()
    }

    @Test(arguments: EngineKind.allCases)
    func rollbacksUndoLargeValuesAndTheirSideTable(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        try RecordCacheTests.write(engine) { try $0.createStore("s") }
        // The first large value creates the side table; the rollback takes both away, and the
        // next large value must create it again.
        let r = try engine.beginWrite()
        try r.put("s", k(1), Self.big(6000, 6))
        r.rollback()
        struct Boom: Error {}
        try RecordCacheTests.write(engine) { w in
            #expect(throws: Boom.self) {
                try w.atomically { try w.put("s", k(2), Self.big(6000, 7)); throw Boom() }
            }
            try w.put("s", k(3), Self.big(6000, 8))
        }
        let s = try engine.snapshot()
        #expect(try s.get("s", k(1)) == nil)
        #expect(try s.get("s", k(2)) == nil)
        #expect(try s.get("s", k(3)) == Self.big(6000, 8))
        s.close()
        if let sqlite = engine as? SQLiteStorageEngine { #expect(try Self.orphans(sqlite, "s") == 0) }
    }

    /// Summed without reading the values on SQLite (ChangeLog's size after a start): small
    /// stores, stores with a side table and stores that are gone.
    @Test(arguments: EngineKind.allCases)
    func valueBytesSumsEveryValuesLength(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        try RecordCacheTests.write(engine) { w in
            try w.createStore("small")
            try w.createStore("empty")
            try w.createStore("large")
            for i in 0..<10 { try w.put("small", k(UInt8(i)), Self.big(i * 10, 1)) }
            try w.put("large", k(1), Self.big(50000, 2))
            try w.put("large", k(2), Self.big(7, 3))
            try w.put("large", k(3), Self.big(6000, 4))
        }
        let s = try engine.snapshot()
        defer { s.close() }
        #expect(try s.valueBytes("small") == 450)
        #expect(try s.valueBytes("empty") == 0)
        #expect(try s.valueBytes("large") == 56007)
        #expect(throws: StorageError.noSuchStore("missing")) { try s.valueBytes("missing") }
    }

    /// Dropping a store (or freeing a large value's overflow pages) writes no freed page to
    /// the WAL: Debian's SQLite zeroes and writes each one unless `secure_delete` is FAST.
    @Test func freedPagesAreNotWrittenAgain() throws {
        let engine = try SQLiteStorageEngine(directory: temporaryDirectory())
        defer { engine.close() }
        try RecordCacheTests.write(engine) { w in
            try w.createStore("big")
            for i in 0..<100 { try w.put("big", k(UInt8(i)), Self.big(30000, UInt8(i))) }
        }
        // Once everything is checkpointed (no reader holds the log), the next write starts the
        // log over: the frames in it afterwards are the drop's.
        let checkpointer = try #require(engine.checkpointer)
        checkpointer.runNow()
        try RecordCacheTests.write(engine) { w in try w.dropStore("big") }
        checkpointer.runNow()
        let written = checkpointer.logFrames.load(ordering: .relaxed)
        // 3 MB of values are ~190 pages; the drop itself rewrites the schema and freelist pages.
        #expect(written > 0 && written < 20, "the drop wrote \(written) frames")
    }

    @Test(arguments: EngineKind.allCases)
    func droppedAndRenamedStoresTakeTheirLargeValues(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        let v = Self.big(30000, 9)
        try RecordCacheTests.write(engine) { w in
            try w.createStore("a")
            try w.put("a", k(1), v)
            try w.renameStore("a", to: "b")
            try w.createStore("a")
            try w.put("a", k(1), k(1))
        }
        try RecordCacheTests.write(engine) { w in
            #expect(try w.get("b", k(1)) == v)
            #expect(try w.get("a", k(1)) == k(1))
            try w.dropStore("b")
            try w.createStore("b")
            try w.put("b", k(2), Self.big(30000, 10))
        }
        let s = try engine.snapshot()
        #expect(try s.scan("b", .all, reverse: false, limit: nil).map(\.value) == [Self.big(30000, 10)])
        #expect(try s.storeNames() == ["a", "b"])
        #expect(try s.storageBytes("b") > 30000)
        s.close()
        if let sqlite = engine as? SQLiteStorageEngine { #expect(try Self.orphans(sqlite, "b") == 0) }
    }

    @Test func putAllTakesLargeValuesAndSideStoresThroughTheSideTable() throws {
        let engine = try SQLiteStorageEngine(directory: temporaryDirectory())
        defer { engine.close() }
        let entries: [([UInt8], [UInt8])] = [(k(1), k(1)), (k(2), Self.big(8000, 11)), (k(3), k(3))]
        try RecordCacheTests.write(engine) { w in
            try w.createStore("s")
            // The first large value makes the side table; a small one for the same key in the
            // same call frees its side row.
            try Self.putAll(w, entries + [(k(2), k(22)), (k(2), Self.big(8000, 11))])
            // Now the store has a side table: a small value over a large one frees it.
            try Self.putAll(w, [(k(2), k(2))])
        }
        let s = try engine.snapshot()
        #expect(try s.scan("s", .all, reverse: false, limit: nil).map(\.value) == [k(1), k(2), k(3)])
        s.close()
        #expect(try Self.orphans(engine, "s") == 0)
        #expect(try Self.sideRows(engine, "s") == 0)
    }

    @Test func largeValuesSurviveARestartAndOldInlineRowsStillRead() throws {
        let directory = temporaryDirectory()
        let inline = Self.big(12000, 12)
        do {
            let engine = try SQLiteStorageEngine(directory: directory)
            try RecordCacheTests.write(engine) { w in
                try w.createStore("s")
                try w.put("s", k(1), Self.big(40000, 13))
            }
            // A row as the layout before side tables wrote it: a large value in the cell.
            try engine.writer.execute("INSERT INTO \(tableName("s")) (k, v) VALUES (x'02', x'\(Self.hex(inline))')")
            engine.close()
        }
        let engine = try SQLiteStorageEngine(directory: directory)
        defer { engine.close() }
        let s = try engine.snapshot()
        #expect(try s.get("s", k(1)) == Self.big(40000, 13))
        #expect(try s.get("s", k(2)) == inline)
        s.close()
        // Rewriting the old row moves its value to the side table.
        try RecordCacheTests.write(engine) { try $0.put("s", k(2), Self.big(12000, 14)) }
        #expect(try Self.sideRows(engine, "s") == 2)
        #expect(try engine.snapshot().get("s", k(2)) == Self.big(12000, 14))
    }

    @Test func valuesThatFitTheirCellStayInline() throws {
        let engine = try SQLiteStorageEngine(directory: temporaryDirectory())
        defer { engine.close() }
        #expect(engine.inlineBytes > 4000 && engine.inlineBytes < 4086)
        try RecordCacheTests.write(engine) { w in
            try w.createStore("s")
            try w.put("s", k(1), Self.big(engine.inlineBytes - 1, 15))
            try w.put("s", k(2), Self.big(engine.inlineBytes, 16))
        }
        #expect(try Self.sideRows(engine, "s") == 1)
        #expect(try engine.snapshot().get("s", k(2)) == Self.big(engine.inlineBytes, 16))
        // The largest inline row fits its cell: the store's B-tree has no overflow page.
        #expect(try engine.writer.integer("SELECT count(*) FROM dbstat WHERE name = 'st:s' AND pagetype = 'overflow'") == 0)
    }

    @Test func aRowNamingAMissingSideValueIsAnErrorNotACrash() throws {
        let engine = try SQLiteStorageEngine(directory: temporaryDirectory())
        defer { engine.close() }
        try RecordCacheTests.write(engine) { w in
            try w.createStore("s")
            try w.createStore("t")
            try w.put("s", k(1), Self.big(9000, 17))
        }
        // Damage as a torn copy of the file could leave it: ids naming nothing, in a store with
        // a side table and in one without.
        try engine.writer.execute("INSERT INTO \(tableName("s")) (k, v) VALUES (x'02', 99)")
        try engine.writer.execute("INSERT INTO \(tableName("t")) (k, v) VALUES (x'01', 7)")
        let s = try engine.snapshot()
        defer { s.close() }
        #expect(try s.get("s", k(1)) == Self.big(9000, 17))
        #expect(throws: StorageError.self) { try s.get("s", k(2)) }
        #expect(throws: StorageError.self) { try s.scan("s", .all, reverse: false, limit: nil) }
        #expect(throws: StorageError.self) { try s.visit("t", .all, limit: nil) { _, _ in true } }
    }

    static func putAll(_ w: any StorageWriteTransaction, _ entries: [([UInt8], [UInt8])]) throws {
        // Copies whose memory outlives the call, as putAll's callers' buffers do.
        let copies = entries.map { (key, value) -> (UnsafeMutableRawBufferPointer, UnsafeMutableRawBufferPointer) in
            let (kb, vb) = (UnsafeMutableRawBufferPointer.allocate(byteCount: key.count, alignment: 1),
                            UnsafeMutableRawBufferPointer.allocate(byteCount: value.count, alignment: 1))
            kb.copyBytes(from: key)
            vb.copyBytes(from: value)
            return (kb, vb)
        }
        defer { for (kb, vb) in copies { kb.deallocate(); vb.deallocate() } }
        try w.putAll("s", count: copies.count) { i in (UnsafeRawBufferPointer(copies[i].0), UnsafeRawBufferPointer(copies[i].1)) }
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Rows of a store's side table.
    static func sideRows(_ engine: SQLiteStorageEngine, _ store: String) throws -> Int {
        try engine.writer.integer("SELECT count(*) FROM \(sideTableName(store))")
    }

    /// Side rows no store row names, plus store rows naming no side row.
    static func orphans(_ engine: SQLiteStorageEngine, _ store: String) throws -> Int {
        let (st, sv) = (tableName(store), sideTableName(store))
        guard try engine.writer.integer("SELECT count(*) FROM sqlite_master WHERE name = 'sv:\(store)'") == 1 else { return 0 }
        return try engine.writer.integer("SELECT count(*) FROM \(sv) WHERE id NOT IN (SELECT v FROM \(st) WHERE typeof(v) = 'integer')")
            + engine.writer.integer("SELECT count(*) FROM \(st) WHERE typeof(v) = 'integer' AND v NOT IN (SELECT id FROM \(sv))")
    }
}
