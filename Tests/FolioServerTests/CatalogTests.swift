import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// create (Commands/Catalog.swift): the options MongoDB's create takes are stored or honoured,
/// unknown ones are refused as MongoDB's IDL refuses them, and options whose behaviour Folio
/// does not have yet are refused instead of stored and ignored.
@Suite struct CatalogTests {
    @Test(arguments: [
        (["create": "c"], nil),
        (["create": "c", "validator": ["a": ["$exists": true]], "validationLevel": "moderate"], nil),
        (["create": "c", "capped": false], nil),
        (["create": "c", "storageEngine": [:], "changeStreamPreAndPostImages": ["enabled": false]], nil),
        (["create": "c", "capped": true, "size": 4096], nil),
        (["create": "c", "capped": true], 72),
        (["create": "c", "validater": ["a": 1]], 40415),
        (["create": "c", "expireAfterSeconds": 10], 72),
        (["create": "c", "timeseries": ["timeField": "t"]], 115),
    ] as [(Document, Int32?)])
    func createOptions(body: Document, expected: Int32?) throws {
        let s = try TestServer()
        let reply = s.run(body)
        if let expected {
            #expect(reply["code"] == .int32(expected), "\(reply)")
            #expect(s.firstBatch(s.run(["listCollections": 1])) == [])
        } else {
            #expect(reply["ok"] == .double(1), "\(reply)")
        }
    }
}
