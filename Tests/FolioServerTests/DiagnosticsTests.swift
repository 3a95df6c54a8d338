import Foundation
import Testing
import FolioBSON
@testable import FolioServer

/// dbStats and collStats (Commands/Diagnostics.swift): true sizes, `scale`, MongoDB's types.
@Suite struct DiagnosticsTests {
    /// Ten documents whose BSON sizes are known.
    private func fill(_ s: TestServer) -> Int {
        let docs: [Document] = (0..<10).map { ["_id": .int32(Int32($0)), "text": .string(String(repeating: "x", count: 100 * $0))] }
        #expect(s.run(["insert": "c", "documents": .array(docs.map(BSON.document))])["ok"] == .double(1))
        #expect(s.run(["createIndexes": "c", "indexes": [["key": ["text": 1], "name": "text_1"]]])["ok"] == .double(1))
        return docs.reduce(0) { $0 + $1.bsonBytes().count }
    }

    @Test func dataSizeIsTheDocumentsBSONBytes() throws {
        let s = try TestServer()
        let bytes = fill(s)
        let coll = s.run(["collStats": "c"])
        #expect(coll["size"] == .int32(Int32(bytes)) && coll["count"] == .int32(10), "\(coll)")
        #expect(coll["avgObjSize"] == .int32(Int32(bytes / 10)))
        #expect(coll["nindexes"] == .int32(2) && coll["indexSizes"]?.documentValue?.fieldNames == ["_id_", "text_1"])
        let db = s.run(["dbStats": 1])
        #expect(db["dataSize"] == .double(Double(bytes)) && db["objects"] == .int64(10) && db["indexes"] == .int64(2), "\(db)")
        #expect(db["avgObjSize"] == .double(Double(bytes) / 10))
        let scaled = s.run(["collStats": "c", "scale": 1024])
        #expect(scaled["size"] == .int32(Int32(bytes / 1024)) && scaled["scaleFactor"] == .int32(1024))
        #expect(scaled["avgObjSize"] == .int32(Int32(bytes / 10)), "avgObjSize is not scaled")
        #expect(s.run(["dbStats": 1, "scale": 0])["code"] == .int32(51024))
        #expect(s.run(["collStats": "c", "scale": -1])["code"] == .int32(51024))
    }

    @Test func storageSizeComesFromSQLitesPages() throws {
        let directory = NSTemporaryDirectory() + "folio-diagnostics-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let s = try TestServer(directory: directory)
        let bytes = fill(s)
        let coll = s.run(["collStats": "c"])
        guard case .int32(let storage)? = coll["storageSize"], case .int32(let textIndex)? = coll["indexSizes"]?.documentValue?["text_1"] else {
            Issue.record("\(coll)")
            return
        }
        // Whole 16 KiB pages, at least as many as the data needs.
        #expect(storage % 16384 == 0 && Int(storage) >= bytes, "\(storage)")
        #expect(textIndex > 0 && textIndex % 16384 == 0)
        let db = s.run(["dbStats": 1])
        #expect(db["storageSize"] == .double(Double(storage)))
        #expect((db["fsTotalSize"]?.asDouble ?? 0) > 0)
    }
}
