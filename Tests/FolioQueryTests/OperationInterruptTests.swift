import Testing
import FolioBSON
@testable import FolioQuery

@Suite struct OperationInterruptTests {
    static func evaluate(_ expression: BSON, under interrupt: OperationInterrupt?) throws(FolioError) -> BSON {
        let e = try Expression.parse(expression, context: ParseContext())
        let result: Result<BSON, FolioError> = OperationInterrupt.$current.withValue(interrupt) {
            OperationInterrupt.beginDocument()
            do throws(FolioError) { return .success(try e.evaluate(root: [:])) } catch { return .failure(error) }
        }
        return try result.get()
    }

    @Test func killedOperationsStopAtTheirNextCheck() throws {
        let op = OperationInterrupt()
        try op.check()
        op.kill()
        #expect(op.isKilled)
        #expect(throws: FolioError.self) { try op.check() }
        do { try op.check() } catch { #expect(error.code == .interrupted && error.message == "operation was interrupted") }
        // A long $map notices within one poll interval.
        let long: BSON = ["$map": ["input": ["$range": [0, 100_000]], "in": "$$this"]]
        do { _ = try Self.evaluate(long, under: op); Issue.record("not interrupted") } catch { #expect(error.code == .interrupted) }
        #expect(try Self.evaluate(long, under: nil).arrayValue?.count == 100_000)
    }

    @Test func deadlinesExpire() throws {
        let op = OperationInterrupt(deadline: .now - .milliseconds(1))
        do { try op.check(); Issue.record("no expiry") } catch { #expect(error.code == .maxTimeMSExpired) }
        #expect(OperationInterrupt(maxTimeMilliseconds: 0).deadline == nil)
        #expect(OperationInterrupt(maxTimeMilliseconds: nil).deadline == nil)
        #expect(OperationInterrupt(maxTimeMilliseconds: 10_000).deadline != nil)
    }

    /// What evaluation builds for one document is bounded: nested ranges, a doubling string,
    /// a quadratic $reduce all end with 146 once past the bound; a fresh document starts over.
    @Test(arguments: [
        BSON.document(["$map": ["input": ["$range": [0, 100]], "in": ["$range": [0, 1000]]]]),
        .document(["$reduce": ["input": ["$range": [0, 40]], "initialValue": "ab", "in": ["$concat": ["$$value", "$$value"]]]]),
        .document(["$reduce": ["input": ["$range": [0, 2000]], "initialValue": [], "in": ["$concatArrays": ["$$value", ["$$this"]]]]]),
        .document(["$concatArrays": .array(Array(repeating: .document(["$range": [0, 10_000]]), count: 10))]),
    ])
    func evaluationIsBounded(_ expression: BSON) throws {
        let op = OperationInterrupt(maximumEvaluationBytes: 1 << 20)
        do {
            _ = try Self.evaluate(expression, under: op)
            Issue.record("not bounded: \(expression)")
        } catch {
            #expect(error.code == .exceededMemoryLimit)
            #expect(error.message.contains("would use too much memory"))
        }
        // Within the bound, the same operation evaluates the next document normally.
        #expect(try Self.evaluate(["$range": [0, 1000]], under: op).arrayValue?.count == 1000)
    }

    @Test func rangeHasMongoDBsOwnBound() throws {
        do {
            _ = try Self.evaluate(["$range": [0, .int32(.max), 1]], under: nil)
            Issue.record("no bound")
        } catch {
            #expect(error.code == .exceededMemoryLimit)
            #expect(error.message == "$range would use too much memory (34359738392 bytes) and cannot spill to disk. Memory limit: 104857600 bytes")
        }
        #expect(try Self.evaluate(["$range": [.int32(.max), .int32(.min), .int32(.min)]], under: nil).arrayValue == [.int32(.max), .int32(-1)])
        #expect(try Self.evaluate(["$range": [5, 1]], under: nil).arrayValue == [])
    }
}
