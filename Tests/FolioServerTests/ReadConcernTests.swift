import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// readConcern (ReadConcern.swift): every level a single member honours runs; point-in-time
/// reads, which are not built, are refused; malformed values get MongoDB's IDL errors.
@Suite struct ReadConcernTests {
    @Test(arguments: [
        (["find": "c", "readConcern": ["level": "local"]], nil),
        (["find": "c", "readConcern": ["level": "majority"]], nil),
        (["find": "c", "readConcern": ["level": "available"]], nil),
        (["count": "c", "readConcern": ["level": "linearizable"]], nil),
        (["find": "c", "readConcern": ["afterClusterTime": .timestamp(Timestamp(seconds: 1, increment: 1))]], nil),
        (["insert": "c", "documents": [[:]], "readConcern": ["level": "local"]], nil),
        (["find": "c", "readConcern": [:]], nil),
        (["find": "c", "readConcern": ["level": "snapshot"]], 115),
        (["find": "c", "readConcern": ["level": "snapshot", "atClusterTime": .timestamp(Timestamp(seconds: 1, increment: 1))]], 115),
        (["find": "c", "readConcern": ["atClusterTime": .timestamp(Timestamp(seconds: 1, increment: 1))]], 72),
        (["insert": "c", "documents": [[:]], "readConcern": ["level": "snapshot"]], 72),
        (["update": "c", "updates": [["q": [:], "u": ["$set": ["a": 1]]]], "readConcern": ["level": "majority"]], 72),
        (["find": "c", "readConcern": "majority"], 14),
        (["find": "c", "readConcern": ["level": 1]], 14),
        (["find": "c", "readConcern": ["level": "strong"]], 2),
        (["find": "c", "readConcern": ["afterClusterTime": 5]], 14),
        (["find": "c", "readConcern": ["level": "local", "wait": true]], 40415),
    ] as [(Document, Int32?)])
    func readConcerns(body: Document, expected: Int32?) throws {
        let s = try TestServer()
        let reply = s.run(body)
        if let expected {
            #expect(reply["code"] == .int32(expected), "\(reply)")
        } else {
            #expect(reply["ok"] == .double(1), "\(reply)")
        }
    }
}
