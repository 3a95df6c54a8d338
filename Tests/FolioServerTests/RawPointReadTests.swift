import Foundation
import FolioBSON
import FolioEngine
import Testing
@testable import FolioServer

/// A find by `_id` read from the message's bytes and answered with the reply's bytes
/// (RawPointRead.swift, RunsWhereItArrives.swift): only the plainest form, the general path's
/// reply byte for byte, and the general path's bookkeeping.
@Suite struct RawPointReadTests {
    static let session: BSON = ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: 7, count: 16)))]

    /// An OP_MSG of one body section, with `flags`.
    static func message(_ body: Document, id: Int32 = 5, flags: UInt32 = 0) -> [UInt8] {
        var bytes = WireCodec.messageReply(requestID: id, responseTo: 0, body: body)
        withUnsafeBytes(of: flags.littleEndian) { for i in 0..<4 { bytes[16 + i] = $0[i] } }
        return bytes
    }

    static func body(_ fields: Document, db: String = "test") -> Document {
        var b = fields
        if b["$db"] == nil { b.append("$db", .string(db)) }
        return b
    }

    /// What the libmongoc and pymongo drivers send for find_one by `_id`.
    static let driverFinds: [Document] = [
        ["find": "c", "filter": ["_id": "u1"], "limit": .int64(1), "singleBatch": true, "lsid": session],
        ["find": "c", "filter": ["_id": "u1"], "limit": 1, "singleBatch": true, "lsid": session,
         "$clusterTime": ["clusterTime": .timestamp(Timestamp(seconds: 1, increment: 1)),
                          "signature": ["hash": .binary(Binary(data: [UInt8](repeating: 0, count: 20))), "keyId": .int64(0)]],
         "$readPreference": ["mode": "primaryPreferred"]],
        ["find": "c", "filter": ["_id": "u1"]],
        ["find": "c", "filter": ["_id": "u1"], "batchSize": 2],
        // A driver configured with the Stable API.
        ["find": "c", "filter": ["_id": "u1"], "limit": 1, "singleBatch": true, "apiVersion": "1", "apiStrict": true,
         "apiDeprecationErrors": false],
    ]

    @Test func readsTheFindsDriversSend() throws {
        for fields in Self.driverFinds {
            let bytes = Self.message(Self.body(fields))
            let read = try #require(RawPointRead(bytes), "\(fields)")
            #expect(read.requestID == 5 && read.database == "test" && read.collection == "c" && read.field == "_id" && read.value == "u1")
            #expect(read.lsid == fields["lsid"])
            let (header, message) = try WireCodec.parse(bytes)
            #expect(read.agrees(with: header, message))
        }
        for id: BSON in [.int32(3), .int64(3), .double(3.5), .objectID(ObjectID())] {
            #expect(RawPointRead(Self.message(Self.body(["find": "c", "filter": ["_id": id]])))?.value == id)
        }
        // Another field: only the first document (limit 1).
        let first = try #require(RawPointRead(Self.message(Self.body(["find": "c", "filter": ["sid": 5], "limit": .int64(1), "singleBatch": true]))))
        #expect(first.field == "sid" && first.value == 5 && first.singleBatch)
        #expect(RawPointRead(Self.message(Self.body(["find": "c", "filter": ["a.b": "x"], "limit": 1])))?.field == "a.b")
    }

    @Test func leavesEverythingElseToTheGeneralPath() throws {
        let refused: [Document] = [
            ["find": "c", "filter": ["_id": "u1"], "projection": ["a": 1]],
            // Arrays where documents belong (an array is a document on the wire, with another type byte).
            ["find": "c", "filter": .array(["u1"])],
            ["find": "c", "filter": ["_id": 1], "lsid": .array([Self.session.documentValue!["id"]!])],
            ["find": "c", "filter": ["_id": "u1"], "comment": "x"],
            ["find": "c", "filter": ["_id": "u1"], "maxTimeMS": 10],
            ["find": "c", "filter": ["_id": "u1"], "readConcern": ["level": "local"]],
            ["find": "c", "filter": ["_id": "u1"], "txnNumber": .int64(1), "autocommit": false, "lsid": Self.session],
            ["find": "c", "filter": ["_id": "u1"], "limit": -1],
            ["find": "c", "filter": ["_id": "u1"], "limit": 1.0],
            ["find": "c", "filter": ["_id": "u1"], "batchSize": 1],
            ["find": "c", "filter": ["_id": "u1"], "batchSize": 0],
            ["find": "c", "filter": ["_id": "u1"], "singleBatch": 1],
            ["find": "c", "filter": ["_id": "u1", "a": 1]],
            ["find": "c", "filter": ["a": 1]],
            ["find": "c", "filter": ["a": 1], "limit": 2],
            ["find": "c", "filter": ["a": 1], "limit": 0],
            ["find": "c", "filter": ["$where": "x"], "limit": 1],
            ["find": "c", "filter": ["": 1], "limit": 1],
            ["find": "c", "filter": ["_id": ["$gt": 1]]],
            ["find": "c", "filter": ["_id": [1]]],
            ["find": "c", "filter": ["_id": .null]],
            ["find": "c", "filter": ["_id": .double(.nan)]],
            ["find": "c", "filter": ["_id": .decimal128(Decimal128(Int64(1)))]],
            ["find": "c", "filter": [:]],
            ["find": "c"],
            ["find": 1, "filter": ["_id": 1]],
            // Code and symbols read as strings by RawValue, but the general path wants strings.
            ["find": .javascript("c"), "filter": ["_id": 1]],
            ["find": "c", "filter": ["_id": 1], "$db": .symbol("test")],
            ["filter": ["_id": 1], "find": "c"],
            ["count": "c", "query": ["_id": 1]],
            ["find": "c", "filter": ["_id": 1], "lsid": ["id": .binary(Binary(data: [UInt8](repeating: 1, count: 16)))]],
            ["find": "c", "filter": ["_id": 1], "lsid": ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: [1]))]],
            ["find": "c", "filter": ["_id": 1], "lsid": ["id": Self.session.documentValue!["id"]!, "uid": .binary(Binary(data: [1]))]],
            ["find": "c", "filter": ["_id": 1], "$readPreference": "primary"],
            // The Stable API: another version, a version of another type, options without a version.
            ["find": "c", "filter": ["_id": 1], "apiVersion": "2"],
            ["find": "c", "filter": ["_id": 1], "apiVersion": 1],
            ["find": "c", "filter": ["_id": 1], "apiStrict": true],
            ["find": "c", "filter": ["_id": 1], "apiVersion": "1", "apiStrict": 1],
        ]
        for fields in refused {
            #expect(RawPointRead(Self.message(Self.body(fields))) == nil, "\(fields)")
        }
        // No $db; a field twice.
        #expect(RawPointRead(Self.message(["find": "c", "filter": ["_id": 1]])) == nil)
        var twice: Document = ["find": "c", "filter": ["_id": 1]]
        twice.append("filter", ["_id": 2])
        twice.append("$db", "test")
        #expect(RawPointRead(Self.message(twice)) == nil)
        // Flags (checksum, moreToCome, exhaustAllowed), a second section, trailing bytes, another op code.
        let plain = Self.body(["find": "c", "filter": ["_id": 1]])
        #expect(RawPointRead(Self.message(plain)) != nil)
        for flags: UInt32 in [1, 2, 1 << 16] { #expect(RawPointRead(Self.message(plain, flags: flags)) == nil) }
        var sequence = Self.message(plain)
        sequence += [1, 9, 0, 0, 0, 0x61, 0, 5, 0, 0, 0, 0]
        withUnsafeBytes(of: Int32(sequence.count).littleEndian) { for i in 0..<4 { sequence[i] = $0[i] } }
        #expect(RawPointRead(sequence) == nil)
        let query = WireCodec.queryReply(requestID: 1, responseTo: 0, document: plain)
        #expect(RawPointRead(query) == nil)
    }

    /// Truncations and single-byte corruptions of a valid point read: refused, or read exactly
    /// as the general parser reads them; never a crash.
    @Test func malformedBytesAreRefusedOrReadAsTheWireParserReadsThem() throws {
        let good = Self.message(Self.body(Self.driverFinds[1]))
        #expect(RawPointRead(good) != nil)
        for n in 0..<good.count { #expect(RawPointRead(Array(good[0..<n])) == nil) }
        for i in 0..<good.count {
            for value: UInt8 in [0, 1, 0x7F, 0x80, 0xFF, good[i] &+ 1] where value != good[i] {
                var bad = good
                bad[i] = value
                guard let read = RawPointRead(bad) else { continue }
                let (header, message) = try WireCodec.parse(bad)
                #expect(read.agrees(with: header, message), "byte \(i) = \(value)")
            }
        }
    }

    /// The reply the general path sends for `fields` (through the same reply encoder the wire
    /// server uses), as request 5 and reply 9.
    static func generalReply(_ s: TestServer, _ fields: Document) -> [UInt8] {
        let answer = s.dispatcher.answer(Self.body(fields), connection: s.connection)
        return WireCodec.messageReply(requestID: 9, responseTo: 5, body: answer.reply, batch: answer.batch)
    }

    static func fastReply(_ s: TestServer, _ fields: Document, readsStorage: Bool = false,
                          reserve: () -> Bool = { true }) throws -> [UInt8]? {
        let read = try #require(RawPointRead(Self.message(Self.body(fields))), "\(fields)")
        return s.dispatcher.answer(read, replyID: 9, connection: s.connection, readsStorage: readsStorage, reserve: reserve)
    }

    static func seed(_ s: TestServer) {
        s.run(["insert": "c", "documents": [["_id": "u1", "name": "ada", "tags": ["x", "y"], "n": .int64(5)],
                                            ["_id": 3, "v": 1.5], ["_id": .objectID(ObjectID()), "v": "o"]]])
    }

    /// Runs `body` with a server seeded by `seed`, its data in a throwaway directory when
    /// `onDisk` (SQLite), else in memory; with `view`, `v` is a view of `c`.
    static func withSeededServer(onDisk: Bool = true, view: Bool = false, _ body: (TestServer) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "folio-rawpoint-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let s = try TestServer(directory: onDisk ? directory : nil)
        seed(s)
        if view { s.run(["create": "v", "viewOn": "c", "pipeline": []]) }
        try body(s)
    }

    @Test(arguments: [false, true])
    func answersByteForByteAsTheGeneralPath(sqlite: Bool) throws {
        try Self.withSeededServer(onDisk: sqlite) { s throws in
            var finds = Self.driverFinds
            finds += [["find": "c", "filter": ["_id": 3]], ["find": "c", "filter": ["_id": .int64(3)]],
                      ["find": "c", "filter": ["_id": 3.0]], ["find": "c", "filter": ["_id": "u1"], "limit": 5]]
            // By an indexed field: the first of several, one in another numeric type, one with a
            // dotted path, none at all (an empty batch).
            s.run(["createIndexes": "c", "indexes": [["key": ["sid": 1], "name": "sid_1"], ["key": ["a.b": 1], "name": "ab"]]])
            s.run(["insert": "c", "documents": [["_id": 10, "sid": 5, "a": ["b": "x"]], ["_id": 11, "sid": 5], ["_id": 12, "sid": .int64(6)],
                                                ["_id": 13, "sid": [7, 8]]]])
            for (value, _) in [(BSON.int32(5), 0), (.double(6), 0), (.int32(8), 0), (.int32(99), 0), (.string("5"), 0)] {
                finds.append(["find": "c", "filter": ["sid": value], "limit": .int64(1), "singleBatch": true, "lsid": Self.session])
                finds.append(["find": "c", "filter": ["sid": value], "limit": 1])
            }
            finds.append(["find": "c", "filter": ["a.b": "x"], "limit": 1, "batchSize": 5])
            for fields in finds {
                // The general path reads it first (on SQLite that caches it), then both answer.
                let general = Self.generalReply(s, fields)
                let fast = try #require(try Self.fastReply(s, fields), "\(fields)")
                #expect(fast == general, "\(fields)")
            }
            // Without a plain index leading with the field, a find by it is no point read.
            #expect(try Self.fastReply(s, ["find": "c", "filter": ["name": "ada"], "limit": 1]) == nil)
            s.run(["createIndexes": "c", "indexes": [["key": ["name": "hashed"], "name": "nh"], ["key": ["v": 1], "name": "vs", "sparse": true]]])
            #expect(try Self.fastReply(s, ["find": "c", "filter": ["name": "ada"], "limit": 1]) == nil)
            #expect(try Self.fastReply(s, ["find": "c", "filter": ["v": 1.5], "limit": 1]) == nil)
            #expect(try Self.fastReply(s, ["find": "v", "filter": ["sid": 5], "limit": 1]) == nil)
        }
    }

    @Test func answersOnlyFromMemoryAndOnlyWhatExists() throws {
        try Self.withSeededServer(view: true) { s throws in
            // Written but not yet read: not in the record cache, so not answered here.
            #expect(try Self.fastReply(s, ["find": "c", "filter": ["_id": "u1"]]) == nil)
            _ = Self.generalReply(s, ["find": "c", "filter": ["_id": "u1"]])
            #expect(try Self.fastReply(s, ["find": "c", "filter": ["_id": "u1"]]) != nil)
            // A missing document, collection or database, and a view.
            #expect(try Self.fastReply(s, ["find": "c", "filter": ["_id": "nope"]]) == nil)
            #expect(try Self.fastReply(s, ["find": "missing", "filter": ["_id": "u1"]]) == nil)
            #expect(try Self.fastReply(s, ["find": "v", "filter": ["_id": "u1"]]) == nil)
            // An update of a document memory holds replaces it there with the new version.
            s.run(["update": "c", "updates": [["q": ["_id": "u1"], "u": ["$set": ["name": "grace"]]]]])
            let updated = try #require(try Self.fastReply(s, ["find": "c", "filter": ["_id": "u1"]]))
            #expect(updated == Self.generalReply(s, ["find": "c", "filter": ["_id": "u1"]]))
            #expect(updated.count > 0 && String(decoding: updated, as: UTF8.self).contains("grace"))
            // A deleted document is gone from memory too.
            s.run(["delete": "c", "deletes": [["q": ["_id": "u1"], "limit": 1]]])
            #expect(try Self.fastReply(s, ["find": "c", "filter": ["_id": "u1"]]) == nil)
        }
    }

    /// On the connection's queue a document memory does not hold is read from storage, and a
    /// missing one answers with an empty batch, as the general path does.
    @Test func onTheQueueReadsFromStorage() throws {
        try Self.withSeededServer(view: true) { s throws in
            let find: Document = ["find": "c", "filter": ["_id": "u1"], "limit": 1, "singleBatch": true, "lsid": Self.session]
            #expect(try Self.fastReply(s, find) == nil)
            let fromStorage = try #require(try Self.fastReply(s, find, readsStorage: true))
            // That read brought it into memory.
            #expect(try Self.fastReply(s, find) == fromStorage)
            #expect(fromStorage == Self.generalReply(s, find))
            for missing: Document in [["find": "c", "filter": ["_id": "nope"]], ["find": "c", "filter": ["_id": 4.5], "batchSize": 3]] {
                let raw = try #require(try Self.fastReply(s, missing, readsStorage: true))
                #expect(raw == Self.generalReply(s, missing))
            }
            // No collection, or a view: the general path answers (an empty batch, the view's pipeline).
            #expect(try Self.fastReply(s, ["find": "missing", "filter": ["_id": 1]], readsStorage: true) == nil)
            #expect(try Self.fastReply(s, ["find": "v", "filter": ["_id": "u1"]], readsStorage: true) == nil)
            // The counters move as the general path moves them, for a document found and one missing.
            func examined() -> [Int64] {
                let q = s.dispatcher.context.engine.queryStatistics, m = s.dispatcher.context.metrics
                return [q.keysExamined.load(ordering: .relaxed), q.documentsExamined.load(ordering: .relaxed),
                        m.queries.load(ordering: .relaxed), m.documentsReturned.load(ordering: .relaxed)]
            }
            for fields: Document in [["find": "c", "filter": ["_id": 3]], ["find": "c", "filter": ["_id": 99]]] {
                s.dispatcher.context.engine.releaseIdleMemory()  // out of memory again
                let a = examined()
                _ = Self.generalReply(s, fields)
                let b = examined()
                s.dispatcher.context.engine.releaseIdleMemory()
                let c = examined()
                #expect(try Self.fastReply(s, fields, readsStorage: true) != nil)
                let d = examined()
                #expect(zip(b, a).map { $0 - $1 } == zip(d, c).map { $0 - $1 }, "\(fields)")
            }
        }
    }

    @Test func leavesItToTheGeneralPathWhenTheServerMustSeeEachCommand() throws {
        let find: Document = ["find": "c", "filter": ["_id": 3]]
        let tests = try TestServer(enableTestCommands: true)
        Self.seed(tests)
        #expect(try Self.fastReply(tests, find) != nil)
        tests.run(["configureFailPoint": "failCommand", "mode": "alwaysOn", "data": ["failCommands": ["find"], "errorCode": 2]], db: "admin")
        #expect(try Self.fastReply(tests, find) == nil)
        tests.run(["configureFailPoint": "failCommand", "mode": "off"], db: "admin")
        tests.run(["profile": 2])
        #expect(try Self.fastReply(tests, find) == nil)
        tests.run(["profile": 0, "slowms": 0])
        #expect(try Self.fastReply(tests, find) == nil)
        tests.run(["profile": 0, "slowms": 100])
        #expect(try Self.fastReply(tests, find) != nil)
        // The connection is no longer idle: nothing is answered, nothing recorded.
        let before = tests.dispatcher.context.metrics.queries.load(ordering: .relaxed)
        #expect(try Self.fastReply(tests, find, reserve: { false }) == nil)
        #expect(tests.dispatcher.context.metrics.queries.load(ordering: .relaxed) == before)
        tests.dispatcher.context.operations.beginShutdown()
        #expect(try Self.fastReply(tests, find) == nil)

        let secured = try TestServer(auth: true)
        #expect(try Self.fastReply(secured, find) == nil)
    }

    /// serverStatus's counters, the collection's latency statistics and the session's last use
    /// move as the general path moves them.
    @Test func recordsWhatTheGeneralPathRecords() throws {
        let s = try TestServer()
        Self.seed(s)
        let ns = try Namespace(database: "test", collection: "c")
        let find: Document = ["find": "c", "filter": ["_id": "u1"], "limit": 1, "singleBatch": true, "lsid": Self.session]
        func counters() -> [Int64] {
            let m = s.dispatcher.context.metrics, q = s.dispatcher.context.engine.queryStatistics
            let reads = s.dispatcher.context.engine.latencyStatistics.document(ns)["reads"]?.documentValue?["ops"]?.exactInt64 ?? -1
            return [m.perCommand["find"]!.total.load(ordering: .relaxed), m.perCommand["find"]!.failed.load(ordering: .relaxed),
                    m.queries.load(ordering: .relaxed), m.documentsReturned.load(ordering: .relaxed),
                    q.keysExamined.load(ordering: .relaxed), q.documentsExamined.load(ordering: .relaxed), reads,
                    Int64(s.dispatcher.context.sessions.sessions.withLock { $0.count })]
        }
        let start = counters()
        _ = Self.generalReply(s, find)
        let afterGeneral = counters()
        #expect(try Self.fastReply(s, find) != nil)
        let afterFast = counters()
        let general = zip(afterGeneral, start).map { $0 - $1 }, fast = zip(afterFast, afterGeneral).map { $0 - $1 }
        // The session is new to the general path, known to the fast one.
        #expect(general == [1, 0, 1, 1, 1, 1, 1, 1])
        #expect(fast == [1, 0, 1, 1, 1, 1, 1, 0])

        // By an indexed field, with the index's use in $indexStats.
        s.run(["createIndexes": "c", "indexes": [["key": ["sid": 1], "name": "sid_1"]]])
        s.run(["insert": "c", "documents": [["_id": 20, "sid": 1], ["_id": 21, "sid": 1]]])
        func uses() -> Int64 {
            let reply = s.run(["aggregate": "c", "pipeline": [["$indexStats": [:]], ["$match": ["name": "sid_1"]]], "cursor": [:]])
            return s.firstBatch(reply)?.first?.documentValue?["accesses"]?.documentValue?["ops"]?.exactInt64 ?? -1
        }
        let indexed: Document = ["find": "c", "filter": ["sid": 1], "limit": 1, "singleBatch": true, "lsid": Self.session]
        let (start2, uses0) = (counters(), uses())
        _ = Self.generalReply(s, indexed)
        let (afterGeneral2, uses1) = (counters(), uses())
        #expect(try Self.fastReply(s, indexed) != nil)
        let (afterFast2, uses2) = (counters(), uses())
        // ($indexStats's own aggregate is no find; the counters are read around it.)
        #expect(zip(afterGeneral2, start2).map { $0 - $1 } == zip(afterFast2, afterGeneral2).map { $0 - $1 })
        #expect(uses1 - uses0 == 1 && uses2 - uses1 == 1)
    }
}
