import Testing
import Folio

/// Transaction.swift: explicit transactions (start, commit, abort) and withTransaction.
@Suite struct TransactionTests {
    func accounts(_ folio: FolioClient) async throws -> FolioCollection<Document> {
        let accounts = folio.database("bank").collection("accounts")
        _ = try await accounts.insertOne(["_id": "alice", "balance": 100])
        _ = try await accounts.insertOne(["_id": "bob", "balance": 0])
        return accounts
    }

    @Test func commitMakesTheWritesVisibleTogetherAndEndsTheTransaction() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let accounts = try await accounts(folio)
        let txn = try await folio.startTransaction()
        let inside = txn.database("bank").collection("accounts")
        _ = try await inside.updateOne(["_id": "alice"], ["$inc": ["balance": -10]])
        _ = try await inside.updateOne(["_id": "bob"], ["$inc": ["balance": 10]])
        // Its own writes inside; nothing outside before the commit.
        #expect(try await inside.findOne(["_id": "bob"]) == ["_id": "bob", "balance": 10])
        #expect(try await accounts.findOne(["_id": "bob"]) == ["_id": "bob", "balance": 0])
        try await txn.commit()
        #expect(try await accounts.find(sort: ["_id": 1]).toArray().map { $0["balance"] } == [90, 10])
        // Committing again does nothing; anything else on it is refused, not lost.
        try await txn.commit()
        await #expect { _ = try await inside.insertOne(["_id": "carol"]) } throws: { ($0 as? FolioError)?.code == .transactionCommitted }
        await #expect { try await txn.abort() } throws: { ($0 as? FolioError)?.code == .transactionCommitted }
        #expect(try await accounts.countDocuments() == 2)
    }

    @Test func abortDropsTheWrites() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let accounts = try await accounts(folio)
        let txn = try await folio.startTransaction()
        let inside = txn.database("bank").collection("accounts")
        _ = try await inside.insertOne(["_id": "carol", "balance": 5])
        try await txn.abort()
        try await txn.abort()
        #expect(try await accounts.countDocuments() == 2)
        await #expect { _ = try await inside.countDocuments() } throws: { ($0 as? FolioError)?.code == .noSuchTransaction }
        await #expect { try await txn.commit() } throws: { ($0 as? FolioError)?.code == .noSuchTransaction }
    }

    @Test func aConflictingCommitIsTransientAndLeavesTheOtherWrite() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let accounts = try await accounts(folio)
        let first = try await folio.startTransaction()
        let second = try await folio.startTransaction()
        _ = try await first.database("bank").collection("accounts").updateOne(["_id": "alice"], ["$set": ["balance": 1]])
        do {
            _ = try await second.database("bank").collection("accounts").updateOne(["_id": "alice"], ["$set": ["balance": 2]])
            try await first.commit()
            try await second.commit()
            Issue.record("two transactions wrote one document and both committed")
        } catch {
            #expect(error.labels.contains("TransientTransactionError"))
            try await second.abort()
        }
        try await first.commit()
        #expect(try await accounts.findOne(["_id": "alice"]) == ["_id": "alice", "balance": 1])
    }

    @Test func anAbandonedTransactionIsAbortedAndTransactionsDoNotNest() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let accounts = try await accounts(folio)
        do {
            let txn = try await folio.startTransaction()
            _ = try await txn.database("bank").collection("accounts").updateOne(["_id": "bob"], ["$set": ["balance": 7]])
        }
        // Its write neither shows nor blocks a later one on the same document.
        _ = try await accounts.updateOne(["_id": "bob"], ["$set": ["balance": 8]])
        #expect(try await accounts.findOne(["_id": "bob"]) == ["_id": "bob", "balance": 8])
        try await folio.withTransaction { txn in
            await #expect { _ = try await txn.startTransaction() } throws: {
                ($0 as? FolioError)?.code == .operationNotSupportedInTransaction
            }
        }
    }

    @Test func withTransactionsClientIsRefusedAfterItReturns() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let accounts = try await accounts(folio)
        let escaped = try await folio.withTransaction { txn in
            _ = try await txn.database("bank").collection("accounts").updateOne(["_id": "bob"], ["$set": ["balance": 3]])
            return txn
        }
        await #expect { _ = try await escaped.database("bank").collection("accounts").deleteMany([:]) } throws: {
            ($0 as? FolioError)?.code == .transactionCommitted
        }
        #expect(try await accounts.countDocuments() == 2)
    }

    @Test func withTransactionCommitsTogetherAndRetriesConflicts() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let accounts = folio.database("bank").collection("accounts")
        _ = try await accounts.insertOne(["_id": "alice", "balance": 100])
        _ = try await accounts.insertOne(["_id": "bob", "balance": 0])
        // Eight concurrent transfers of 10 conflict on alice's document and are retried.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    try await folio.withTransaction { txn in
                        let a = txn.database("bank").collection("accounts")
                        _ = try await a.updateOne(["_id": "alice"], ["$inc": ["balance": -10]])
                        _ = try await a.updateOne(["_id": "bob"], ["$inc": ["balance": 10]])
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try await accounts.findOne(["_id": "alice"]) == ["_id": "alice", "balance": 20])
        #expect(try await accounts.findOne(["_id": "bob"]) == ["_id": "bob", "balance": 80])
        // An error other than a conflict aborts: nothing of the transaction remains.
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await folio.withTransaction { txn in
                _ = try await txn.database("bank").collection("accounts").updateOne(["_id": "bob"], ["$set": ["balance": 0]])
                #expect(try await txn.database("bank").collection("accounts").findOne(["_id": "bob"]) == ["_id": "bob", "balance": 0])
                throw Refused()
            }
        }
        #expect(try await accounts.findOne(["_id": "bob"]) == ["_id": "bob", "balance": 80])
    }
}
