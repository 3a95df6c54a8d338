// The embedded library against GRDB over the same SQLite (Debian's), side by side in one
// run, on what an app does with Codable values: insert 100,000 of them, read them back by
// key, and run a filtered, sorted query on an index (a conversation's latest messages).
//
//     scripts/bench grdb [count]
//
// Both sides use WAL with synchronous=NORMAL (Folio's own settings), one caller, release
// builds; every call is its own transaction on both sides. GRDB is measured through its
// async API (what a Swift-concurrency app calls, as it calls Folio's) and, for the reads,
// through its synchronous one too.
import Folio
import Foundation
import GRDB

struct Message: Codable, Sendable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "messages"
    var _id: Int
    var conversation: Int
    var author: String
    var text: String
    var at: Date
    var score: Double
}

let count = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 100_000
let conversations = max(1, count / 100)
let batch = 1_000
let pointReads = min(count, 20_000)
let queries = 2_000

func message(_ i: Int) -> Message {
    Message(_id: i, conversation: i % conversations, author: "user\(i % 97)",
            text: "message \(i): the quick brown fox jumps over the lazy dog while the release train leaves",
            at: Date(timeIntervalSince1970: 1_700_000_000 + Double(i)), score: Double(i % 1000) / 10)
}

var rng = SystemRandomNumberGenerator()
let readKeys = (0..<pointReads).map { _ in Int.random(in: 0..<count, using: &rng) }
let queryConversations = (0..<queries).map { _ in Int.random(in: 0..<conversations, using: &rng) }

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

func time(_ body: () async throws -> Void) async rethrows -> Double {
    let start = ContinuousClock.now
    try await body()
    return seconds(ContinuousClock.now - start)
}

let root = FileManager.default.temporaryDirectory.appendingPathComponent("folio-grdb-\(UUID().uuidString)").path
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

// MARK: Folio
var folioTimes: [Double] = []
do {
    let folio = try FolioClient.open(directory: "\(root)/folio")
    let messages = folio.database("bench").collection("messages", as: Message.self)
    try await messages.createIndex(["conversation": 1, "at": -1])
    folioTimes.append(try await time {
        for start in stride(from: 0, to: count, by: batch) {
            try await messages.insertMany((start..<min(count, start + batch)).map(message))
        }
    })
    var found = 0
    folioTimes.append(try await time {
        for key in readKeys where try await messages.findOne(["_id": .int64(Int64(key))]) != nil { found += 1 }
    })
    precondition(found == pointReads)
    var rows = 0
    folioTimes.append(try await time {
        for c in queryConversations {
            rows += try await messages.find(["conversation": .int64(Int64(c))], sort: ["at": -1], limit: 20).toArray().count
        }
    })
    precondition(rows == queries * min(20, count / conversations))
    folio.close()
}

// MARK: GRDB
var grdbTimes: [Double] = []
var grdbSyncTimes: [Double] = []

func time(_ body: () -> Void) -> Double {
    let start = ContinuousClock.now
    body()
    return seconds(ContinuousClock.now - start)
}
do {
    var config = Configuration()
    config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous=NORMAL") }
    let pool = try DatabasePool(path: "\(root)/grdb.sqlite", configuration: config)
    try pool.write { db in
        try db.create(table: "messages") { t in
            t.primaryKey("_id", .integer)
            t.column("conversation", .integer).notNull()
            t.column("author", .text).notNull()
            t.column("text", .text).notNull()
            t.column("at", .datetime).notNull()
            t.column("score", .double).notNull()
        }
        try db.create(index: "messages_conversation_at", on: "messages", columns: ["conversation", "at"])
    }
    grdbTimes.append(try await time {
        for start in stride(from: 0, to: count, by: batch) {
            let values = (start..<min(count, start + batch)).map(message)
            try await pool.write { db in for m in values { try m.insert(db) } }
        }
    })
    var found = 0
    grdbTimes.append(try await time {
        for key in readKeys where try await pool.read({ db in try Message.fetchOne(db, key: key) }) != nil { found += 1 }
    })
    precondition(found == pointReads)
    var rows = 0
    grdbTimes.append(try await time {
        for c in queryConversations {
            rows += try await pool.read { db in
                try Message.filter(Column("conversation") == c).order(Column("at").desc).limit(20).fetchAll(db)
            }.count
        }
    })
    precondition(rows == queries * min(20, count / conversations))
    // GRDB's synchronous API (the caller's thread blocks; no hop to its queue's executor).
    found = 0
    grdbSyncTimes.append(time {
        for key in readKeys where try! pool.read({ db in try Message.fetchOne(db, key: key) }) != nil { found += 1 }
    })
    precondition(found == pointReads)
    rows = 0
    grdbSyncTimes.append(time {
        for c in queryConversations {
            rows += try! pool.read { db in
                try Message.filter(Column("conversation") == c).order(Column("at").desc).limit(20).fetchAll(db)
            }.count
        }
    })
    precondition(rows == queries * min(20, count / conversations))
}

let names = ["insert \(count) Codable values (insertMany of \(batch))", "read \(pointReads) by key (findOne / fetchOne)",
             "\(queries) × a conversation's latest 20 (index, sort, limit)"]
let units = [count, pointReads, queries]
print("| operation | Folio per second | GRDB async per second | Folio / GRDB async time | GRDB sync per second | Folio / GRDB sync time |")
print("|---|---:|---:|---:|---:|---:|")
for i in 0..<3 {
    let f = Double(units[i]) / folioTimes[i], g = Double(units[i]) / grdbTimes[i]
    var row = "| \(names[i]) | \(Int(f)) | \(Int(g)) | \(String(format: "%.2f", folioTimes[i] / grdbTimes[i]))× |"
    if i > 0 {
        let sync = grdbSyncTimes[i - 1]
        row += " \(Int(Double(units[i]) / sync)) | \(String(format: "%.2f", folioTimes[i] / sync))× |"
    } else {
        row += " | |"
    }
    print(row)
}
