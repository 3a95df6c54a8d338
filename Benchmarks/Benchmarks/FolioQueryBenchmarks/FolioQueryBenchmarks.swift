import Benchmark
import FolioBSON
import FolioQuery

/// A ~1 KB user-profile document with the fields the filter and update touch spread out.
func profileDocument() -> Document {
    var d = Document()
    d.append("_id", .objectID(ObjectID(hex: "507f1f77bcf86cd799439011")!))
    d.append("name", .string(String(repeating: "n", count: 100)))
    d.append("status", "active")
    d.append("email", .string("someone.with.a.long.address@example.com"))
    d.append("age", .int32(42))
    d.append("bio", .string(String(repeating: "b", count: 400)))
    d.append("tags", .array((0..<20).map { .string("tag-\($0)") }))
    d.append("address", .document(["street": .string(String(repeating: "s", count: 80)), "city": "Paris", "zip": "75001"]))
    d.append("visits", .int32(7))
    d.append("country", "FR")
    return d
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .mallocCountTotal],
                                           maxDuration: .seconds(2), maxIterations: 10_000_000)
    let document = profileDocument()
    let raw = document.raw
    let filter = try! Filter(parsing: ["status": "active", "age": ["$gt": 30], "country": "FR"])

    Benchmark("match 3-predicate filter on 1KB raw doc", configuration: .init(scalingFactor: .mega)) { b in
        for _ in b.scaledIterations {
            blackHole(filter.matches(raw))
        }
    }

    let update = try! UpdateSpec(parsing: ["$set": ["status": "away"], "$inc": ["visits": 1], "$push": ["tags": "new"]])
    let context = UpdateContext(now: 0)
    Benchmark("apply 3-operator update to 1KB document", configuration: .init(scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations {
            var d = document
            blackHole(try update.apply(to: &d, context: context))
        }
    }
}
