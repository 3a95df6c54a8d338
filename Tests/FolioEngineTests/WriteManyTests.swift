import Foundation
import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine

/// Multi-document updates and deletes outside transactions commit in chunks
/// (Engine+WriteMany.swift): every matching document once, the same results as one
/// transaction, and MongoDB's outcome when a document fails part way.
@Suite struct WriteManyTests {
    /// More documents than two chunks hold, so every statement below spans three commits.
    static let count = Engine.writeManyChunkDocuments * 2 + 500

    func loaded(_ backend: Backend) throws -> Engine {
        let engine = try makeEngine(backend)
        _ = try engine.insert(ns, (0..<Self.count).map { ["_id": .int32(Int32($0)), "v": .int32(Int32($0)), "odd": .bool($0 % 2 == 1)] })
        return engine
    }

    func values(_ engine: Engine) throws -> [Int32: Document] {
        var out: [Int32: Document] = [:]
        for d in try docs(engine.find(ns, FindRequest())) {
            if case .int32(let id)? = d["_id"] { out[id] = d }
        }
        return out
    }

    /// An update that moves each document forward in the index its plan scans changes each
    /// document once (the plan reads the snapshot the statement began with).
    @Test(arguments: Backend.allCases)
    func eachMatchingDocumentIsUpdatedOnce(backend: Backend) throws {
        let engine = try loaded(backend)
        defer { engine.close() }
        _ = try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]])
        let r = try engine.update(ns, [UpdateStatement(filter: ["v": ["$gte": 0]], update: ["$inc": ["v": .int32(Int32(Self.count))]], multi: true,
                                                       hint: "v_1")])
        #expect(r.matched == Self.count && r.modified == Self.count && r.writeErrors.isEmpty)
        let after = try values(engine)
        #expect(after.count == Self.count)
        #expect(after.allSatisfy { $0.value["v"] == .int32($0.key + Int32(Self.count)) })
        // The change log has one update per document.
        let logged = try docs(engine.find(try Namespace(database: "local", collection: "oplog.rs"), FindRequest(filter: ["op": "u"])))
        #expect(logged.count == Self.count)
    }

    @Test(arguments: Backend.allCases)
    func deleteManyRemovesEveryMatchAndKeepsTheCount(backend: Backend) throws {
        let engine = try loaded(backend)
        defer { engine.close() }
        let r = try engine.delete(ns, [DeleteStatement(filter: ["odd": true], limitOne: false),
                                       DeleteStatement(filter: ["_id": 0], limitOne: true)])
        #expect(r.deleted == Self.count / 2 + 1 && r.writeErrors.isEmpty)
        #expect(try engine.estimatedCount(ns) == Self.count / 2 - 1)
        #expect(try values(engine).keys.allSatisfy { $0 % 2 == 0 && $0 != 0 })
    }

    /// A document that fails validation part way through the second chunk: the documents
    /// before it stay updated (MongoDB writes document by document), those after it are not,
    /// the reply counts none of the failing statement's documents, and the statements around
    /// it run (unordered).
    @Test(arguments: Backend.allCases)
    func aFailingDocumentLeavesTheOnesBeforeIt(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let failing = Int32(Engine.writeManyChunkDocuments + 500)
        try engine.createCollection(ns, options: ["validator": ["$or": [["_id": ["$ne": .int32(failing)]], ["done": ["$exists": false]]]]])
        _ = try engine.insert(ns, (0..<Self.count).map { ["_id": .int32(Int32($0))] })
        let r = try engine.update(ns, [UpdateStatement(filter: ["_id": 0], update: ["$set": ["first": true]]),
                                       UpdateStatement(filter: Document(), update: ["$set": ["done": true]], multi: true),
                                       UpdateStatement(filter: ["_id": 1], update: ["$set": ["last": true]])],
                                  options: WriteOptions(ordered: false))
        #expect(r.writeErrors.map(\.index) == [1] && r.writeErrors.first?.error.code == .documentValidationFailure)
        #expect(r.matched == 2 && r.modified == 2)
        let after = try values(engine)
        #expect(after.filter { $0.value["done"] == true }.keys.sorted() == Array(0..<failing))
        #expect(after[0]?["first"] == true && after[1]?["last"] == true)
        // Ordered: the statement after the failing one does not run.
        let ordered = try engine.update(ns, [UpdateStatement(filter: ["done": ["$exists": false]], update: ["$set": ["done": true]], multi: true),
                                             UpdateStatement(filter: ["_id": 2], update: ["$set": ["after": true]])])
        #expect(ordered.writeErrors.map(\.index) == [0] && ordered.matched == 0)
        #expect(try values(engine)[2]?["after"] == nil)
    }

    /// A multi-document upsert that matches nothing inserts one document.
    @Test(arguments: Backend.allCases)
    func anUpsertThatMatchesNothingInserts(backend: Backend) throws {
        let engine = try loaded(backend)
        defer { engine.close() }
        let r = try engine.update(ns, [UpdateStatement(filter: ["v": -1], update: ["$set": ["new": true]], upsert: true, multi: true)])
        #expect(r.matched == 0 && r.modified == 0 && r.upserted.map(\.index) == [0])
        #expect(try engine.estimatedCount(ns) == Self.count + 1)
    }

    /// `$text` and `$near` need their index to match, so such statements run in one commit.
    @Test func textAndNearFiltersStillMatch() throws {
        let engine = try Engine.open(directory: tempDir())
        defer { engine.close() }
        var documents: [Document] = []
        for i in 0..<Self.count {
            let point: Document = ["type": "Point", "coordinates": [.double(Double(i % 90)), .double(0)]]
            let text: BSON = .string(i % 3 == 0 ? "red apple" : "green pear")
            documents.append(["_id": .int32(Int32(i)), "t": text, "p": .document(point)])
        }
        _ = try engine.insert(ns, documents)
        _ = try engine.createIndexes(ns, [["key": ["t": "text"], "name": "t_text"], ["key": ["p": "2dsphere"], "name": "p_2dsphere"]])
        let updated = try engine.update(ns, [UpdateStatement(filter: ["$text": ["$search": "apple"]], update: ["$set": ["apple": true]], multi: true)])
        #expect(updated.matched == (Self.count + 2) / 3 && updated.writeErrors.isEmpty)
        let near: Document = ["p": ["$near": ["$geometry": ["type": "Point", "coordinates": [0, 0]], "$maxDistance": 1]]]
        let deleted = try engine.delete(ns, [DeleteStatement(filter: near, limitOne: false)])
        #expect(deleted.deleted == (Self.count + 89) / 90 && deleted.writeErrors.isEmpty, "\(deleted.writeErrors.map(\.error))")
    }

    /// killOp (or maxTimeMS) stops the statement between chunks.
    @Test func anInterruptedStatementStopsBetweenChunks() throws {
        let engine = try loaded(.sqlite)
        defer { engine.close() }
        let interrupt = OperationInterrupt()
        interrupt.kill()
        let r = OperationInterrupt.$current.withValue(interrupt) {
            Result { () throws(FolioError) in try engine.update(ns, [UpdateStatement(filter: Document(), update: ["$set": ["x": 1]], multi: true)]) }
        }
        // The whole command fails, as in MongoDB (not one statement's write error).
        guard case .failure(let error) = r else { Issue.record("the update ran: \(r)"); return }
        #expect(error.code == .interrupted)
        #expect(try values(engine).values.allSatisfy { $0["x"] == nil })
    }
}

extension WriteManyTests {
    /// delete_many writes in record-key order: the keys sort as storage compares them (bytes
    /// unsigned, a prefix first), each keeping its size.
    @Test func recordKeysSortAsStorageOrdersThem() {
        var random = SystemRandomNumberGenerator()
        var keys: [[UInt8]] = [[], [0], [0, 0], [0xFF], [0xFF, 0], [1, 2, 3], [1, 2], [0x80]]
        for _ in 0..<500 { keys.append((0..<Int.random(in: 0...6, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }) }
        var records = RecordKeys()
        for (i, k) in keys.enumerated() { records.append(key: k, size: i) }
        let sorted = records.sortedByKey()
        let expected = keys.indices.sorted { keys[$0].lexicographicallyPrecedes(keys[$1]) }
        #expect(sorted.count == keys.count)
        #expect((0..<sorted.count).map { sorted.key($0) } == expected.map { keys[$0] })
        #expect((0..<sorted.count).allSatisfy { keys[sorted.size($0)] == sorted.key($0) })
    }

    /// A delete through an index on another field removes exactly the matching documents.
    @Test(arguments: Backend.allCases)
    func aDeleteThroughAnotherIndexRemovesExactlyTheMatches(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        // `v` runs against `_id`: the index's order is the reverse of the records'.
        _ = try engine.insert(ns, (0..<Self.count).map { ["_id": .int32(Int32($0)), "v": .int32(Int32(Self.count - $0))] })
        _ = try engine.createIndexes(ns, [["key": ["v": 1], "name": "v_1"]])
        let r = try engine.delete(ns, [DeleteStatement(filter: ["v": ["$lte": .int32(Int32(Self.count / 2))]], limitOne: false, hint: "v_1")])
        #expect(r.deleted == Self.count / 2)
        let left = try values(engine)
        #expect(left.count == Self.count - Self.count / 2)
        #expect(left.values.allSatisfy { ($0["v"]?.exactInt64 ?? 0) > Int64(Self.count / 2) })
        let report = try engine.validate(ns)
        #expect(report.errors.isEmpty && report.keysPerIndex.first { $0.name == "v_1" }?.keys == left.count)
    }
}
