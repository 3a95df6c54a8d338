internal import FolioEngine

/// A multi-document transaction started explicitly (what a driver's session gives with
/// `startTransaction`): its databases read one snapshot plus the transaction's own writes,
/// and its writes become visible together at `commit()`. Operations on it run one at a time.
///
/// ```swift
/// let txn = try await folio.startTransaction()
/// let accounts = txn.database("bank").collection("accounts")
/// do {
///     _ = try await accounts.updateOne(["_id": "alice"], ["$inc": ["balance": -10]])
///     _ = try await accounts.updateOne(["_id": "bob"], ["$inc": ["balance": 10]])
///     try await txn.commit()
/// } catch {
///     try await txn.abort()
///     throw error
/// }
/// ```
///
/// Once committed or aborted, its databases refuse every operation (256 TransactionCommitted,
/// 251 NoSuchTransaction) rather than let a write vanish. A transaction that is neither
/// committed nor aborted is aborted when the last reference to it goes.
/// `FolioClient.withTransaction` does all of this, and retries write conflicts.
public final class FolioTransaction: Sendable {
    let transaction: EngineTransaction
    /// The transaction's client (its engine is the transaction's).
    let client: FolioClient

    init(transaction: EngineTransaction, client: FolioClient) {
        self.transaction = transaction
        self.client = client
    }

    deinit { transaction.abort() }

    /// A database seen through the transaction.
    public func database(_ name: String) -> FolioDatabase { client.database(name) }

    /// Makes the transaction's writes visible, all at once and durably. Committing again is
    /// allowed and does nothing (as a driver's retried commit).
    /// - Throws: 112 WriteConflict with the TransientTransactionError label when a write
    ///   outside the transaction changed what it wrote (the transaction is then aborted: run
    ///   it again); 251 NoSuchTransaction after `abort()`.
    public func commit() async throws(FolioError) {
        let txn = transaction
        try await client.runInTransaction { (phase) throws(FolioError) in
            switch phase {
            case .committed: return
            case .aborted: throw FolioError(.noSuchTransaction, "Cannot call commitTransaction after calling abortTransaction")
            case .active:
                do throws(FolioError) {
                    try txn.commit(durable: true)
                    phase = .committed
                } catch {
                    phase = .aborted
                    throw error
                }
            }
        }
    }

    /// Drops the transaction's writes. Aborting again does nothing.
    /// - Throws: 256 TransactionCommitted after `commit()`: committed writes stay.
    public func abort() async throws(FolioError) {
        let txn = transaction
        try await client.runInTransaction { (phase) throws(FolioError) in
            switch phase {
            case .aborted: return
            case .committed: throw FolioError(.transactionCommitted, "Cannot call abortTransaction after calling commitTransaction")
            case .active:
                txn.abort()
                phase = .aborted
            }
        }
    }
}

extension FolioClient {
    /// Starts a transaction reading the latest commit; see `FolioTransaction`.
    /// - Throws: 263 OperationNotSupportedInTransaction on a transaction's own client
    ///   (transactions do not nest).
    public func startTransaction() async throws(FolioError) -> FolioTransaction {
        if transactionLock != nil {
            throw FolioError(.operationNotSupportedInTransaction, "Transactions do not nest: this client is a transaction's")
        }
        let engine = self.engine
        let txn = try await run { () throws(FolioError) in try engine.beginTransaction() }
        return FolioTransaction(transaction: txn, client: FolioClient(engine: txn.engine, threads: threads, transaction: true))
    }

    /// Runs `body` in a multi-document transaction and commits it: `body`'s client reads one
    /// snapshot plus its own writes, and its writes become visible together at the commit
    /// (durably). A write conflict (WriteConflict, TransientTransactionError) runs `body`
    /// again, as the drivers' `withTransaction` does, for up to `retryFor`; any other error
    /// aborts and is thrown. `body`'s client refuses operations once it has returned.
    ///
    /// ```swift
    /// try await folio.withTransaction { txn in
    ///     let accounts = txn.database("bank").collection("accounts")
    ///     _ = try await accounts.updateOne(["_id": "alice"], ["$inc": ["balance": -10]])
    ///     _ = try await accounts.updateOne(["_id": "bob"], ["$inc": ["balance": 10]])
    /// }
    /// ```
    public func withTransaction<R: Sendable>(retryFor: Duration = .seconds(120),
                                             _ body: @Sendable (FolioClient) async throws -> R) async throws -> R {
        let deadline = ContinuousClock.now + retryFor
        while true {
            let txn = try await startTransaction()
            do {
                let result = try await body(txn.client)
                try await txn.commit()
                return result
            } catch let error as FolioError where error.labels.contains("TransientTransactionError") && ContinuousClock.now < deadline {
                try? await txn.abort()
                try Task.checkCancellation()
            } catch {
                try? await txn.abort()
                throw error
            }
        }
    }
}
