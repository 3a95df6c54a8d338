import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// writeConcern (WriteConcern.swift): what one member can satisfy runs; what it cannot is
/// applied and answered with MongoDB's write concern error; malformed values are refused.
@Suite struct WriteConcernTests {
    @Test(arguments: [
        (["w": 1], nil, nil),
        (["w": 0], nil, nil),
        (["w": "majority", "wtimeout": 1000], nil, nil),
        (["j": true], nil, nil),
        (["w": 2], nil, 100),
        (["w": 3, "j": true], nil, 100),
        (["w": "dc-east"], nil, 79),
        (["w": -1], 9, nil),
        (["w": 51], 9, nil),
        (["w": 1.5], 9, nil),
        (["w": true], 9, nil),
        (["j": "yes"], 14, nil),
        (["wtimeout": "soon"], 14, nil),
        (["w": 0, "j": true], 72, nil),
    ] as [(Document, Int32?, Int32?)])
    func writeConcerns(concern: Document, error: Int32?, concernError: Int32?) throws {
        let s = try TestServer()
        let reply = s.run(["insert": "c", "documents": [["_id": 1]], "writeConcern": .document(concern)])
        if let error {
            #expect(reply["code"] == .int32(error), "\(reply)")
            #expect(s.run(["count": "c"])["n"] == .int32(0), "refused before it ran")
            return
        }
        #expect(reply["ok"] == .double(1) && reply["n"] == .int32(1), "\(reply)")
        let wce = reply["writeConcernError"]?.documentValue
        #expect(wce?["code"] == concernError.map(BSON.int32), "\(reply)")
        if concernError != nil { #expect(wce?["errInfo"] == ["writeConcern": .document(concern)]) }
    }

    @Test func aNonObjectIsATypeMismatchAndReadsAnswerNoConcernError() throws {
        let s = try TestServer()
        #expect(s.run(["insert": "c", "documents": [[:]], "writeConcern": 1])["code"] == .int32(14))
        let find = s.run(["find": "c", "writeConcern": ["w": 2]])
        #expect(find["ok"] == .double(1) && find["writeConcernError"] == nil)
        let created = s.run(["create": "d", "writeConcern": ["w": 5]])
        #expect(created["writeConcernError"]?.documentValue?["codeName"] == "UnsatisfiableWriteConcern", "\(created)")
    }
}
