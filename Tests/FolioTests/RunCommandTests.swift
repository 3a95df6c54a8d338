import Testing
@testable import Folio
import FolioServer

/// RunCommand.swift: the server's commands through the library, with the server's replies
/// and errors.
@Suite struct RunCommandTests {
    @Test func commandsAnswerAsTheServerDoes() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let db = folio.database("app")
        let ping = try await folio.database("admin").runCommand(["ping": 1])
        #expect(ping["ok"] == .double(1))

        // A write command reports its write errors in the reply, as to a driver.
        let inserted = try await db.runCommand(["insert": "items", "documents": [["_id": 1, "n": 1], ["_id": 1, "n": 2]]])
        #expect(inserted["n"] == .int32(1))
        let writeErrors = try #require(inserted["writeErrors"]?.arrayValue)
        #expect(writeErrors.first?.documentValue?["code"] == .int32(11000))
        #expect(try await db.collection("items").countDocuments() == 1)

        // `$db` is the database's, whatever the command said.
        let count = try await db.runCommand(["count": "items", "$db": "elsewhere"])
        #expect(count["n"] == .int32(1))

        // collStats and listCollections: what the typed API does not have.
        let stats = try await db.runCommand(["collStats": "items"])
        #expect(stats["count"]?.exactInt64 == 1)
        #expect(stats["ns"] == "app.items")
        let listed = try await db.runCommand(["listCollections": 1, "nameOnly": true])
        let first = try #require(listed["cursor"]?.documentValue?["firstBatch"]?.arrayValue)
        #expect(first.compactMap { $0.documentValue?["name"] } == ["items"])
    }

    @Test func failuresThrowTheCommandsError() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let db = folio.database("app")
        do {
            _ = try await db.runCommand(["noSuchCommand": 1])
            Issue.record("an unknown command succeeded")
        } catch {
            #expect(error.code == .commandNotFound)
            #expect(error.message.contains("noSuchCommand"))
        }
        do {
            _ = try await db.runCommand(["find": "items", "bogusOption": 1])
            Issue.record("an unknown option was accepted")
        } catch {
            #expect(error.code.rawValue == 40415)
        }
        do {
            _ = try await db.runCommand(["insert": "items", "documents": [["a": 1]], "apiVersion": "2"])
            Issue.record("an unknown API version was accepted")
        } catch {
            #expect(error.code.rawValue == 322)
        }
        // An empty command reaches the server as `{$db: ...}`, as from a driver.
        await #expect { _ = try await db.runCommand([:]) } throws: { ($0 as? FolioError)?.code == .commandNotFound }
    }

    @Test func cursorsContinueWithGetMoreAndClose() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let db = folio.database("app")
        try await db.collection("items").insertMany((0..<10).map { ["_id": .int32(Int32($0))] })
        let opened = try await db.runCommand(["find": "items", "sort": ["_id": 1], "batchSize": 4])
        let cursor = try #require(opened["cursor"]?.documentValue)
        #expect(cursor["firstBatch"]?.arrayValue?.count == 4)
        let id = try #require(cursor["id"])
        #expect(id != .int64(0))
        let more = try await db.runCommand(["getMore": id, "collection": "items", "batchSize": 4])
        let next = try #require(more["cursor"]?.documentValue?["nextBatch"]?.arrayValue)
        #expect(next.compactMap { $0.documentValue?["_id"] } == [4, 5, 6, 7])
        let killed = try await db.runCommand(["killCursors": "items", "cursors": [id]])
        #expect(killed["cursorsKilled"]?.arrayValue == [id])
        await #expect { _ = try await db.runCommand(["getMore": id, "collection": "items"]) } throws: {
            ($0 as? FolioError)?.code == .cursorNotFound
        }
    }

    @Test func refusedInsideATransaction() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        try await folio.database("app").collection("items").insertOne(["_id": 1])
        await #expect {
            try await folio.withTransaction { txn in
                _ = try await txn.database("app").runCommand(["delete": "items", "deletes": [["q": [:], "limit": 0]]])
            }
        } throws: { ($0 as? FolioError)?.code == .operationNotSupportedInTransaction }
        #expect(try await folio.database("app").collection("items").countDocuments() == 1)
    }
}

/// The command layer's upkeep in the library: what commands leave open expires as on the server.
@Suite struct RunCommandUpkeepTests {
    @Test func anAbandonedCommandTransactionIsAbortedByTheSweep() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let db = folio.database("app")
        let lsid: Document = ["id": .binary(Binary(subtype: Binary.Subtype.uuid, data: (0..<16).map { UInt8($0) }))]
        _ = try await db.runCommand(["insert": "items", "documents": [["_id": 1]], "lsid": .document(lsid),
                                     "txnNumber": .int64(1), "startTransaction": true, "autocommit": false])
        _ = try await folio.database("admin").runCommand(["setParameter": 1, "transactionLifetimeLimitSeconds": 1])
        try await Task.sleep(for: .milliseconds(1_100))
        // What the 4-second timer runs, run now.
        let commands = try #require(folio.commands.withLock { $0 })
        commands.context.sweepIdle()
        await #expect { _ = try await folio.database("admin").runCommand(["commitTransaction": 1, "lsid": .document(lsid),
                                                                            "txnNumber": .int64(1), "autocommit": false]) } throws: {
            ($0 as? FolioError)?.code == .noSuchTransaction
        }
        #expect(try await db.collection("items").countDocuments() == 0)
    }
}
