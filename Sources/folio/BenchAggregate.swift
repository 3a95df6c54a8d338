import ArgumentParser
import Folio
import FolioEngine

/// `folio bench-aggregate` (hidden): the aggregation bars of issue 7 on N orders
/// (~200 B each, 10 categories) and N/10 customers, in-process against SQLite:
/// $match + $group with $sum/$avg, $sort + $limit 10 (top-k) against a full $sort, and a
/// $lookup of every order's customer.
struct BenchAggregate: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-aggregate", shouldDisplay: false)

    @Option var dbpath: String
    @Option var documents: Int = 1_000_000

    func run() throws {
        let engine = try Engine.open(directory: dbpath)
        defer { engine.close() }
        let orders = try Namespace(database: "bench", collection: "orders")
        let customers = try Namespace(database: "bench", collection: "customers")
        let customerCount = max(1, documents / 10)
        if try engine.estimatedCount(orders) < documents {
            _ = try engine.dropCollection(orders)
            _ = try engine.dropCollection(customers)
            try BenchScan.load(engine, orders, 0..<documents) { n in
                ["_id": .int64(Int64(n)), "category": .string("c\(n % 10)"), "status": n % 5 == 0 ? "returned" : "paid",
                 "amount": .double(Double(n % 997) + 0.5), "qty": .int32(Int32(n % 7 + 1)),
                 "customer": .int64(Int64(n % customerCount)), "note": .string(String(repeating: "n", count: 100))]
            }
            try BenchScan.load(engine, customers, 0..<customerCount) { n in
                ["_id": .int64(Int64(n)), "name": .string("customer \(n)"), "tier": n % 3 == 0 ? "gold" : "basic"]
            }
        }
        func time(_ label: String, count: Int, unit: String, _ pipeline: [BSON], on ns: Namespace = orders) throws {
            let start = BenchScan.now()
            let results = try engine.aggregate(database: ns.database, collection: ns.collection, AggregateRequest(pipeline: pipeline)).all()
            let elapsed = BenchScan.now() - start
            print("\(label): \((elapsed * 1000).rounded() / 1000) s, \(Int(Double(count) / elapsed)) \(unit)/s (\(results.count) results)")
        }
        try time("$match + $group (10 keys, $sum/$avg)", count: documents, unit: "docs", [
            ["$match": ["status": "paid"]],
            ["$group": ["_id": "$category", "revenue": ["$sum": "$amount"], "avgQty": ["$avg": "$qty"], "n": ["$sum": 1]]],
        ])
        try time("$sort + $limit 10 (top-k)", count: documents, unit: "docs", [["$sort": ["amount": -1, "_id": 1]], ["$limit": 10]])
        try time("$sort (all) + $skip to the last 10", count: documents, unit: "docs", [["$sort": ["amount": -1, "_id": 1]], ["$skip": .int64(Int64(documents - 10))]])
        let lookups = min(documents, 200_000)
        try time("$lookup customer by _id (\(lookups) orders)", count: lookups, unit: "lookups", [
            ["$limit": .int64(Int64(lookups))],
            ["$lookup": ["from": "customers", "localField": "customer", "foreignField": "_id", "as": "c"]],
            ["$group": ["_id": ["$first": "$c.tier"], "n": ["$sum": 1]]],
        ])
        print("peak RSS \(BenchScan.peakRSSMegabytes()) MB")
    }
}
