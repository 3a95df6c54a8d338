import Foundation
import Testing
@testable import FolioStorage

/// A transaction's view of storage (TransactionOverlay.swift): its reads merge the snapshot
/// with its buffered writes in key order, savepoints undo exactly what came after them, and
/// nothing reaches storage.
@Suite struct TransactionOverlayTests {
    func overlay(_ engine: any StorageEngine, tracker: ConflictTracker = ConflictTracker()) throws -> TransactionOverlay {
        let (id, sequence, snapshot) = try tracker.begin { _ in try engine.snapshot() }
        return TransactionOverlay(base: snapshot, tracker: tracker, id: id, sequence: sequence, catalogStore: "catalog", owner: { _ in nil })
    }

    func seeded(_ kind: EngineKind) throws -> any StorageEngine {
        let engine = try kind.make(temporaryDirectory())
        let w = try engine.beginWrite()
        try w.createStore("s")
        for i: UInt8 in stride(from: 0, to: 20, by: 2) { try w.put("s", [i], [i]) }
        try w.commit(durable: false)
        return engine
    }

    /// A memory engine with the empty store "s".
    func emptyStore() throws -> MemoryStorageEngine {
        let engine = MemoryStorageEngine()
        let w = try engine.beginWrite()
        try w.createStore("s")
        try w.commit(durable: false)
        return engine
    }

    @Test(arguments: EngineKind.allCases)
    func readsMergeBufferedWritesInOrder(kind: EngineKind) throws {
        let engine = try seeded(kind)
        defer { engine.close() }
        let o = try overlay(engine)
        try o.put("s", [3], [33])          // new between snapshot keys
        try o.put("s", [4], [44])          // replaces a snapshot key
        #expect(try o.delete("s", [6]))    // hides a snapshot key
        #expect(try o.delete("s", [7]) == false)
        #expect(try o.insert("s", [8], [0]) == false)
        #expect(try o.insert("s", [25], [25]))
        let expected: [(UInt8, UInt8)] = [(0, 0), (2, 2), (3, 33), (4, 44), (8, 8), (10, 10), (12, 12), (14, 14), (16, 16), (18, 18), (25, 25)]
        #expect(try o.scan("s", .all, reverse: false, limit: nil).map { ($0.key[0], $0.value[0]) }.elementsEqual(expected, by: ==))
        #expect(try o.scan("s", .all, reverse: true, limit: 4).map { $0.key[0] } == [25, 18, 16, 14])
        #expect(try o.scan("s", KeyRange(lower: [3], lowerInclusive: false, upper: [10]), reverse: false, limit: 3).map { $0.key[0] } == [4, 8])
        var visited: [UInt8] = []
        let last = try o.visit("s", KeyRange(lower: [2], upper: [30]), limit: 5) { k, _ in visited.append(k[0]); return true }
        #expect(visited == [2, 3, 4, 8, 10] && last == [10])
        visited = []
        try o.visit("s", .all, limit: nil) { k, _ in visited.append(k[0]); return k[0] < 4 }
        #expect(visited == [0, 2, 3, 4])
        #expect(try o.get("s", [6]) == nil && o.get("s", [3]) == [33] && o.get("s", [2]) == [2])
        #expect(try o.count("s") == 11)
        // Storage itself is untouched.
        let s = try engine.snapshot()
        #expect(try s.count("s") == 10 && s.get("s", [3]) == nil)
        s.close()
    }

    @Test(arguments: EngineKind.allCases)
    func savepointsUndoWhatCameAfter(kind: EngineKind) throws {
        let engine = try seeded(kind)
        defer { engine.close() }
        let o = try overlay(engine)
        try o.put("s", [1], [1])
        let mark = o.savepoint
        try o.put("s", [1], [9])
        try o.put("s", [5], [5])
        try o.delete("s", [0])
        try o.createStore("t")
        try o.put("t", [1], [1])
        o.rollback(to: mark)
        #expect(try o.get("s", [1]) == [1] && o.get("s", [5]) == nil && o.get("s", [0]) == [0])
        #expect(try !o.storeNames().contains("t"))
        let (created, entries) = o.writes()
        #expect(created.isEmpty && entries.map(\.key) == [[1]])
    }

    @Test func aTransactionHoldsBoundedBytes() throws {
        let engine = try emptyStore()
        let tracker = ConflictTracker()
        let (id, sequence, snapshot) = try tracker.begin { _ in try engine.snapshot() }
        let o = TransactionOverlay(base: snapshot, tracker: tracker, id: id, sequence: sequence, catalogStore: "catalog",
                                   limitBytes: 1000, owner: { _ in nil })
        for i: UInt8 in 0..<9 { try o.put("s", [i], [UInt8](repeating: i, count: 100)) }
        #expect(throws: StorageError.transactionTooLarge("Transaction exceeds 1000 bytes of buffered writes; commit in smaller transactions")) {
            try o.put("s", [9], [UInt8](repeating: 9, count: 100))
        }
        #expect(try o.get("s", [9]) == nil && o.count("s") == 9)
        tracker.end(id, committedAt: nil, keys: o.keys)
    }

    @Test func conflictsFollowTheTrackerRules() throws {
        let engine = try emptyStore()
        let tracker = ConflictTracker()
        let a = try overlay(engine, tracker: tracker), b = try overlay(engine, tracker: tracker)
        try a.put("s", [1], [1])
        // First writer wins; the loser's own other keys are fine.
        #expect(throws: StorageError.writeConflict("another transaction is writing this document")) { try b.put("s", [1], [2]) }
        try b.put("s", [2], [2])
        // A write outside transactions waits for a held key, and is noted for open ones.
        #expect(throws: StorageError.keyHeld) { try tracker.write(.init("s", [1]), sequence: tracker.nextSequence) }
        try tracker.publish(unnoted: false) { try tracker.write(.init("s", [3]), sequence: tracker.nextSequence) }
        #expect(throws: StorageError.self) { try a.put("s", [3], [3]) }
        // Ending releases: the key can be written again, outside and by a new transaction.
        tracker.end(a.id, committedAt: nil, keys: a.keys)
        try tracker.publish(unnoted: false) { try tracker.write(.init("s", [1]), sequence: tracker.nextSequence) }
        let c = try overlay(engine, tracker: tracker)
        try c.put("s", [1], [1])
        // A commit that wrote without noting dooms the snapshots older than it.
        tracker.end(b.id, committedAt: nil, keys: b.keys)
        tracker.end(c.id, committedAt: nil, keys: c.keys)
        let d = try overlay(engine, tracker: tracker)
        try tracker.publish(unnoted: true) {}
        #expect(throws: StorageError.self) { try tracker.validate(d.id, sequence: d.sequence) }
        tracker.end(d.id, committedAt: nil, keys: d.keys)
        #expect(!tracker.isActive)
    }
}
