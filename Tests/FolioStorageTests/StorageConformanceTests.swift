import Foundation
import Testing
@testable import FolioStorage
import FolioTestSupport

/// One conformance suite that every storage engine passes.
enum EngineKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memory, sqlite
    var testDescription: String { rawValue }

    func make(_ directory: String) throws -> any StorageEngine {
        switch self {
        case .memory: return MemoryStorageEngine()
        case .sqlite: return try SQLiteStorageEngine(directory: directory)
        }
    }
}

func temporaryDirectory(_ name: String = #function) -> String {
    TestSupport.scratchPath("folio-test")
}

func k(_ bytes: UInt8...) -> [UInt8] { bytes }

@Suite struct StorageConformanceTests {
    @Test(arguments: EngineKind.allCases)
    func putGetDeleteAndStores(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        let w = try engine.beginWrite()
        try w.createStore("a")
        #expect(throws: StorageError.storeExists("a")) { try w.createStore("a") }
        try w.put("a", k(1), k(10))
        try w.put("a", k(2), k(20))
        try w.put("a", k(1), k(11))
        #expect(try w.get("a", k(1)) == k(11))
        #expect(try w.delete("a", k(2)))
        #expect(try w.delete("a", k(2)) == false)
        #expect(throws: StorageError.noSuchStore("zz")) { try w.put("zz", k(1), k(1)) }
        try w.put("a", [], [])
        #expect(try w.get("a", []) == [])
        try w.commit(durable: true)
        let s = try engine.snapshot()
        #expect(try s.get("a", k(1)) == k(11))
        #expect(try s.get("a", k(2)) == nil)
        #expect(try s.count("a") == 2)
        #expect(try s.storeNames() == ["a"])
        s.close()
    }

    @Test(arguments: EngineKind.allCases)
    func scansRangesBothWaysWithLimits(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        let w = try engine.beginWrite()
        try w.createStore("s")
        for i: UInt8 in [5, 1, 3, 0xFF, 2, 4] { try w.put("s", [i], [i]) }
        try w.put("s", [3, 0], [30])
        try w.commit(durable: false)
        let s = try engine.snapshot()
        defer { s.close() }
        func keys(_ r: KeyRange, reverse: Bool = false, limit: Int? = nil) throws -> [[UInt8]] {
            try s.scan("s", r, reverse: reverse, limit: limit).map(\.key)
        }
        #expect(try keys(.all) == [[1], [2], [3], [3, 0], [4], [5], [0xFF]])
        #expect(try keys(.all, reverse: true, limit: 2) == [[0xFF], [5]])
        #expect(try keys(KeyRange(lower: [2], lowerInclusive: false, upper: [4], upperInclusive: true)) == [[3], [3, 0], [4]])
        #expect(try keys(KeyRange(lower: [2], upper: [4])) == [[2], [3], [3, 0]])
        #expect(try keys(.prefix([3])) == [[3], [3, 0]])
        #expect(try keys(.prefix([0xFF])) == [[0xFF]])
        #expect(try keys(KeyRange(lower: [3], upper: [3], upperInclusive: true), reverse: true) == [[3]])
    }

    @Test(arguments: EngineKind.allCases)
    func snapshotsAreIsolatedFromLaterCommits(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        var w = try engine.beginWrite()
        try w.createStore("s")
        try w.put("s", k(1), k(1))
        try w.commit(durable: false)
        let before = try engine.snapshot()
        w = try engine.beginWrite()
        try w.put("s", k(2), k(2))
        #expect(try w.get("s", k(2)) == k(2))
        try w.commit(durable: false)
        #expect(try before.get("s", k(2)) == nil)
        #expect(try before.count("s") == 1)
        before.close()
        let after = try engine.snapshot()
        #expect(try after.count("s") == 2)
        after.close()
    }

    @Test(arguments: EngineKind.allCases)
    func rollbackDiscardsEverything(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        var w = try engine.beginWrite()
        try w.createStore("s")
        try w.commit(durable: false)
        w = try engine.beginWrite()
        try w.put("s", k(1), k(1))
        try w.createStore("t")
        w.rollback()
        let s = try engine.snapshot()
        #expect(try s.count("s") == 0)
        #expect(try s.storeNames() == ["s"])
        s.close()
        // A transaction dropped without commit rolls back and frees the writer.
        do {
            let abandoned = try engine.beginWrite()
            try abandoned.put("s", k(9), k(9))
        }
        let w2 = try engine.beginWrite()
        #expect(try w2.get("s", k(9)) == nil)
        w2.rollback()
    }

    @Test(arguments: EngineKind.allCases)
    func dropAndRenameStores(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        let w = try engine.beginWrite()
        try w.createStore("a")
        try w.put("a", k(1), k(1))
        try w.renameStore("a", to: "b \"quoted\"")
        #expect(try w.get("b \"quoted\"", k(1)) == k(1))
        #expect(throws: StorageError.noSuchStore("a")) { try w.get("a", k(1)) }
        try w.dropStore("b \"quoted\"")
        #expect(try w.storeNames().isEmpty)
        try w.commit(durable: false)
    }

    /// Model-based: random operations against a dictionary reference, with a printed seed.
    @Test(arguments: EngineKind.allCases)
    func randomizedAgainstAReferenceModel(kind: EngineKind) throws {
        let seed = TestSupport.seed()
        print("storage model test (\(kind)) seed: \(seed) (replay with FOLIO_SEED=\(seed))")
        var rng = TestSupport.SeededGenerator(seed: seed)
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        var committed: [[UInt8]: [UInt8]] = [:]
        var w = try engine.beginWrite()
        try w.createStore("m")
        try w.commit(durable: false)
        for round in 0..<60 {
            w = try engine.beginWrite()
            var pending = committed
            for _ in 0..<Int.random(in: 1...40, using: &rng) {
                let key = (0..<Int.random(in: 0...3, using: &rng)).map { _ in UInt8.random(in: 0...4, using: &rng) * 60 }
                if Bool.random(using: &rng) {
                    let value = [UInt8(round), UInt8.random(in: 0...255, using: &rng)]
                    try w.put("m", key, value)
                    pending[key] = value
                } else {
                    let existed = try w.delete("m", key)
                    #expect(existed == (pending.removeValue(forKey: key) != nil), "seed \(seed)")
                }
            }
            let snapshot = try engine.snapshot()
            if Int.random(in: 0...3, using: &rng) == 0 {
                w.rollback()
            } else {
                try w.commit(durable: round % 10 == 0)
                committed = pending
            }
            // The snapshot taken before the commit still shows the previous state.
            let expectedBefore = committed == pending ? nil : committed
            _ = expectedBefore
            snapshot.close()
            let check = try engine.snapshot()
            let all = try check.scan("m", .all, reverse: false, limit: nil)
            let model = committed.sorted { compareKeys($0.key, $1.key) < 0 }
            #expect(all.map(\.key) == model.map(\.key), "seed \(seed) round \(round)")
            #expect(all.map(\.value) == model.map(\.value), "seed \(seed) round \(round)")
            // Chunked visits with borrowed bytes, resumed after the returned key, see everything.
            var visited: [[UInt8]] = []
            var after: [UInt8]? = nil
            while true {
                var n = 0
                let last = try check.visit("m", KeyRange(lower: after, lowerInclusive: after == nil), limit: 3) { key, value in
                    visited.append(Array(key))
                    n += 1
                    _ = value.count
                    return true
                }
                if let last { after = last }
                if n < 3 { break }
            }
            #expect(visited == model.map(\.key), "seed \(seed) round \(round) chunked visit")
            let lower = [UInt8.random(in: 0...255, using: &rng)]
            let reversed = try check.scan("m", KeyRange(lower: lower), reverse: true, limit: 3).map(\.key)
            #expect(reversed == Array(model.map(\.key).filter { compareKeys($0, lower) >= 0 }.reversed().prefix(3)), "seed \(seed)")
            check.close()
        }
    }

    @Test func sqliteSurvivesReopenAndLocksTheDirectory() throws {
        let dir = temporaryDirectory()
        do {
            let engine = try SQLiteStorageEngine(directory: dir)
            #expect(throws: StorageError.self) { try SQLiteStorageEngine(directory: dir) }
            let w = try engine.beginWrite()
            try w.createStore("p")
            try w.put("p", k(7), k(70))
            try w.commit(durable: true)
            engine.close()
        }
        let reopened = try SQLiteStorageEngine(directory: dir)
        defer { reopened.close() }
        let s = try reopened.snapshot()
        #expect(try s.get("p", k(7)) == k(70))
        s.close()
        #expect(reopened.sizeOnDiskBytes() > 0)
    }

    @Test func sqliteReadersDoNotWaitForTheWriter() throws {
        let engine = try SQLiteStorageEngine(directory: temporaryDirectory())
        defer { engine.close() }
        var w = try engine.beginWrite()
        try w.createStore("r")
        try w.put("r", k(1), k(1))
        try w.commit(durable: false)
        w = try engine.beginWrite()
        try w.put("r", k(2), k(2))
        // A write transaction is open: snapshots still open and read the committed state.
        let s = try engine.snapshot()
        #expect(try s.count("r") == 1)
        s.close()
        try w.commit(durable: false)
    }

    /// A closed snapshot's read transaction stays open for the next snapshot only while
    /// nothing is committed: every snapshot sees every commit made before it was taken.
    @Test func aPinnedSnapshotNeverHidesACommit() throws {
        let engine = try SQLiteStorageEngine(directory: temporaryDirectory())
        defer { engine.close() }
        var w = try engine.beginWrite()
        try w.createStore("p")
        try w.commit(durable: false)
        for i: UInt8 in 1...20 {
            let before = try engine.snapshot()
            let other = try engine.snapshot()
            #expect(try before.count("p") == Int(i) - 1)
            before.close()
            w = try engine.beginWrite()
            try w.put("p", k(i), k(i))
            // A snapshot taken while the write is open but not committed does not see it.
            let during = try engine.snapshot()
            #expect(try during.get("p", k(i)) == nil)
            during.close()
            try w.commit(durable: i % 2 == 0)
            let after = try engine.snapshot()
            #expect(try after.get("p", k(i)) == k(i) && after.count("p") == Int(i))
            // Closing in either order keeps at most one open; both stay correct.
            if i % 3 == 0 { after.close(); other.close() } else { other.close(); after.close() }
        }
        #expect(engine.pinned.endStale(all: true))
    }
}

/// The log starts over once it passes the reset size, even while writes keep coming: the
/// checkpoint finishes between two write transactions (invariant 5 of SQLiteStorageEngine).
@Suite struct SQLiteCheckpointTests {
    static func walSize(_ dir: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: dir + "/folio.db-wal"))?[.size] as? Int) ?? 0
    }

    static func writeMegabyte(_ engine: SQLiteStorageEngine, _ batch: UInt8) throws {
        let w = try engine.beginWrite()
        for i: UInt8 in 0..<64 { try w.put("c", k(batch, i), [UInt8](repeating: i, count: 16_000)) }
        try w.commit(durable: false)
    }

    @Test func theLogStartsOverWhileWritesContinue() throws {
        let dir = temporaryDirectory()
        let engine = try SQLiteStorageEngine(directory: dir, walResetBytes: 1 << 20)
        let setup = try engine.beginWrite()
        try setup.createStore("c")
        try setup.commit(durable: false)
        try Self.writeMegabyte(engine, 0)
        try Self.writeMegabyte(engine, 1)
        // A write is open while the checkpoint runs: its passive pass copies the two
        // committed megabytes, then it waits for the write to commit and copies that too.
        let open = try engine.beginWrite()
        for i: UInt8 in 0..<64 { try open.put("c", k(2, i), [UInt8](repeating: i, count: 16_000)) }
        let done = DispatchSemaphore(value: 0)
        Thread {
            engine.checkpointer?.runNow()
            done.signal()
        }.start()
        Thread.sleep(forTimeInterval: 0.2)
        try open.commit(durable: false)
        done.wait()
        let before = Self.walSize(dir)
        #expect(before > 3 << 20)
        // Everything is in the database file: the next writes reuse the log from its start
        // instead of growing it.
        try Self.writeMegabyte(engine, 3)
        try Self.writeMegabyte(engine, 4)
        #expect(Self.walSize(dir) == before)
        engine.close()
        let reopened = try SQLiteStorageEngine(directory: dir)
        defer { reopened.close() }
        let s = try reopened.snapshot()
        #expect(try s.count("c") == 5 * 64)
        #expect(try s.get("c", k(2, 63)) == [UInt8](repeating: 63, count: 16_000))
        s.close()
    }
}

@Suite struct SQLiteHostileFilesTests {
    @Test func aGarbageDatabaseFileIsAnErrorNotACrash() throws {
        let dir = temporaryDirectory()
        try Data(repeating: 0xAB, count: 8192).write(to: URL(fileURLWithPath: dir + "/folio.db"))
        do {
            let engine = try SQLiteStorageEngine(directory: dir)
            defer { engine.close() }
            _ = try engine.snapshot().storeNames()
            Issue.record("garbage database accepted")
        } catch {
            switch error {
            case .io, .corruption: break
            default: Issue.record("unexpected \(error)")
            }
        }
    }

    @Test func anUnwritableDirectoryIsAClearError() throws {
        #expect(throws: StorageError.self) { try SQLiteStorageEngine(directory: "/proc/folio-cannot-exist/x") }
    }
}

@Suite struct SavepointTests {
    struct Boom: Error {}

    @Test(arguments: EngineKind.allCases)
    func atomicallyUndoesOnlyTheFailedStatement(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        let w = try engine.beginWrite()
        try w.createStore("s")
        try w.atomically { try w.put("s", k(1), k(1)) }
        #expect(throws: Boom.self) {
            try w.atomically {
                try w.put("s", k(2), k(2))
                throw Boom()
            }
        }
        try w.atomically { try w.put("s", k(3), k(3)) }
        try w.commit(durable: false)
        let s = try engine.snapshot()
        #expect(try s.scan("s", .all, reverse: false, limit: nil).map(\.key) == [k(1), k(3)])
        s.close()
    }
    @Test(arguments: EngineKind.allCases)
    func aFailedStatementUndoesOverwritesDeletesInsertsAndStoresNestedOrNot(kind: EngineKind) throws {
        let engine = try kind.make(temporaryDirectory())
        defer { engine.close() }
        let w = try engine.beginWrite()
        try w.createStore("s")
        try w.put("s", k(1), k(10))
        try w.put("s", k(2), k(20))
        #expect(throws: Boom.self) {
            try w.atomically {
                try w.put("s", k(1), k(11))
                try w.delete("s", k(2))
                #expect(try w.insert("s", k(3), k(30)))
                try w.createStore("t")
                try w.put("t", k(1), k(1))
                // A nested statement that succeeds is still undone with its parent.
                try w.atomically { try w.put("s", k(4), k(40)) }
                do {
                    try w.atomically {
                        try w.put("s", k(5), k(50))
                        throw Boom()
                    }
                } catch is Boom {}
                #expect(try w.get("s", k(5)) == nil)
                #expect(try w.get("s", k(4)) == k(40))
                throw Boom()
            }
        }
        #expect(try w.scan("s", .all, reverse: false, limit: nil).map { [$0.key, $0.value] } == [[k(1), k(10)], [k(2), k(20)]])
        #expect(try w.storeNames().contains("t") == false)
        // After the failure the transaction goes on normally.
        try w.atomically { try w.put("s", k(6), k(60)) }
        try w.commit(durable: false)
        let s = try engine.snapshot()
        #expect(try s.scan("s", .all, reverse: false, limit: nil).map(\.key) == [k(1), k(2), k(6)])
        s.close()
    }
}
