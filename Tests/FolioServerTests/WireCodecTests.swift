import Testing
import FolioBSON
import FolioEngine
@testable import FolioServer

func opMsg(_ body: Document, flags: UInt32 = 0, sequences: [(String, [Document])] = [], checksum: Bool = false) -> [UInt8] {
    var out: [UInt8] = [0, 0, 0, 0]
    withUnsafeBytes(of: Int32(7).littleEndian) { out.append(contentsOf: $0) }
    withUnsafeBytes(of: Int32(0).littleEndian) { out.append(contentsOf: $0) }
    withUnsafeBytes(of: Int32(2013).littleEndian) { out.append(contentsOf: $0) }
    withUnsafeBytes(of: (flags | (checksum ? 1 : 0)).littleEndian) { out.append(contentsOf: $0) }
    out.append(0)
    body.appendBSON(to: &out)
    for (id, docs) in sequences {
        out.append(1)
        var section: [UInt8] = Array(id.utf8) + [0]
        for d in docs { d.appendBSON(to: &section) }
        withUnsafeBytes(of: Int32(section.count + 4).littleEndian) { out.append(contentsOf: $0) }
        out += section
    }
    let total = out.count + (checksum ? 4 : 0)
    withUnsafeBytes(of: Int32(total).littleEndian) { for i in 0..<4 { out[i] = $0[i] } }
    if checksum { withUnsafeBytes(of: CRC32C.checksum(out).littleEndian) { out.append(contentsOf: $0) } }
    return out
}

@Suite struct WireCodecTests {
    @Test func documentSequencesMergeIntoTheBody() throws {
        let bytes = opMsg(["insert": "c", "$db": "d"], sequences: [("documents", [["_id": 1], ["_id": 2]])])
        guard case .message(let m) = try WireCodec.parse(bytes).1 else { Issue.record("not OP_MSG"); return }
        #expect(m.body["documents"] == [["_id": 1], ["_id": 2]])
    }

    /// Each document of a sequence is validated where it lies and must end inside its
    /// section (a length running into the next section is an error, not a read past it).
    @Test func documentSequencesAreReadInPlace() throws {
        let many = (0..<20_000).map { i -> Document in ["_id": .int32(Int32(i)), "pad": "xxxxxxxxxxxxxxxx"] }
        guard case .message(let m) = try WireCodec.parse(opMsg(["insert": "c", "$db": "d"], sequences: [("documents", many)])).1 else {
            Issue.record("not OP_MSG"); return
        }
        #expect(m.body["documents"]?.arrayValue?.count == 20_000)
        #expect(m.body["documents"]?.arrayValue?.last == .document(many.last!))
        // The first sequence's last document claims 6 more bytes: they belong to the next section.
        var bytes = opMsg(["insert": "c", "$db": "d"], sequences: [("documents", [["_id": 1]]), ("more", [["_id": 2]])])
        let start = bytes.count - (1 + 4 + 5 + 14) - 14  // the first sequence's only document
        #expect(bytes[start] == 14)
        bytes[start] = 20
        #expect(throws: WireError.self) { try WireCodec.parse(bytes) }
    }

    @Test func checksumsAreVerified() throws {
        var bytes = opMsg(["ping": 1, "$db": "admin"], checksum: true)
        #expect((try? WireCodec.parse(bytes)) != nil)
        bytes[bytes.count - 1] ^= 0xFF
        #expect(throws: WireError.checksumMismatch) { try WireCodec.parse(bytes) }
        // The known CRC-32C check value.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func hostileInputIsRejectedNotCrashed() {
        let good = opMsg(["ping": 1, "$db": "admin"])
        var wrongLength = good
        wrongLength[0] = 200
        var unknownFlag = good
        unknownFlag[16] = 0x04
        var badKind = good
        badKind[20] = 7
        var truncatedBody = good
        truncatedBody.removeLast(3)
        let patched = { (b: [UInt8]) -> [UInt8] in
            var c = b
            withUnsafeBytes(of: Int32(c.count).littleEndian) { for i in 0..<4 { c[i] = $0[i] } }
            return c
        }
        let cases: [[UInt8]] = [[], [1, 2, 3], Array(good.prefix(15)), wrongLength, unknownFlag, patched(badKind),
                                patched(truncatedBody), patched(good + [0, 1, 2]),
                                opMsg(["a": 1], sequences: [("a", [["x": 1]])]), [0xFF, 0xFF, 0xFF, 0x7F] + good.dropFirst(4)]
        for bytes in cases {
            #expect(throws: WireError.self) { try WireCodec.parse(bytes) }
        }
        var opcode = good
        opcode[12] = 0xD2
        opcode[13] = 0x07  // 2002, the removed OP_INSERT
        #expect(throws: WireError.unsupportedOpCode(2002)) { try WireCodec.parse(opcode) }
    }

    @Test func compressedMessagesRoundTripAndHostileOnesAreRejected() throws {
        let plain = opMsg(["find": "c", "filter": ["name": .string(String(repeating: "ab", count: 500))], "$db": "d"])
        for compressor in [WireCodec.Compressor.zlib, WireCodec.Compressor.noop] {
            let compressed = WireCodec.compress(plain, compressor: compressor)
            #expect(compressed[12] == 0xDC && compressed[13] == 0x07)  // 2012
            if compressor == WireCodec.Compressor.zlib { #expect(compressed.count < plain.count / 4) }
            let (h, m) = try WireCodec.parse(compressed)
            #expect(h.opCode == 2013 && h.requestID == 7 && h.compressorID == compressor)
            guard case .message(let msg) = m else { Issue.record("not OP_MSG"); return }
            #expect(msg.body["find"] == "c")
        }
        let good = WireCodec.compress(plain, compressor: WireCodec.Compressor.zlib)
        func patched(_ b: [UInt8]) -> [UInt8] {
            var c = b
            withUnsafeBytes(of: Int32(c.count).littleEndian) { for i in 0..<4 { c[i] = $0[i] } }
            return c
        }
        var lyingSize = good
        lyingSize[20] &+= 1
        var hugeSize = good
        hugeSize[23] = 0x7F
        var corrupt = good
        corrupt[30] ^= 0xFF
        var snappy = good
        snappy[24] = WireCodec.Compressor.snappy
        var nested = good
        nested[16] = 0xDC; nested[17] = 0x07
        let cases = [lyingSize, hugeSize, corrupt, snappy, nested, patched(Array(good.dropLast(5))), patched(Array(good.prefix(24)))]
        for bytes in cases {
            #expect(throws: WireError.self) { try WireCodec.parse(bytes) }
        }
    }

    @Test func repliesHaveOneBodySectionAndNoFlags() throws {
        let reply = WireCodec.messageReply(requestID: 3, responseTo: 7, body: ["ok": 1.0])
        let (h, m) = try WireCodec.parse(reply)
        #expect(h.responseTo == 7 && h.opCode == 2013)
        guard case .message(let msg) = m else { Issue.record("not OP_MSG"); return }
        #expect(msg.flags == 0 && msg.body == ["ok": 1.0])
    }
}

@Suite struct CommandDispatcherTests {
    static func dispatcher() throws -> CommandDispatcher {
        CommandDispatcher(context: ServerContext(engine: try Engine.inMemory(), configuration: ServerConfiguration()))
    }

    @Test func unknownCommandsAndMissingDatabase() throws {
        let d = try Self.dispatcher()
        let connection = ConnectionInfo(id: 1, remoteAddress: "test")
        let unknown = d.run(["frobnicate": 1, "$db": "x"], connection: connection)
        #expect(unknown["code"] == .int32(59) && unknown["codeName"] == "CommandNotFound" && unknown["ok"] == .double(0))
        #expect(unknown["errmsg"] == "no such command: 'frobnicate'")
        let noDB = d.run(["ping": 1], connection: connection)
        #expect(noDB["code"] == .int32(40571))
    }

    @Test func writeRepliesHaveMongoDBsShape() throws {
        let d = try Self.dispatcher()
        let connection = ConnectionInfo(id: 1, remoteAddress: "test")
        let insert = d.run(["insert": "c", "documents": [["_id": 1], ["_id": 1]], "ordered": false, "$db": "db"], connection: connection)
        #expect(insert["n"] == .int32(1) && insert["ok"] == .double(1))
        let error = insert["writeErrors"]?.arrayValue?.first?.documentValue
        #expect(error?["index"] == .int32(1) && error?["code"] == .int32(11000) && error?["keyValue"] == ["_id": 1])
        let update = d.run(["update": "c", "updates": [["q": ["_id": 5], "u": ["$set": ["a": 1]], "upsert": true]], "$db": "db"], connection: connection)
        #expect(update["n"] == .int32(1) && update["nModified"] == .int32(0))
        #expect(update["upserted"] == [["index": .int32(0), "_id": 5]])
        let find = d.run(["find": "c", "batchSize": 1, "$db": "db"], connection: connection)
        let cursor = find["cursor"]?.documentValue
        #expect(cursor?["id"]?.type == .int64 && cursor?["ns"] == "db.c" && cursor?["firstBatch"]?.arrayValue?.count == 1)
        let more = d.run(["getMore": cursor!["id"]!, "collection": "c", "$db": "db"], connection: connection)
        #expect(more["cursor"]?.documentValue?["id"] == .int64(0))
        #expect(more["cursor"]?.documentValue?["nextBatch"]?.arrayValue?.count == 1)
    }

    /// The wire path writes a cursor's batch from the stored bytes; the reply must be the same
    /// bytes as encoding the decoded reply (the cluster time aside, set equal here).
    @Test func rawBatchesEncodeLikeDecodedOnes() throws {
        let d = try Self.dispatcher()
        let connection = ConnectionInfo(id: 1, remoteAddress: "test")
        let documents: [BSON] = (0..<25).map { i in
            ["_id": .int32(Int32(i)), "name": .string("n\(i)"), "tags": ["a", .int64(Int64(i))], "sub": ["x": .double(Double(i))]]
        }
        _ = d.run(["insert": "c", "documents": .array(documents), "$db": "db"], connection: connection)
        let commands: [Document] = [
            ["find": "c", "batchSize": 10, "$db": "db"],
            ["find": "c", "filter": ["_id": 3], "projection": ["name": 1], "$db": "db"],
            ["find": "c", "filter": ["_id": 100], "$db": "db"],
            ["aggregate": "c", "pipeline": [["$sort": ["_id": -1]]], "cursor": ["batchSize": 4], "$db": "db"],
        ]
        for command in commands {
            let (rawReply, batch) = d.runForWire(command, connection: connection)
            let decoded = d.run(command, connection: connection)
            let batchKey = "firstBatch"
            #expect(rawReply["cursor"]?.documentValue?[batchKey] == .array([]))
            let expected = try #require(decoded["cursor"]?.documentValue?[batchKey]?.arrayValue)
            #expect(batch?.map { BSON.document($0.document()) } == expected)
            // Same reply bytes, once the two replies' cluster times agree.
            var sameTime = decoded
            sameTime["$clusterTime"] = rawReply["$clusterTime"]
            sameTime["operationTime"] = rawReply["operationTime"]
            var placeholder = sameTime
            if case .document(var cursor)? = placeholder["cursor"] { cursor[batchKey] = .array([]); placeholder["cursor"] = .document(cursor) }
            #expect(WireCodec.messageReply(requestID: 1, responseTo: 2, body: placeholder, batch: batch)
                    == WireCodec.messageReply(requestID: 1, responseTo: 2, body: sameTime))
        }
        // getMore's nextBatch.
        let (opened, _) = d.runForWire(["find": "c", "batchSize": 2, "$db": "db"], connection: connection)
        let id = try #require(opened["cursor"]?.documentValue?["id"])
        let (more, batch) = d.runForWire(["getMore": id, "collection": "c", "batchSize": 5, "$db": "db"], connection: connection)
        #expect(more["cursor"]?.documentValue?["nextBatch"] == .array([]) && batch?.count == 5)
        let bytes = WireCodec.messageReply(requestID: 1, responseTo: 2, body: more, batch: batch)
        guard case .message(let msg) = try WireCodec.parse(bytes).1 else { Issue.record("not OP_MSG"); return }
        #expect(msg.body["cursor"]?.documentValue?["nextBatch"] == .array(Array(documents[2..<7])))
        // A failed command carries no batch.
        let (failed, none) = d.runForWire(["getMore": id, "collection": "other", "$db": "db"], connection: connection)
        #expect(failed["ok"] == .double(0) && none == nil)
    }
}
