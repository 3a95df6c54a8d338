import Foundation
import Testing
@testable import Folio

/// CursorSequence.swift: results arrive in batches, and the cursor is released at the end, on
/// an error, on cancellation and when a loop is left early.
@Suite struct CursorSequenceTests {
    static func filled(_ count: Int) async throws -> (FolioClient, FolioCollection<Document>) {
        let folio = try FolioClient.inMemory()
        let items = folio.database("db").collection("items")
        for start in stride(from: 0, to: count, by: 5_000) {
            try await items.insertMany((start..<min(count, start + 5_000)).map { ["_id": .int32(Int32($0))] as Document })
        }
        return (folio, items)
    }

    @Test func cancellationStopsTheLoopAndClosesTheCursor() async throws {
        let (folio, items) = try await Self.filled(50_000)
        defer { folio.close() }
        let started = AsyncStream<Void>.makeStream()
        let reader = Task { () -> (Int, FolioError?) in
            var seen = 0
            do {
                for try await _ in items.find() {
                    seen += 1
                    if seen == 1 { started.continuation.yield() }
                    // Give the canceller a moment per document; the loop must still end soon.
                    await Task.yield()
                }
                return (seen, nil)
            } catch {
                return (seen, error as? FolioError)
            }
        }
        for await _ in started.stream { break }
        reader.cancel()
        let (seen, error) = await reader.value
        #expect(error?.code == .interrupted)
        #expect(seen < 50_000)
        #expect(folio.openCursors.load(ordering: .relaxed) == 0)
    }

    @Test func leavingALoopEarlyClosesTheCursor() async throws {
        let (folio, items) = try await Self.filled(1_000)
        defer { folio.close() }
        var seen = 0
        for try await _ in items.find() {
            seen += 1
            #expect(folio.openCursors.load(ordering: .relaxed) == 1)
            if seen == 5 { break }
        }
        #expect(seen == 5)
        #expect(folio.openCursors.load(ordering: .relaxed) == 0)
    }

    @Test func theLastBatchClosesTheCursorWhileTheIteratorLives() async throws {
        let (folio, items) = try await Self.filled(1_000)
        defer { folio.close() }
        var iterator = items.find(sort: ["_id": -1]).makeAsyncIterator()
        var ids: [Int32] = []
        while let d = try await iterator.next() {
            if case .int32(let v)? = d["_id"] { ids.append(v) }
        }
        #expect(ids == Array((0..<1_000).reversed()))
        #expect(folio.openCursors.load(ordering: .relaxed) == 0)
        // After the end, next() keeps answering nil.
        #expect(try await iterator.next() == nil)
    }

    @Test func anErrorClosesTheCursor() async throws {
        let (folio, items) = try await Self.filled(600)
        defer { folio.close() }
        // The pipeline fails on the first document past the first batch.
        let failing = items.aggregate([["$sort": ["_id": 1]],
                                       ["$project": ["x": ["$cond": [["$lt": ["$_id", 300]], 1, ["$toInt": "not a number"]]]]]])
        var seen = 0
        do {
            for try await _ in failing { seen += 1 }
            Issue.record("the failing pipeline finished")
        } catch {
            #expect(error.code != .interrupted)
        }
        #expect(seen == 256)
        #expect(folio.openCursors.load(ordering: .relaxed) == 0)
        await #expect(throws: FolioError.self) { _ = try await items.find(["$bogus": 1]).toArray() }
        #expect(folio.openCursors.load(ordering: .relaxed) == 0)
    }
}
