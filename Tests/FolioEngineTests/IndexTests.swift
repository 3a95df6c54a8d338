import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine
import FolioTestSupport
import FolioStorage

/// The error a throwing engine call ends with (nil when it succeeds).
func failure<T>(_ body: () throws -> T) -> FolioError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error as? FolioError ?? FolioError(.internalError, "not a FolioError: \(error)")
    }
}

/// The stage names of a plan from the root down (first input at each level).
func stageNames(_ plan: Document) -> [String] {
    var out: [String] = []
    var node: Document? = plan
    while let n = node {
        out.append(n["stage"]?.stringValue ?? "?")
        node = n["inputStage"]?.documentValue ?? n["inputStages"]?.arrayValue?.first?.documentValue
    }
    return out
}

/// The first stage called `name` in a plan.
func stage(_ name: String, in plan: Document) -> Document? {
    if plan["stage"]?.stringValue == name { return plan }
    if let input = plan["inputStage"]?.documentValue { return stage(name, in: input) }
    for case .document(let d) in plan["inputStages"]?.arrayValue ?? [] { if let s = stage(name, in: d) { return s } }
    return nil
}

func winningPlan(_ explain: Document) -> Document { explain["queryPlanner"]?.documentValue?["winningPlan"]?.documentValue ?? [:] }
func executionStats(_ explain: Document) -> Document { explain["executionStats"]?.documentValue ?? [:] }

@Suite struct IndexCatalogTests {
    @Test(arguments: Backend.allCases)
    func createListDropWithMongoDBsErrors(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let created = try engine.createIndexes(ns, [["key": ["a": 1], "name": "a_1"], ["key": ["b": -1, "c": 1], "name": "b_-1_c_1", "unique": true]])
        #expect(created.numIndexesBefore == 1 && created.numIndexesAfter == 3 && created.createdCollectionAutomatically)
        let again = try engine.createIndexes(ns, [["key": ["a": 1], "name": "a_1"]])
        #expect(again.note == "all indexes already exist" && again.numIndexesAfter == 3)
        #expect(try engine.indexSpecifications(ns) == [
            ["v": .int32(2), "key": ["_id": .int32(1)], "name": "_id_"],
            ["v": .int32(2), "key": ["a": 1], "name": "a_1"],
            ["v": .int32(2), "key": ["b": -1, "c": 1], "name": "b_-1_c_1", "unique": true],
        ])
        let cases: [(Document, ErrorCode)] = [
            (["key": [:], "name": "x"], .cannotCreateIndex),
            (["key": ["a": 0], "name": "x"], .cannotCreateIndex),
            (["key": ["a": true], "name": "x"], .cannotCreateIndex),
            (["key": ["a": "bogus"], "name": "x"], .cannotCreateIndex),
            (["key": ["a": 1], "name": "x", "bogus": 1], .invalidIndexSpecificationOption),
            (["key": ["a": 1]], .failedToParse),
            (["name": "x"], .failedToParse),
            (["key": ["a": 1], "name": "other"], .indexOptionsConflict),
            (["key": ["a": 1], "name": "a_1", "unique": true], .indexOptionsConflict),
            (["key": ["z": 1], "name": "a_1"], .indexKeySpecsConflict),
            (["key": ["a": 1], "name": "x", "sparse": true, "partialFilterExpression": ["a": 1]], .cannotCreateIndex),
            (["key": ["t": "2dsphere"], "name": "t", "2dsphereIndexVersion": 2], .commandNotSupported),
            (["key": ["$**": 1, "a": 1], "name": "w"], .commandNotSupported),
            (["key": .document(Document((0...32).map { ("f\($0)", BSON.int32(1)) })), "name": "wide"], .cannotCreateIndex),
            (["key": ["h": "hashed", "a": "hashed"], "name": "h"], ErrorCode(rawValue: 31303)),
        ]
        for (spec, code) in cases {
            #expect(failure { try engine.createIndexes(ns, [spec]) }?.code == code, "\(spec)")
        }
        #expect(failure { try engine.createIndexes(ns, []) }?.code == .badValue)
        #expect(failure { try engine.dropIndexes(ns, "nope") }?.code == .indexNotFound)
        #expect(failure { try engine.dropIndexes(ns, ["nope": 1]) }?.code == .indexNotFound)
        #expect(failure { try engine.dropIndexes(ns, "_id_") }?.code == .invalidOptions)
        #expect(failure { try engine.dropIndexes(try Namespace(database: "app", collection: "none"), "*") }?.code == .namespaceNotFound)
        #expect(try engine.dropIndexes(ns, ["b": -1, "c": 1]) == 3)
        #expect(try engine.dropIndexes(ns, "*") == 2)
        #expect(try engine.indexSpecifications(ns).count == 1)
    }

    @Test(arguments: Backend.allCases)
    func uniqueIndexesRefuseDuplicatesOnInsertUpdateAndBuild(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, [["_id": 1, "email": "a@x"], ["_id": 2, "email": "b@x"], ["_id": 3, "email": "a@x"]])
        // The build finds the duplicate: 11000 naming the index, and no index is left behind.
        let build = failure { try engine.createIndexes(ns, [["key": ["email": 1], "name": "email_1", "unique": true]]) }
        #expect(build?.code == .duplicateKey)
        #expect(build?.message == "E11000 duplicate key error collection: app.users index: email_1 dup key: { email: \"a@x\" }")
        #expect(build?.extraFields == ["keyPattern": ["email": 1], "keyValue": ["email": "a@x"]])
        #expect(try engine.indexSpecifications(ns).count == 1)
        #expect(try engine.validate(ns).isValid)
        _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": 3], limitOne: true)])
        _ = try engine.createIndexes(ns, [["key": ["email": 1], "name": "email_1", "unique": true]])
        // Insert: the duplicate is refused and leaves no record behind; the batch goes on unordered.
        let r = try engine.insert(ns, [["_id": 4, "email": "a@x"], ["_id": 5, "email": "c@x"]], options: WriteOptions(ordered: false))
        #expect(r.insertedCount == 1 && r.writeErrors.map(\.index) == [0] && r.writeErrors[0].error.code == .duplicateKey)
        #expect(try engine.count(ns, filter: ["_id": 4]) == 0)
        // Update: changing a key onto another document's is refused; onto itself is fine.
        let u = try engine.update(ns, [UpdateStatement(filter: ["_id": 2], update: ["$set": ["email": "a@x"]])])
        #expect(u.writeErrors.first?.error.code == .duplicateKey && u.modified == 0)
        let same = try engine.update(ns, [UpdateStatement(filter: ["_id": 2], update: ["$set": ["email": "b@x", "n": 1]])])
        #expect(same.writeErrors.isEmpty && same.modified == 1)
        // A missing field is null: only one document may lack it.
        _ = try engine.insert(ns, [["_id": 6]])
        #expect(try engine.insert(ns, [["_id": 7]]).writeErrors.first?.error.message.contains("dup key: { email: null }") == true)
        // Swapping keys through a delete frees the key.
        _ = try engine.delete(ns, [DeleteStatement(filter: ["_id": 1], limitOne: true)])
        #expect(try engine.insert(ns, [["_id": 8, "email": "a@x"]]).writeErrors.isEmpty)
        let report = try engine.validate(ns)
        #expect(report.isValid, "\(report.errors)")
        #expect(report.keysPerIndex.map(\.keys) == [4, 4])
    }

    @Test(arguments: Backend.allCases)
    func buildsInSeveralSortedRunsFindDuplicatesAcrossRuns(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        engine.indexBuildRunEntries.withLock { $0 = 7 }
        // Record chunks are 4,096 documents: 10,000 documents make three runs.
        _ = try engine.insert(ns, (0..<10_000).map { ["_id": .int32(Int32($0)), "k": .int32(Int32(9_999 - $0)), "t": ["a", .int32(Int32($0 % 3))]] })
        _ = try engine.createIndexes(ns, [["key": ["k": 1], "name": "k_1", "unique": true], ["key": ["t": 1], "name": "t_1"]])
        let report = try engine.validate(ns)
        #expect(report.isValid, "\(report.errors)")
        #expect(report.keysPerIndex.map(\.keys) == [10_000, 10_000, 20_000])
        #expect(try engine.count(ns, filter: ["k": ["$gte": 9_990]], hint: "k_1") == 10)
        // A duplicate whose partner was written by an earlier run.
        _ = try engine.dropIndexes(ns, "k_1")
        _ = try engine.insert(ns, [["_id": 10_000, "k": 9_999]])
        let e = failure { try engine.createIndexes(ns, [["key": ["k": 1], "name": "k_1", "unique": true]]) }
        #expect(e?.code == .duplicateKey && e?.extraFields["keyValue"] == ["k": 9_999])
        #expect(try engine.indexSpecifications(ns).count == 2)
    }

    @Test(arguments: Backend.allCases)
    func hashedIndexesAnswerEqualityThroughHashes(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<200).map { ["_id": .int32(Int32($0)), "email": .string("u\($0)@x"), "n": .int32(Int32($0 % 10))] })
        _ = try engine.createIndexes(ns, [["key": ["email": "hashed"], "name": "email_hashed"]])
        #expect(try engine.indexSpecifications(ns).last == ["v": 2, "key": ["email": "hashed"], "name": "email_hashed"])
        let ex = try engine.explainFind(ns, FindRequest(filter: ["email": "u42@x"]), verbosity: .executionStats)
        let plan = winningPlan(ex)
        let scan = try #require(stage("IXSCAN", in: plan))
        #expect(stageNames(plan) == ["FETCH", "IXSCAN"] && scan["keyPattern"] == ["email": "hashed"])
        let h = BSON.string("u42@x").hashedIndexKey
        #expect(scan["indexBounds"] == ["email": [.string("[\(h), \(h)]")]])
        #expect(ex["executionStats"]?.documentValue?["totalKeysExamined"] == .int32(1))
        #expect(try docs(engine.find(ns, FindRequest(filter: ["email": ["$in": ["u1@x", "u2@x", "nobody"]]], sort: ["_id": 1]))).map { $0["_id"] } == [1, 2])
        // Ranges and sorts cannot use the hash order.
        let range = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["email": ["$gt": "u5"]]), verbosity: .queryPlanner))
        #expect(stageNames(range) == ["COLLSCAN"])
        // Documents without the field hash as null; arrays are refused.
        _ = try engine.insert(ns, [["_id": 500]])
        #expect(try docs(engine.find(ns, FindRequest(filter: ["email": .null]))).map { $0["_id"] } == [500])
        let array = try engine.insert(ns, [["_id": 501, "email": ["a", "b"]]])
        #expect(array.writeErrors.first?.error.code.rawValue == 16766)
        #expect(array.writeErrors.first?.error.message == "hashed indexes do not currently support array values. Found array at path: email")
        // Options MongoDB refuses.
        #expect(failure { try engine.createIndexes(ns, [["key": ["n": "hashed"], "name": "u", "unique": true]]) }?.code.rawValue == 16764)
        #expect(failure { try engine.createIndexes(ns, [["key": ["n": "hashed", "email": "hashed"], "name": "two"]]) }?.code.rawValue == 31303)
        // Compound: a hashed prefix pinned by equality, then a range on the next field.
        _ = try engine.createIndexes(ns, [["key": ["n": "hashed", "_id": 1], "name": "n_hashed_id"]])
        let compound = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["n": 3, "_id": ["$lt": 50]], hint: "n_hashed_id"), verbosity: .queryPlanner))
        #expect(stage("IXSCAN", in: compound)?["indexBounds"]?.documentValue?["_id"] == ["[-inf.0, 50)"])
        #expect(try engine.count(ns, filter: ["n": 3, "_id": ["$lt": 50]], hint: "n_hashed_id") == 5)
        #expect(try engine.validate(ns).isValid)
    }

    @Test(arguments: Backend.allCases)
    func multikeyIndexesAndParallelArrays(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.createIndexes(ns, [["key": ["tags": 1, "n": 1], "name": "tags_n"], ["key": ["a.b": 1, "a.c": 1], "name": "ab_ac"]])
        _ = try engine.insert(ns, [["_id": 1, "tags": ["x", "y", "x"], "n": 1], ["_id": 2, "tags": [], "n": 2],
                                   ["_id": 3, "a": [["b": 1, "c": 5], ["b": 7, "c": 2]]]])
        let parallel = try engine.insert(ns, [["_id": 4, "tags": [1, 2], "n": [3, 4]]])
        #expect(parallel.writeErrors.first?.error.code == .cannotIndexParallelArrays)
        #expect(parallel.writeErrors.first?.error.message == "cannot index parallel arrays [n] [tags]")
        #expect(try engine.count(ns, filter: ["_id": 4]) == 0)
        let update = try engine.update(ns, [UpdateStatement(filter: ["_id": 1], update: ["$set": ["n": [1, 2]]])])
        #expect(update.writeErrors.first?.error.code == .cannotIndexParallelArrays)
        #expect(engine.indexes(ns).allSatisfy { $0.isMultikey })
        // Each record comes back once although it has several keys in range.
        #expect(try docs(engine.find(ns, FindRequest(filter: ["tags": ["$in": ["x", "y"]]]))).map { $0["_id"] } == [1])
        // Compound bounds over one shared array: some element has b=1, some element has c=2.
        #expect(try engine.count(ns, filter: ["a.b": 1, "a.c": 2]) == 1)
        // Two ranges on a multikey field are not intersected: [1, 9] has an element > 5 and one < 3.
        _ = try engine.insert(ns, [["_id": 5, "tags": [1, 9], "n": 0]])
        #expect(try engine.count(ns, filter: ["tags": ["$gt": 5, "$lt": 3]]) == 1)
        #expect(try engine.validate(ns).isValid)
        // A build over existing parallel arrays fails and leaves nothing.
        _ = try engine.insert(ns, [["_id": 6, "p": [1], "q": [2]]])
        #expect(failure { try engine.createIndexes(ns, [["key": ["p": 1, "q": 1], "name": "pq"]]) }?.code == .cannotIndexParallelArrays)
        #expect(try engine.indexSpecifications(ns).count == 3)
    }

    @Test func wildcardKeysFollowMongoDBsWalk() throws {
        let all = try IndexDescriptor(specification: ["key": ["$**": 1], "name": "w"], store: "s")
        let doc: Document = ["_id": 1, "a": ["b": [1, ["c": 2], [3, 4]], "e": [:], "f": []], "g.h": 5, "i": "x"]
        let keys = try all.keys(for: doc)
        #expect(keys.values.map { "\($0[0].stringValue!)=\(ShellFormat.value($0[1]))" } ==
                ["a.b=1", "a.b.c=2", "a.b=[ 3, 4 ]", "a.e={}", "a.f={\"$undefined\": true}", "i=\"x\""])
        #expect(Set(keys.multikeyPaths) == ["a.b", "a.f"] && keys.isMultikey)
        let withID = try IndexDescriptor(specification: ["key": ["$**": 1], "name": "w", "wildcardProjection": ["_id": 1, "i": 1]], store: "s")
        #expect(try withID.keys(for: doc).values.map { $0[0] } == ["_id", "i"])
        let excluded = try IndexDescriptor(specification: ["key": ["$**": -1], "name": "w", "wildcardProjection": ["a.b": 0]], store: "s")
        #expect(try excluded.keys(for: doc).values.map { $0[0] } == ["a.e", "a.f", "i"])
        #expect(excluded.wildcard!.admits(FieldPath("a.e")) && !excluded.wildcard!.admits(FieldPath("a.b.c")) && !excluded.wildcard!.admits(FieldPath("_id")))
        let sub = try IndexDescriptor(specification: ["key": ["a.b.$**": 1], "name": "w"], store: "s")
        #expect(try sub.keys(for: doc).values.map { $0[0] } == ["a.b", "a.b.c", "a.b"])
        #expect(sub.wildcard!.admits(FieldPath("a.b.c")) && !sub.wildcard!.admits(FieldPath("a")) && !sub.wildcard!.admits(FieldPath("i")))
        // A descending wildcard index inverts the value, not the path.
        #expect(try excluded.keys(for: ["i": 1]).keys == [KeyString.encode(.string("i")) + KeyString.encode(.int32(1)).map { ~$0 }])
        #expect(failure { try IndexDescriptor(specification: ["key": ["$**": 1, "a": 1], "name": "w"], store: "s") }?.code == .commandNotSupported)
        #expect(failure { try IndexDescriptor(specification: ["key": ["a.$**.b": 1], "name": "w"], store: "s") }?.code == .cannotCreateIndex)
    }

    @Test func wildcardMultikeyPathsSurviveRestart() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            _ = try engine.createIndexes(ns, [["key": ["$**": 1], "name": "w"]])
            _ = try engine.insert(ns, [["_id": 1, "a": [1, 2], "b": ["c": 1]]])
            engine.close()
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        #expect(engine.indexes(ns).first?.multikeyPaths == ["a"])
        let a = try #require(stage("IXSCAN", in: winningPlan(try engine.explainFind(ns, FindRequest(filter: ["a": 2]), verbosity: .queryPlanner))))
        #expect(a["isMultiKey"] == true && a["keyPattern"] == ["$_path": 1, "a": 1])
        let c = try #require(stage("IXSCAN", in: winningPlan(try engine.explainFind(ns, FindRequest(filter: ["b.c": 1]), verbosity: .queryPlanner))))
        #expect(c["isMultiKey"] == false && c["indexBounds"] == ["$_path": ["[\"b.c\", \"b.c\"]"], "b.c": ["[1, 1]"]])
        #expect(try engine.validate(ns).isValid)
    }

    @Test func indexesSurviveRestart() throws {
        let dir = tempDir()
        do {
            let engine = try Engine.open(directory: dir)
            _ = try engine.insert(ns, (0..<50).map { ["_id": .int32(Int32($0)), "k": .int32(Int32($0 % 5)), "tags": [.int32(Int32($0)), 1]] })
            _ = try engine.createIndexes(ns, [["key": ["k": 1], "name": "k_1"], ["key": ["tags": 1], "name": "tags_1", "sparse": true]])
            engine.close()
        }
        let engine = try Engine.open(directory: dir)
        defer { engine.close() }
        #expect(engine.indexes(ns).map(\.name) == ["k_1", "tags_1"])
        #expect(engine.indexes(ns).map(\.isMultikey) == [false, true])
        #expect(try engine.validate(ns).isValid)
        let plan = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["k": 3]), verbosity: .queryPlanner))
        #expect(stageNames(plan) == ["FETCH", "IXSCAN"] && stage("IXSCAN", in: plan)?["indexName"] == "k_1")
        #expect(try engine.count(ns, filter: ["k": 3]) == 10)
        try engine.renameCollection(ns, to: try Namespace(database: "app", collection: "renamed"))
        #expect(try engine.count(try Namespace(database: "app", collection: "renamed"), filter: ["tags": 1]) == 50)
    }
}

@Suite struct PlannerTests {
    /// 10,000 documents: `a` has 10 values, `b` 1,000, `c` is unique, `s` a string.
    func crafted(_ backend: Backend) throws -> Engine {
        let engine = try makeEngine(backend)
        _ = try engine.insert(ns, (0..<10_000).map { i in
            ["_id": .int32(Int32(i)), "a": .int32(Int32(i % 10)), "b": .int32(Int32(i % 1000)), "c": .int32(Int32(i)),
             "s": .string("user\(i)")]
        })
        _ = try engine.createIndexes(ns, [["key": ["a": 1], "name": "a_1"], ["key": ["b": 1], "name": "b_1"],
                                          ["key": ["c": -1], "name": "c_-1"], ["key": ["s": 1], "name": "s_1"]])
        return engine
    }

    @Test(arguments: Backend.allCases)
    func theMostSelectiveIndexWinsAndCountsAreExact(backend: Backend) throws {
        let engine = try crafted(backend)
        defer { engine.close() }
        let ex = try engine.explainFind(ns, FindRequest(filter: ["a": 3, "b": 503]), verbosity: .allPlansExecution)
        let plan = winningPlan(ex)
        #expect(stage("IXSCAN", in: plan)?["indexName"] == "b_1")
        #expect(stage("IXSCAN", in: plan)?["indexBounds"] == ["b": ["[503, 503]"]])
        let rejected = ex["queryPlanner"]?.documentValue?["rejectedPlans"]?.arrayValue ?? []
        #expect(rejected.count == 1 && stage("IXSCAN", in: rejected[0].documentValue!)?["indexName"] == "a_1")
        let stats = executionStats(ex)
        #expect(stats["nReturned"] == .int32(10) && stats["totalKeysExamined"] == .int32(10) && stats["totalDocsExamined"] == .int32(10))
        #expect(stats["allPlansExecution"]?.arrayValue?.count == 2)
        // Equality on an indexed field examines exactly as many keys and documents as it returns.
        let eq = executionStats(try engine.explainFind(ns, FindRequest(filter: ["c": 1234]), verbosity: .executionStats))
        #expect(eq["nReturned"] == .int32(1) && eq["totalKeysExamined"] == .int32(1) && eq["totalDocsExamined"] == .int32(1))
    }

    @Test(arguments: Backend.allCases)
    func anIndexProvidesTheSortForwardOrBackward(backend: Backend) throws {
        let engine = try crafted(backend)
        defer { engine.close() }
        let asc = try engine.explainFind(ns, FindRequest(filter: ["c": ["$gte": 100, "$lt": 200]], sort: ["c": 1], limit: 5), verbosity: .executionStats)
        #expect(stageNames(winningPlan(asc)) == ["LIMIT", "FETCH", "IXSCAN"])
        #expect(stage("IXSCAN", in: winningPlan(asc))?["direction"] == "backward")
        #expect(stage("IXSCAN", in: winningPlan(asc))?["indexBounds"] == ["c": ["[100, 200)"]])
        #expect(executionStats(asc)["totalKeysExamined"] == .int32(5))
        let got = try docs(engine.find(ns, FindRequest(filter: ["c": ["$gte": 100, "$lt": 200]], sort: ["c": 1], limit: 5)))
        #expect(got.map { $0["c"]! } == [100, 101, 102, 103, 104])
        let desc = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["a": 4], sort: ["c": -1]), verbosity: .queryPlanner))
        #expect(!stageNames(desc).contains("SORT") || stage("IXSCAN", in: desc)?["indexName"] == "a_1")
        // A selective index and a blocking SORT beat a full scan of the index that orders.
        let blocking = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["b": 503], sort: ["s": 1]), verbosity: .queryPlanner))
        #expect(stageNames(blocking) == ["SORT", "FETCH", "IXSCAN"] && stage("IXSCAN", in: blocking)?["indexName"] == "b_1")
        // With a filter that keeps one document in ten, scanning `s_1` in order wins the
        // trial (it returns 101 documents before the sort plan returns any), as in MongoDB.
        let ordered = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["a": 4], sort: ["s": 1]), verbosity: .queryPlanner))
        #expect(stage("IXSCAN", in: ordered)?["indexName"] == "s_1" && !stageNames(ordered).contains("SORT"))
        // Equality on the prefix, then the sort on the next field: {a:1, c:1} gives a.c order.
        _ = try engine.createIndexes(ns, [["key": ["a": 1, "c": 1], "name": "a_1_c_1"]])
        let prefix = try engine.explainFind(ns, FindRequest(filter: ["a": 4], sort: ["c": -1], limit: 3), verbosity: .executionStats)
        #expect(!stageNames(winningPlan(prefix)).contains("SORT"))
        #expect(try docs(engine.find(ns, FindRequest(filter: ["a": 4], sort: ["c": -1], limit: 3))).map { $0["c"]! } == [9994, 9984, 9974])
    }

    @Test(arguments: Backend.allCases)
    func inListsPrefixRegexesOrAndHints(backend: Backend) throws {
        let engine = try crafted(backend)
        defer { engine.close() }
        let inPlan = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["b": ["$in": [7, 3, 5]]]), verbosity: .queryPlanner))
        #expect(stage("IXSCAN", in: inPlan)?["indexBounds"] == ["b": ["[3, 3]", "[5, 5]", "[7, 7]"]])
        let regex = try engine.explainFind(ns, FindRequest(filter: ["s": ["$regex": "^user99"]]), verbosity: .executionStats)
        #expect(stage("IXSCAN", in: winningPlan(regex))?["indexBounds"] == ["s": ["[\"user99\", \"user9:\")"]])
        #expect(executionStats(regex)["nReturned"] == .int32(111) && executionStats(regex)["totalKeysExamined"] == .int32(111))
        let or = try engine.explainFind(ns, FindRequest(filter: ["$or": [["b": 1], ["c": 5]]]), verbosity: .executionStats)
        #expect(stageNames(winningPlan(or)) == ["FETCH", "OR", "IXSCAN"])
        #expect(executionStats(or)["nReturned"] == .int32(11))
        // Hints: by name, by key pattern, $natural; an unknown index is BadValue.
        let byName = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["a": 3, "b": 503], hint: "a_1"), verbosity: .queryPlanner))
        #expect(stage("IXSCAN", in: byName)?["indexName"] == "a_1")
        let byPattern = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["a": 3], hint: ["c": -1]), verbosity: .queryPlanner))
        #expect(stage("IXSCAN", in: byPattern)?["indexBounds"] == ["c": ["[MaxKey, MinKey]"]])
        let natural = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["a": 3], hint: ["$natural": -1]), verbosity: .queryPlanner))
        #expect(natural["stage"] == "COLLSCAN" && natural["direction"] == "backward")
        #expect(try engine.find(ns, FindRequest(filter: ["a": 3], hint: ["c": -1])).all().count == 1000)
        #expect(failure { try engine.find(ns, FindRequest(hint: "nope")) }?.code == .badValue)
        // Hidden indexes are not used (nor hintable).
        _ = try engine.dropIndexes(ns, "b_1")
        _ = try engine.createIndexes(ns, [["key": ["b": 1], "name": "b_1", "hidden": true]])
        let hidden = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["b": 503]), verbosity: .queryPlanner))
        #expect(hidden["stage"] == "COLLSCAN")
        #expect(failure { try engine.find(ns, FindRequest(hint: "b_1")) }?.code == .badValue)
        #expect(try engine.count(ns, filter: ["b": 503]) == 10)
    }

    @Test(arguments: Backend.allCases)
    func minMaxBoundTheHintedIndexAndReturnKeyShowsIt(backend: Backend) throws {
        let engine = try crafted(backend)
        defer { engine.close() }
        func ids(_ r: FindRequest) throws -> [BSON] { try engine.find(ns, r).all().map { $0.document()["_id"] ?? .null } }
        // c is indexed descending: min {c: 20} (inclusive) to max {c: 15} (exclusive) in key order.
        var r = FindRequest(hint: "c_-1")
        r.min = ["c": 20]
        r.max = ["c": 15]
        #expect(try ids(r) == [20, 19, 18, 17, 16])
        r.filter = ["a": ["$ne": 8]]
        #expect(try ids(r) == [20, 19, 17, 16])
        let plan = winningPlan(try engine.explainFind(ns, r, verbosity: .queryPlanner))
        #expect(stageNames(plan) == ["FETCH", "IXSCAN"])
        #expect(stage("IXSCAN", in: plan)?["indexBounds"] == ["startKey": ["c": 20], "startKeyInclusive": true,
                                                              "endKey": ["c": 15], "endKeyInclusive": false])
        // Only one side, and the `_id` index.
        var idOnly = FindRequest(hint: "_id_")
        idOnly.min = ["_id": 9_997]
        #expect(try ids(idOnly) == [9_997, 9_998, 9_999])
        // MongoDB's errors: no hint, $natural, fields not the key pattern, min not before max.
        var bad = FindRequest()
        bad.min = ["c": 1]
        #expect(failure { try engine.find(ns, bad) }?.code == .noQueryExecutionPlans)
        bad.hint = ["$natural": 1]
        #expect(failure { try engine.find(ns, bad) }?.code == .noQueryExecutionPlans)
        bad.hint = "b_1"
        #expect(failure { try engine.find(ns, bad) }?.code.rawValue == 51174)
        bad.hint = "c_-1"
        bad.max = ["c": 5]
        #expect(failure { try engine.find(ns, bad) }?.code.rawValue == 51175)
        // returnKey: the key the index scan found (with its type), `{}` without an index.
        var key = FindRequest(filter: ["b": 7, "a": 7], returnKey: true)
        #expect(try engine.find(ns, key).all().map { $0.document() } == Array(repeating: ["b": .int32(7)], count: 10))
        key.hint = ["$natural": 1]
        #expect(try engine.find(ns, key).all().first?.document() == [:])
        var byID = FindRequest(filter: ["_id": 42], projection: ["s": 1], returnKey: true, showRecordId: true)
        #expect(try engine.find(ns, byID).all().first?.document() == ["_id": 42, "$recordId": .binary(Binary(data: KeyString.encode(42)))])
        byID.returnKey = false
        #expect(try engine.find(ns, byID).all().first?.document() == ["_id": 42, "s": "user42", "$recordId": .binary(Binary(data: KeyString.encode(42)))])
    }

    @Test(arguments: Backend.allCases)
    func sparseAndPartialIndexesOnlyWhenTheyHoldEveryMatch(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, (0..<200).map { i in
            var d: Document = ["_id": .int32(Int32(i)), "qty": .int32(Int32(i))]
            if i % 2 == 0 { d.append("opt", .int32(Int32(i % 7))) }
            return d
        })
        _ = try engine.createIndexes(ns, [["key": ["opt": 1], "name": "opt_1", "sparse": true],
                                          ["key": ["qty": 1], "name": "qty_big", "partialFilterExpression": ["qty": ["$gt": 150]]]])
        func plan(_ f: Document) throws -> Document { winningPlan(try engine.explainFind(ns, FindRequest(filter: f), verbosity: .queryPlanner)) }
        #expect(stage("IXSCAN", in: try plan(["opt": 3]))?["indexName"] == "opt_1")
        #expect(try plan(["opt": .null])["stage"] == "COLLSCAN")
        #expect(try engine.count(ns, filter: ["opt": .null]) == 100)
        #expect(stage("IXSCAN", in: try plan(["qty": ["$gt": 180]]))?["indexName"] == "qty_big")
        #expect(stage("IXSCAN", in: try plan(["qty": 190]))?["indexName"] == "qty_big")
        #expect(try plan(["qty": ["$gt": 100]])["stage"] == "COLLSCAN")
        #expect(try engine.count(ns, filter: ["qty": ["$gt": 100]]) == 99)
        #expect(try engine.count(ns, filter: ["qty": ["$gt": 180]]) == 19)
        #expect(engine.indexes(ns).count == 2)
        #expect(try engine.validate(ns).keysPerIndex.map(\.keys) == [200, 100, 49])
    }

    @Test func planCacheIsUsedAndInvalidated() throws {
        let engine = try crafted(.memory)
        defer { engine.close() }
        _ = try engine.find(ns, FindRequest(filter: ["a": 1, "b": 2])).all()
        #expect(engine.planCache.count(ns) == 1)
        let cursor = try engine.find(ns, FindRequest(filter: ["a": 5, "b": 9]))
        #expect(cursor.executedPlan?.fromCache == true)
        _ = try cursor.all()
        _ = try engine.createIndexes(ns, [["key": ["a": 1, "b": 1], "name": "a_1_b_1"]])
        #expect(engine.planCache.count(ns) == 0)
        let plan = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["a": 5, "b": 9]), verbosity: .queryPlanner))
        #expect(stage("IXSCAN", in: plan)?["indexName"] == "a_1_b_1")
    }

    /// FETCH shows only what the index bounds leave to it, as MongoDB's does.
    @Test func fetchShowsOnlyTheResidualFilter() throws {
        let engine = try crafted(.memory)
        defer { engine.close() }
        func fetchFilter(_ filter: Document, hint: BSON? = nil) throws -> BSON? {
            let plan = winningPlan(try engine.explainFind(ns, FindRequest(filter: filter, hint: hint), verbosity: .queryPlanner))
            return try #require(stage("FETCH", in: plan))["filter"]
        }
        #expect(try fetchFilter(["a": 2, "s": "user2"], hint: "a_1") == ["s": ["$eq": "user2"]])
        #expect(try fetchFilter(["b": ["$gt": 5, "$lt": 9]]) == nil)
        #expect(try fetchFilter(["b": ["$in": [1, 2]], "c": ["$ne": 1]], hint: "b_1") == ["c": ["$not": ["$eq": 1]]])
        #expect(try fetchFilter(["$or": [["a": 1], ["b": 5]]]) == nil)
        #expect(try fetchFilter(["$or": [["a": 1], ["b": 5, "s": "x"]]]) != nil)
        // Prefix regexes, nulls and mixed-type ranges stay in the filter.
        #expect(try fetchFilter(["s": ["$regex": "^user1"]])?.documentValue?["s"] != nil)
        #expect(try fetchFilter(["b": ["$gt": 5, "$lt": "z"]], hint: "b_1") != nil)
        #expect(try docs(engine.find(ns, FindRequest(filter: ["a": 2, "s": "user2"], hint: "a_1"))).count == 1)
    }

    @Test(arguments: Backend.allCases)
    func writesCountAndAggregationGoThroughThePlanner(backend: Backend) throws {
        let engine = try crafted(backend)
        defer { engine.close() }
        let update = try engine.explainUpdate(ns, UpdateStatement(filter: ["b": 7], update: ["$set": ["z": 1]], multi: true), verbosity: .executionStats)
        #expect(stageNames(winningPlan(update)) == ["UPDATE", "FETCH", "IXSCAN"])
        #expect(stage("UPDATE", in: executionStats(update)["executionStages"]!.documentValue!)?["nWouldModify"] == .int32(10))
        #expect(try engine.count(ns, filter: ["z": 1]) == 0)
        let delete = try engine.explainDelete(ns, DeleteStatement(filter: ["c": 5], limitOne: true), verbosity: .queryPlanner)
        #expect(stageNames(winningPlan(delete)) == ["DELETE", "LIMIT", "FETCH", "IXSCAN"])
        let count = try engine.explainCount(ns, filter: ["a": 2], verbosity: .executionStats)
        // A count reads only the index entries when the index holds the filter's fields.
        #expect(stageNames(winningPlan(count)) == ["COUNT", "IXSCAN"])
        let agg = try engine.explainAggregate(database: "app", collection: "users",
                                              AggregateRequest(pipeline: [["$match": ["a": 2]], ["$sort": ["c": -1]], ["$limit": 2], ["$project": ["c": 1]]]),
                                              verbosity: .queryPlanner)
        let cursorStage = agg["stages"]?.arrayValue?.first?.documentValue?["$cursor"]?.documentValue ?? [:]
        #expect(!stageNames(winningPlan(cursorStage)).contains("SORT"))
        #expect(agg["stages"]?.arrayValue?.count == 3)
        let result = try engine.aggregate(database: "app", collection: "users",
                                          AggregateRequest(pipeline: [["$match": ["a": 2]], ["$sort": ["c": -1]], ["$limit": 2], ["$project": ["c": 1]]])).all()
        #expect(result.map { $0.document() } == [["_id": 9992, "c": 9992], ["_id": 9982, "c": 9982]])
        // $indexStats counts the queries each index served; $collStats reports counts and sizes.
        let stats = try engine.aggregate(database: "app", collection: "users", AggregateRequest(pipeline: [["$indexStats": [:]]])).all()
            .map { $0.document() }
        #expect(stats.map { $0["name"]! } == ["_id_", "a_1", "b_1", "c_-1", "s_1"])
        let ops = Dictionary(uniqueKeysWithValues: stats.map { ($0["name"]!.stringValue!, $0["accesses"]!.documentValue!["ops"]!) })
        #expect(ops["c_-1"] == .int64(1) && ops["s_1"] == .int64(0))
        let coll = try engine.aggregate(database: "app", collection: "users", AggregateRequest(pipeline: [["$collStats": ["count": [:], "storageStats": [:]]]])).all()
        #expect(coll.first?.document()["count"] == .int64(10_000))
        #expect(coll.first?.document()["storageStats"]?.documentValue?["nindexes"] == .int32(5))
        #expect(failure { try engine.aggregate(database: "app", collection: "users", AggregateRequest(pipeline: [["$match": [:]], ["$indexStats": [:]]])).all() }?.code.rawValue == 40602)
        let u = try engine.update(ns, [UpdateStatement(filter: ["b": 7], update: ["$inc": ["c": 100_000]], multi: true)])
        #expect(u.modified == 10)
        #expect(try engine.count(ns, filter: ["c": ["$gte": 100_000]]) == 10)
        #expect(try engine.validate(ns).isValid)
    }
}

/// The same random queries with and without indexes must return the same documents, over
/// random documents with arrays, nested paths, nulls, missing fields and mixed types, while
/// random writes keep the indexes in step (seed printed; replay with FOLIO_SEED).
@Suite struct IndexDifferentialTests {
    /// Wildcard indexes get their own run: among the ordinary indexes they would rarely win.
    @Test(arguments: Backend.allCases, [false, true])
    func indexedAndUnindexedQueriesAgree(backend: Backend, wildcard: Bool) throws {
        let seed = TestSupport.seed()
        print("index differential (\(backend), wildcard: \(wildcard)) seed: \(seed) (replay with FOLIO_SEED=\(seed))")
        var rng = TestSupport.SeededGenerator(seed: seed)
        let indexed = try makeEngine(backend)
        let plain = try Engine.inMemory()
        defer { indexed.close(); plain.close() }
        _ = try indexed.createIndexes(ns, wildcard ? [
            ["key": ["$**": 1], "name": "all"], ["key": ["c.$**": -1], "name": "c_sub"],
            ["key": ["$**": 1], "name": "some", "wildcardProjection": ["a": 0, "x": 0]],
        ] : [
            ["key": ["a": 1], "name": "a"], ["key": ["b": -1], "name": "b"], ["key": ["c.d": 1, "x": -1], "name": "cd_x"],
            ["key": ["x": 1, "a": 1], "name": "x_a"], ["key": ["s": 1], "name": "s"],
            ["key": ["b": 1, "x": 1], "name": "b_x_sparse", "sparse": true],
            ["key": ["x": 1], "name": "x_partial", "partialFilterExpression": ["x": ["$gte": 5]]],
            ["key": ["b": "hashed"], "name": "b_hashed"], ["key": ["s": "hashed", "x": 1], "name": "s_hashed_x", "sparse": true],
        ])
        func scalar() -> BSON {
            switch Int.random(in: 0...9, using: &rng) {
            case 0: return .null
            case 1: return .string(["a", "ab", "abc", "b", "B"][Int.random(in: 0...4, using: &rng)])
            case 2: return .double([0.5, 2.0, -1.5, .infinity, .nan][Int.random(in: 0...4, using: &rng)])
            case 3: return .int64(Int64.random(in: -2...9, using: &rng))
            case 4: return .bool(Bool.random(using: &rng))
            case 5: return ["k": .int32(Int32.random(in: 0...2, using: &rng))]
            default: return .int32(Int32.random(in: -2...9, using: &rng))
            }
        }
        func value(arrays: Bool = true) -> BSON {
            if arrays && Int.random(in: 0...4, using: &rng) == 0 {
                return .array((0..<Int.random(in: 0...3, using: &rng)).map { _ in scalar() })
            }
            return scalar()
        }
        func document(_ id: Int32) -> Document {
            var d: Document = ["_id": .int32(id)]
            if Int.random(in: 0...5, using: &rng) > 0 { d.append("a", value()) }
            if Int.random(in: 0...3, using: &rng) > 0 { d.append("b", value(arrays: false)) }
            switch Int.random(in: 0...3, using: &rng) {
            case 0: d.append("c", ["d": value()])
            case 1: d.append("c", .array((0..<Int.random(in: 1...3, using: &rng)).map { _ in ["d": scalar()] }))
            case 2: d.append("c", scalar())
            default: break
            }
            if Int.random(in: 0...4, using: &rng) > 0 { d.append("x", .int32(Int32.random(in: 0...9, using: &rng))) }
            if Bool.random(using: &rng) { d.append("s", .string(["apple", "apricot", "banana", "band", "b\u{0}x", "Ápple"][Int.random(in: 0...5, using: &rng)])) }
            return d
        }
        func predicate(_ path: String) -> Document {
            let v = path == "s" ? BSON.string(["ap", "b", "banana", "c"][Int.random(in: 0...3, using: &rng)]) : scalar()
            switch Int.random(in: 0...11, using: &rng) {
            case 0: return [path: v]
            case 1: return [path: ["$gt": v]]
            case 2: return [path: ["$gte": v, "$lt": scalar()]]
            case 3: return [path: ["$lte": v]]
            case 4: return [path: ["$in": [v, scalar(), scalar()]]]
            case 5: return [path: ["$exists": .bool(Bool.random(using: &rng))]]
            case 6: return [path: ["$regex": .string("^" + (["a", "ap", "b", "ban"][Int.random(in: 0...3, using: &rng)]))]]
            case 7: return [path: ["$ne": v]]
            case 8: return [path: ["$gt": v, "$lt": v]]
            case 9: return [path: ["$elemMatch": ["$gte": .int32(Int32.random(in: 0...5, using: &rng))]]]
            case 10: return [path: .array([scalar()])]
            default: return [path: ["$gte": .int32(Int32.random(in: -2...9, using: &rng)), "$lte": .int32(Int32.random(in: -2...9, using: &rng))]]
            }
        }
        func filter() -> Document {
            let paths = ["a", "b", "c.d", "x", "s"]
            func one() -> Document { predicate(paths[Int.random(in: 0..<paths.count, using: &rng)]) }
            switch Int.random(in: 0...5, using: &rng) {
            case 0: return ["$or": [.document(one()), .document(one())]]
            case 1, 2: return ["$and": [.document(one()), .document(one())]]
            default: return one()
            }
        }
        let sorts: [Document?] = [nil, nil, ["a": 1], ["x": -1], ["b": -1], ["c.d": 1, "x": -1], ["s": 1]]
        var queries = 0
        var indexedPlans = 0
        for step in 0..<1500 {
            switch Int.random(in: 0...9, using: &rng) {
            case 0, 1:
                let d = document(Int32.random(in: 0...400, using: &rng))
                let r = try indexed.insert(ns, [d])
                if r.writeErrors.isEmpty { _ = try plain.insert(ns, [d]) }
            case 2:
                let f = filter()
                let u: BSON = ["$set": ["x": .int32(Int32.random(in: 0...9, using: &rng)), "a": value()]]
                let ri = try indexed.update(ns, [UpdateStatement(filter: f, update: u, multi: true)], options: WriteOptions(ordered: false))
                if ri.writeErrors.isEmpty {
                    let rp = try plain.update(ns, [UpdateStatement(filter: f, update: u, multi: true)])
                    #expect(ri.matched == rp.matched && ri.modified == rp.modified, "seed \(seed) step \(step) \(f)")
                } else {
                    // A refused statement changed nothing: copy the collection state back by re-reading.
                    #expect(ri.writeErrors.allSatisfy { $0.error.code == .cannotIndexParallelArrays || $0.error.code == .duplicateKey })
                }
            case 3:
                let f = filter()
                let ri = try indexed.delete(ns, [DeleteStatement(filter: f, limitOne: false)])
                let rp = try plain.delete(ns, [DeleteStatement(filter: f, limitOne: false)])
                #expect(ri.deleted == rp.deleted, "seed \(seed) step \(step) \(f)")
            default:
                let f = filter()
                let sort = sorts[Int.random(in: 0..<sorts.count, using: &rng)]
                let limit = Int.random(in: 0...3, using: &rng) == 0 ? Int.random(in: 1...5, using: &rng) : 0
                let cursor = try indexed.find(ns, FindRequest(filter: f, sort: sort, limit: limit))
                if let root = cursor.executedPlan?.root, root.totalKeysExamined > 0 || stage("IXSCAN", in: root.plan()) != nil { indexedPlans += 1 }
                let got = try docs(cursor)
                let want = try docs(plain.find(ns, FindRequest(filter: f, sort: sort, limit: limit)))
                queries += 1
                if let sort {
                    let spec = try SortSpec(parsing: sort)
                    let keys = { (ds: [Document]) in ds.map { spec.sortKey(for: $0) } }
                    let same = zip(keys(got), keys(want)).allSatisfy { spec.compare($0, $1) == 0 } && got.count == want.count
                    #expect(same, "seed \(seed) step \(step) filter \(f) sort \(sort)")
                    if limit == 0 {
                        let ids = { (ds: [Document]) in ds.map { KeyString.encode($0["_id"]!) }.sorted { compareKeys($0, $1) < 0 } }
                        #expect(ids(got) == ids(want), "seed \(seed) step \(step) filter \(f) sort \(sort)")
                    }
                } else {
                    let byID = { (ds: [Document]) in ds.sorted { compareKeys(KeyString.encode($0["_id"]!), KeyString.encode($1["_id"]!)) < 0 } }
                    if limit == 0 {
                        #expect(byID(got) == byID(want), "seed \(seed) step \(step) filter \(f)")
                    } else {
                        #expect(got.count == want.count, "seed \(seed) step \(step) filter \(f)")
                    }
                }
            }
        }
        let report = try indexed.validate(ns)
        #expect(report.isValid, "seed \(seed): \(report.errors)")
        #expect(try indexed.count(ns) == (try plain.count(ns)), "seed \(seed)")
        print("index differential (\(backend), wildcard: \(wildcard)): \(queries) queries, \(indexedPlans) used an index, seed \(seed)")
        #expect(indexedPlans > queries / (wildcard ? 8 : 4))
    }
}

/// Covered queries answer from index entries alone; their results must be exactly what the
/// documents give — values, numeric types, missing fields and field order.
@Suite struct CoveredQueryTests {
    @Test(arguments: Backend.allCases)
    func coveredPlansSkipFetchAndRestoreValuesExactly(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let values: [BSON] = [.int32(1), .int64(1), .double(1), .double(1.5), .int64(5_000_000_000), .decimal128(Decimal128("1.00")!),
                              .double(-0.0), .double(.infinity), "a", "a\u{0}b", .symbol("a"), .null, ["x": 1, "y": ["z": 2]],
                              .bool(true), .datetime(-5), .timestamp(Timestamp(seconds: 3, increment: 4)),
                              .binary(Binary(subtype: 4, data: [1, 2])), .objectID(ObjectID()), .minKey, .maxKey,
                              .regex(BSONRegex(pattern: "p", options: "mi")), .int32(-7), .int64(-9_000_000_000), .double(-2.25)]
        var documents: [Document] = []
        for (i, v) in values.enumerated() {
            var d: Document = ["_id": .int32(Int32(i)), "p": v]
            if i % 3 != 0 { d.append("q", .int32(Int32(i % 4))) }
            d.append("r", "unindexed")
            documents.append(d)
        }
        _ = try engine.insert(ns, documents)
        _ = try engine.createIndexes(ns, [["key": ["p": 1, "q": -1], "name": "p_q"]])
        let filters: [Document] = [["p": ["$gte": .minKey]], ["p": 1], ["p": ["$gt": 0, "$lt": 2]], ["p": "a", "q": ["$exists": false]],
                                   ["q": .null], ["p": ["$type": "double"]], ["p.x": 1], ["$or": [["q": 1], ["p": .null]]]]
        let projections: [Document] = [["p": 1, "_id": 0], ["q": 1, "p": 1, "_id": 0], ["q": true, "_id": false]]
        for filter in filters {
            for projection in projections {
                for sort in [nil, ["q": 1, "p": -1] as Document] {
                    let request = FindRequest(filter: filter, sort: sort, projection: projection, hint: "p_q")
                    let covered = try engine.find(ns, request)
                    #expect(covered.executedPlan?.root.isCovered == true, "\(filter) \(projection) \(String(describing: sort))")
                    var natural = request
                    natural.hint = ["$natural": 1]
                    let got = try covered.all().map(\.bytes), want = try engine.find(ns, natural).all().map(\.bytes)
                    // Equal sort keys (1, 1.0, NumberLong(1)) may come in either order.
                    #expect(got.sorted { $0.lexicographicallyPrecedes($1) } == want.sorted { $0.lexicographicallyPrecedes($1) },
                            "\(filter) \(projection)")
                    if let sort, projection.count == 3 {
                        let spec = try SortSpec(parsing: sort)
                        let keys = got.map { spec.sortKey(for: RawDocument(trusted: $0).document()) }
                        #expect(zip(keys, keys.dropFirst()).allSatisfy { spec.compare($0, $1) <= 0 }, "\(filter) \(sort)")
                    }
                }
            }
        }
        let ex = try engine.explainFind(ns, FindRequest(filter: ["p": ["$gt": 0]], projection: ["p": 1, "_id": 0]), verbosity: .executionStats)
        #expect(stageNames(winningPlan(ex)) == ["PROJECTION_COVERED", "IXSCAN"])
        #expect(executionStats(ex)["totalDocsExamined"] == .int32(0))
        #expect(executionStats(ex)["nReturned"] == .int32(7))
        // What the index does not hold needs the document.
        for (filter, projection) in [(["p": 1], ["p": 1]), (["p": 1], ["p": 1, "r": 1, "_id": 0]), (["p": 1, "r": "x"], ["p": 1, "_id": 0]),
                                     (["p": 1], ["p.x": 1, "_id": 0]), (["p": 1], ["p": 0, "_id": 0])] as [(Document, Document)] {
            let plan = winningPlan(try engine.explainFind(ns, FindRequest(filter: filter, projection: projection), verbosity: .queryPlanner))
            #expect(stage("FETCH", in: plan) != nil && stage("PROJECTION_COVERED", in: plan) == nil, "\(filter) \(projection)")
        }
        // Once an array makes the index multikey, nothing is covered.
        _ = try engine.insert(ns, [["_id": 100, "p": [1, 2]]])
        let multikey = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["p": 1], projection: ["p": 1, "_id": 0]), verbosity: .queryPlanner))
        #expect(stage("FETCH", in: multikey) != nil)
        #expect(try engine.validate(ns).isValid)
    }
}

/// The `_id` index in the planner: ranges and sorts on `_id` scan the records in `_id` order
/// within their bounds, a limit stops the scan, and the answers are those of a full scan.
@Suite struct IDIndexPlanTests {
    @Test(arguments: Backend.allCases)
    func idRangesAndSortsAreBoundedScans(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        let n = 3_000
        _ = try engine.insert(ns, (0..<n).map { ["_id": .string("k\(String(1_000_000 + $0))"), "v": .int32(Int32($0))] })
        _ = try engine.insert(ns, [["_id": 5], ["_id": 7.5], ["_id": ["a": 1]]])  // other types, outside string bounds
        func check(_ request: FindRequest, returned: Int, direction: String, examinedAtMost: Int? = nil, line: Int = #line) throws {
            let explain = try engine.explainFind(ns, request, verbosity: .executionStats)
            let scan = try #require(stage("IXSCAN", in: winningPlan(explain)), "line \(line)")
            #expect(scan["indexName"] == "_id_" && scan["keyPattern"] == ["_id": 1] && scan["direction"] == .string(direction), "line \(line)")
            #expect(stage("SORT", in: winningPlan(explain)) == nil && stage("COLLSCAN", in: winningPlan(explain)) == nil, "line \(line)")
            let stats = executionStats(explain)
            #expect(stats["nReturned"] == .int32(Int32(returned)), "line \(line): \(stats)")
            // Examined: what was returned, plus at most the one entry past a bound.
            let examined = stats["totalDocsExamined"]?.exactInt64 ?? -1
            #expect(examined >= Int64(returned) && examined <= Int64(examinedAtMost ?? returned + 1), "line \(line): \(stats)")
            // The same answer as a scan of the whole collection.
            var natural = request
            natural.hint = ["$natural": 1]
            #expect(try docs(engine.find(ns, request)) == docs(engine.find(ns, natural)), "line \(line)")
        }
        let from: BSON = .string("k\(1_000_000 + 1_234)")
        try check(FindRequest(filter: ["_id": ["$gte": from]], sort: ["_id": 1], limit: 50), returned: 50, direction: "forward")
        let bounds = stage("IXSCAN", in: winningPlan(try engine.explainFind(ns, FindRequest(filter: ["_id": ["$gte": from]]), verbosity: .queryPlanner)))
        #expect(bounds?["indexBounds"] == ["_id": ["[\"k1001234\", {})"]])
        try check(FindRequest(filter: ["_id": ["$lt": from]], sort: ["_id": -1], limit: 20), returned: 20, direction: "backward")
        try check(FindRequest(sort: ["_id": 1], limit: 5), returned: 5, direction: "forward")
        try check(FindRequest(sort: ["_id": -1], limit: 5), returned: 5, direction: "backward")
        try check(FindRequest(filter: ["_id": ["$gt": .string("k\(1_000_000 + n - 10)")]]), returned: 9, direction: "forward")
        try check(FindRequest(filter: ["_id": ["$gte": 5, "$lt": 100]]), returned: 2, direction: "forward")
        try check(FindRequest(filter: ["_id": ["$in": [from, 5, "missing"]]]), returned: 2, direction: "forward")
        try check(FindRequest(filter: ["_id": ["$gte": from], "v": ["$mod": [2, 0]]], sort: ["_id": 1], limit: 10), returned: 10, direction: "forward",
                  examinedAtMost: 20)
        // An update and a delete find their targets the same way.
        let upd = try engine.update(ns, [UpdateStatement(filter: ["_id": ["$gte": from]], update: ["$set": ["seen": true]], sort: ["_id": 1])])
        #expect(upd.modified == 1)
        #expect(try docs(engine.find(ns, FindRequest(filter: ["seen": true]))).map { $0["_id"] } == [from])
        // A hint of the _id index by name or pattern uses it too.
        for hint: BSON in ["_id_", ["_id": 1]] {
            let plan = winningPlan(try engine.explainFind(ns, FindRequest(filter: ["_id": ["$gt": from]], limit: 3, hint: hint), verbosity: .queryPlanner))
            #expect(stage("IXSCAN", in: plan)?["indexName"] == "_id_", "\(hint)")
        }
    }
}
