import CSQLite
import Foundation
import Testing
@testable import FolioStorage

/// The connection's cache of statements by (shape, store) (SQLiteConnection.swift): bounded,
/// least recently used first out, never a statement still stepping.
@Suite struct SQLiteConnectionTests {
    @Test func statementsByStoreAreBoundedAndTheBusyOnesStay() throws {
        let path = NSTemporaryDirectory() + "folio-statements-\(UUID().uuidString).sqlite"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try SQLiteConnection(path: path, readOnly: false, storeStatementLimit: 4)
        for t in 0..<10 {
            try c.execute("CREATE TABLE t\(t) (k INTEGER PRIMARY KEY)")
            try c.execute("INSERT INTO t\(t) VALUES (1), (2)")
        }
        func select(_ t: Int) throws -> OpaquePointer { try c.statement(shape: 1, store: "t\(t)") { "SELECT k FROM t\(t)" } }
        // A statement stepping (as a scan further up the stack would hold it) is not freed.
        let busy = try select(0)
        #expect(try c.step(busy))
        let recent = try select(1)
        for t in 2..<10 {
            _ = try select(t)
            _ = try select(1)   // kept in use
            #expect(c.storeStatementCount <= 4 + 1)
        }
        #expect(try select(1) == recent)
        #expect(try c.step(busy) && sqlite3_column_int64(busy, 0) == 2)
        sqlite3_reset(busy)
        // Each statement still answers after the others came and went.
        for t in 0..<10 {
            let s = try select(t)
            #expect(try c.step(s) && sqlite3_column_int64(s, 0) == 1)
            sqlite3_reset(s)
        }
        #expect(c.storeStatementCount <= 4 + 1)
    }
}
