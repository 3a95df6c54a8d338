import Benchmark
import FolioBSON

/// The reference document: about 1 KB in 10 fields of mixed types.
func referenceDocument() -> Document {
    var d = Document()
    d.append("_id", .objectID(ObjectID(hex: "507f1f77bcf86cd799439011")!))
    d.append("name", .string(String(repeating: "n", count: 120)))
    d.append("email", .string("someone.with.a.long.address@example.com"))
    d.append("age", .int32(42))
    d.append("balance", .double(1234.5))
    d.append("created", .datetime(1_700_000_000_000))
    d.append("active", .bool(true))
    d.append("tags", .array((0..<20).map { .string("tag-\($0)") }))
    d.append("address", .document(["street": .string(String(repeating: "s", count: 80)), "city": "Paris", "zip": "75001"]))
    d.append("bio", .string(String(repeating: "b", count: 380)))
    return d
}

/// Twenty top-level fields; lookups target the middle one.
func twentyFieldDocument() -> Document {
    var d = Document()
    for i in 0..<20 { d.append("field\(i)", .int32(Int32(i))) }
    return d
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.throughput, .wallClock, .mallocCountTotal],
                                           maxDuration: .seconds(2), maxIterations: 10_000_000)

    let document = referenceDocument()
    let bytes = document.bsonBytes()
    let size = bytes.count
    let twenty = twentyFieldDocument().raw
    let raw = RawDocument(trusted: bytes)
    let canonical = ExtendedJSON.string(from: document, mode: .canonical)

    Benchmark("validate + iterate 1KB/10 fields (\(size) B)", configuration: .init(scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations {
            let r = try RawDocument(validating: bytes)
            var n = 0
            r.forEachElement { type, _, _ in n &+= Int(type.rawValue) }
            blackHole(n)
        }
    }

    Benchmark("lookup 1 field of 20", configuration: .init(scalingFactor: .mega)) { b in
        for _ in b.scaledIterations {
            blackHole(twenty.lookup("field10"))
        }
    }

    Benchmark("decode to Document (1KB)", configuration: .init(scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations {
            blackHole(raw.document())
        }
    }

    Benchmark("encode Document (1KB)", configuration: .init(scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations {
            blackHole(document.bsonBytes())
        }
    }

    Benchmark("Extended JSON out, canonical (1KB)", configuration: .init(scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations {
            blackHole(ExtendedJSON.string(from: document, mode: .canonical))
        }
    }

    Benchmark("Extended JSON in, canonical (1KB)", configuration: .init(scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations {
            blackHole(try ExtendedJSON.document(from: canonical))
        }
    }

    let compound: [BSON] = [.string("someone@example.com"), .int32(42), .objectID(ObjectID(hex: "507f1f77bcf86cd799439011")!)]
    Benchmark("KeyString encode (string, int32, ObjectId)", configuration: .init(scalingFactor: .mega)) { b in
        for _ in b.scaledIterations {
            blackHole(KeyString.encode(compound, ascending: [true, false, true]))
        }
    }

    Benchmark("KeyString encode (double 0.1)", configuration: .init(scalingFactor: .kilo)) { b in
        for _ in b.scaledIterations {
            blackHole(KeyString.encode(.double(0.1)))
        }
    }
}
