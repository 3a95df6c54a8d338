import Testing
import FolioBSON
import FolioEngine
@testable import FolioServer

/// The write commands (Commands/Write.swift).
@Suite struct WriteTests {
    /// An insert's document sequence is stored as the bytes that arrived when those are what
    /// encoding the documents gives, and encoded again otherwise: an array whose keys are not
    /// 0, 1, 2, …, a missing `_id`, an `_id` that is not first.
    @Test func insertedSequenceDocumentsAreStoredInTheirEncodedForm() throws {
        let d = try CommandDispatcherTests.dispatcher()
        let connection = ConnectionInfo(id: 1, remoteAddress: "test")
        let documents: [Document] = [
            ["_id": 1, "name": "kept", "tags": ["a", "b"], "sub": ["x": 1.5]],
            ["_id": 2, "a": [.int32(7)]],
            ["name": "no id"],
            ["first": true, "_id": 4],
        ]
        var bytes = opMsg(["insert": "c", "$db": "db"], sequences: [("documents", documents)])
        // The second document's array element is keyed "5" instead of "0".
        let element: [UInt8] = [0x10, 0x30, 0x00, 0x07, 0x00, 0x00, 0x00]
        let at = try #require((0...(bytes.count - element.count)).first { Array(bytes[$0..<$0 + element.count]) == element })
        bytes[at + 1] = 0x35
        guard case .message(let msg) = try WireCodec.parse(bytes).1 else { Issue.record("not OP_MSG"); return }
        #expect(msg.sequences["documents"]?.count == 4)
        #expect(msg.sequences["documents"]?[0].bytes == documents[0].bsonBytes())
        let reply = d.answer(msg.body, connection: connection, sequences: msg.sequences).reply
        #expect(reply["n"] == .int32(4) && reply["ok"] == .double(1))
        let stored = try #require(d.answer(["find": "c", "$db": "db"], connection: connection).batch)
        #expect(stored.count == 4)
        for raw in stored {
            // Every stored document is in its encoded form, `_id` first.
            #expect(raw.bytes == raw.document().bsonBytes())
            #expect(raw.document().fieldNames.first == "_id")
        }
        let decoded = stored.map { $0.document() }
        func withID(_ id: Int32) -> Document? { decoded.first { $0["_id"] == .int32(id) } }
        #expect(withID(1) == documents[0])
        #expect(withID(2) == ["_id": 2, "a": [.int32(7)]])
        #expect(withID(4) == ["_id": 4, "first": true])
        #expect(stored.contains { $0.document()["name"] == "no id" && $0.document()["_id"]?.type == .objectID })
    }
}
