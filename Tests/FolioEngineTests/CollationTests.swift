import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine

/// One comparison under a collation: `a` sorts before (-1), with (0) or after (1) `b`.
struct CollationCase: Sendable, CustomStringConvertible {
    let collation: Document
    let a: String
    let b: String
    let order: Int
    var description: String { "\(collation) \(a) vs \(b)" }
}

func sign(_ x: Int) -> Int { x == 0 ? 0 : (x < 0 ? -1 : 1) }

@Suite struct CollationTests {
    static let comparisons: [CollationCase] = [
        // Strength: 1 base letters, 2 + accents, 3 (default) + case.
        CollationCase(collation: ["locale": "en", "strength": 1], a: "resume", b: "Résumé", order: 0),
        CollationCase(collation: ["locale": "en", "strength": 2], a: "resume", b: "RESUME", order: 0),
        CollationCase(collation: ["locale": "en", "strength": 2], a: "resume", b: "résumé", order: -1),
        CollationCase(collation: ["locale": "en"], a: "a", b: "A", order: -1),
        CollationCase(collation: ["locale": "en", "caseFirst": "upper"], a: "A", b: "a", order: -1),
        CollationCase(collation: ["locale": "en", "strength": 1, "caseLevel": true], a: "a", b: "A", order: -1),
        CollationCase(collation: ["locale": "en", "strength": 1, "caseLevel": true], a: "a", b: "á", order: 0),
        // numericOrdering compares digit runs by value.
        CollationCase(collation: ["locale": "en"], a: "a10", b: "a9", order: -1),
        CollationCase(collation: ["locale": "en", "numericOrdering": true], a: "a10", b: "a9", order: 1),
        // alternate shifted ignores spaces and punctuation (up to maxVariable) below strength 4.
        CollationCase(collation: ["locale": "en"], a: "ab", b: "a-b", order: 1),
        CollationCase(collation: ["locale": "en", "alternate": "shifted"], a: "ab", b: "a-b", order: 0),
        CollationCase(collation: ["locale": "en", "alternate": "shifted"], a: "ab", b: "a b", order: 0),
        CollationCase(collation: ["locale": "en", "alternate": "shifted", "maxVariable": "space"], a: "ab", b: "a-b", order: 1),
        // Locales: Swedish puts ä after z, German beside a; the phonebook variant reads it as ae.
        CollationCase(collation: ["locale": "sv"], a: "z", b: "ä", order: -1),
        CollationCase(collation: ["locale": "de"], a: "z", b: "ä", order: 1),
        CollationCase(collation: ["locale": "de"], a: "äz", b: "af", order: 1),
        CollationCase(collation: ["locale": "de@collation=phonebook"], a: "äz", b: "af", order: -1),
        // backwards (French accent order, fr_CA's default): the last accent decides.
        CollationCase(collation: ["locale": "fr"], a: "côte", b: "coté", order: 1),
        CollationCase(collation: ["locale": "fr_CA"], a: "côte", b: "coté", order: -1),
        CollationCase(collation: ["locale": "fr", "backwards": true], a: "côte", b: "coté", order: -1),
    ]

    @Test(arguments: comparisons)
    func comparisonKeysOrderAsTheCollation(row: CollationCase) throws {
        let collator = try #require(try Engine.collator(row.collation))
        let c = BSON.compare(.string(collator.comparisonKey(row.a)), .string(collator.comparisonKey(row.b)))
        #expect(sign(c) == row.order)
    }

    @Test func specificationsReportEveryFieldWithTheLocaleDefaults() throws {
        let da = try #require(try Engine.collator(["locale": "da"])).specification
        #expect(da == ["locale": "da", "caseLevel": false, "caseFirst": "upper", "strength": 3, "numericOrdering": false,
                       "alternate": "non-ignorable", "maxVariable": "punct", "normalization": false, "backwards": false,
                       "version": "57.1"])
        #expect(try Engine.collator(["locale": "fr_CA"])?.specification["backwards"] == true)
        #expect(try Engine.collator(["locale": "th"])?.specification["alternate"] == "shifted")
        #expect(try Engine.collator(["locale": "simple"]) == nil)
        #expect(try Engine.collator(nil) == nil)
    }

    static let malformed: [(Document, Int32)] = [
        (["strength": 2], 40414), (["locale": 1], 14), (["locale": "en", "x": 1], 40415),
        (["locale": "simple", "strength": 1], 2), (["locale": "xx"], 2), (["locale": "en_XX_YY"], 2), (["locale": ""], 2),
        (["locale": "en", "strength": 0], 9), (["locale": "en", "strength": "2"], 14), (["locale": "en", "strength": 2.5], 14),
        (["locale": "en", "caseLevel": 1], 14), (["locale": "en", "alternate": "x"], 2), (["locale": "en", "maxVariable": "x"], 2),
        (["locale": "en", "strength": 1, "backwards": true], 2), (["locale": "en", "strength": 2, "caseFirst": "lower"], 2),
    ]

    @Test(arguments: malformed)
    func malformedSpecificationsAreRefused(spec: Document, code: Int32) {
        do {
            _ = try Engine.collator(spec)
            Issue.record("accepted \(spec)")
        } catch {
            #expect(error.code.rawValue == code, "\(spec): \(error)")
        }
    }

    static let people: [Document] = [
        ["_id": 1, "name": "ping", "tags": ["Red", "blue"]], ["_id": 2, "name": "PING", "tags": ["red"]],
        ["_id": 3, "name": "péng", "tags": []], ["_id": 4, "name": "a10"], ["_id": 5, "name": "a9"], ["_id": 6, "name": 7],
        ["_id": 7, "name": ["PONG", "zeta"]],
    ]

    func ids(_ cursor: Cursor) throws -> [BSON] { try cursor.all().map { $0.document()["_id"]! } }

    @Test(arguments: Backend.allCases)
    func findFiltersAndSortsUnderTheCollationWithOrWithoutAnIndex(backend: Backend) throws {
        let engine = try makeEngine(backend)
        defer { engine.close() }
        _ = try engine.insert(ns, CollationTests.people)
        let en2: Document = ["locale": "en", "strength": 2]
        for indexed in [false, true] {
            if indexed { _ = try engine.createIndexes(ns, [["key": ["name": 1], "name": "name_1"]]) }
            func find(_ filter: Document, sort: Document? = nil, _ collation: Document?) throws -> [BSON] {
                var r = FindRequest(filter: filter, sort: sort)
                r.collation = collation
                return try ids(engine.find(ns, r))
            }
            #expect(try find(["name": "Ping"], en2) == [1, 2])
            #expect(try find(["name": "Ping"], nil) == [])
            #expect(try find(["name": "pong"], en2) == [7])   // an array element
            #expect(try find(["name": ["$gt": "PING"]], sort: ["_id": 1], en2) == [7])
            #expect(try find(["name": ["$gte": "PING"]], sort: ["_id": 1], en2) == [1, 2, 7])
            #expect(try find(["name": ["$in": ["PÉNG", 7]]], en2) == [3, 6])
            #expect(try find(["name": ["$nin": ["PING", "A10"]], "_id": ["$lt": 6]], en2) == [3, 5])
            #expect(try find(["name": ["$type": "string"]], sort: ["name": 1, "_id": 1], ["locale": "en", "numericOrdering": true])
                    == [5, 4, 3, 1, 2, 7])
            // Descending, an array sorts by its greatest element ("zeta"); ties keep _id order.
            #expect(try find(["name": ["$type": "string"]], sort: ["name": -1, "_id": 1], ["locale": "en", "strength": 1])
                    == [7, 1, 2, 3, 5, 4])
            // Ascending, by its least ("PONG", after "PING").
            #expect(try find([:], sort: ["name": 1], ["locale": "en"]) == [6, 4, 5, 3, 1, 2, 7])
            #expect(try engine.count(ns, filter: ["name": "PING"], collation: en2) == 2)
            #expect(try engine.distinct(ns, key: "name", collation: ["locale": "en", "strength": 1])
                    == ["ping", "péng", "a10", "a9", 7, "PONG", "zeta"])
            #expect(try engine.distinct(ns, key: "tags", collation: en2) == ["Red", "blue"])
        }
        // The collated equality never reaches an index (its keys are binary).
        var r = FindRequest(filter: ["name": "PING"])
        r.collation = en2
        let plan = try engine.explainFind(ns, r, verbosity: .queryPlanner)
        #expect(plan["queryPlanner"]?.documentValue?["winningPlan"]?.documentValue?["stage"] == "COLLSCAN")
    }

    @Test func aSpilledSortKeepsTheCollatedOrder() throws {
        let engine = try Engine.inMemory()
        let words = ["b", "B", "a", "A", "á", "c", "C", "ç"]
        var docs: [Document] = []
        for i in 0..<2000 { docs.append(["_id": .int32(Int32(i)), "w": .string(words[i % words.count] + String(i % 7))]) }
        _ = try engine.insert(ns, docs)
        var r = FindRequest(sort: ["w": 1, "_id": 1])
        r.collation = ["locale": "en", "strength": 1]
        let inMemory = try engine.find(ns, r).all().map { $0.document() }
        let spilled = try engine.find(ns, r, sortMemoryLimitBytes: 4096).all().map { $0.document() }
        #expect(spilled == inMemory)
        let collator = try #require(try Engine.collator(r.collation))
        let keys = inMemory.map { collator.comparisonKey($0["w"]!.stringValue!) }
        #expect(zip(keys, keys.dropFirst()).allSatisfy { compareUTF8($0, $1) <= 0 })
        // a, A and á tie at strength 1: the first is the smallest _id among them (binary order would start with "A0").
        #expect(inMemory.first == ["_id": 28, "w": "á0"])
    }

    @Test func writesTargetThroughTheCollation() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(ns, CollationTests.people)
        let en2: Document = ["locale": "en", "strength": 2]
        var update = UpdateStatement(filter: ["name": "PING"], update: ["$set": ["hit": true]], multi: true)
        update.collation = en2
        #expect(try engine.update(ns, [update]).modified == 2)
        var one = UpdateStatement(filter: ["name": "A9"], update: ["$set": ["hit": true]])
        one.collation = ["locale": "xx"]
        #expect(try engine.update(ns, [one]).writeErrors.first?.error.code == .badValue)
        var fam = FindAndModifyRequest(filter: ["name": ["$in": ["A10", "A9"]]], sort: ["name": -1], remove: true)
        fam.collation = ["locale": "en", "strength": 2, "numericOrdering": true]
        #expect(try engine.findAndModify(ns, fam).value?["_id"] == 4)
        var delete = DeleteStatement(filter: ["name": "Péng"], limitOne: false)
        delete.collation = en2
        #expect(try engine.delete(ns, [delete]).deleted == 1)
        #expect(try engine.count(ns) == 5)
    }

    @Test func aggregationGroupsMatchesAndJoinsUnderTheCollation() throws {
        let engine = try Engine.inMemory()
        _ = try engine.insert(ns, CollationTests.people)
        _ = try engine.insert(try Namespace(database: ns.database, collection: "colors"),
                              [["_id": "RED", "hex": "#f00"], ["_id": "Blue", "hex": "#00f"]])
        func run(_ pipeline: [BSON], _ collation: Document?) throws -> [Document] {
            var r = AggregateRequest(pipeline: pipeline)
            r.collation = collation
            return try engine.aggregate(database: ns.database, collection: ns.collection, r).all().map { $0.document() }
        }
        let en1: Document = ["locale": "en", "strength": 1]
        #expect(try run([["$match": ["name": "PENG"]], ["$project": ["_id": 1]]], en1) == [["_id": 3]])
        #expect(try run([["$match": ["_id": ["$lte": 3]]], ["$group": ["_id": "$name", "n": ["$sum": 1]]], ["$sort": ["n": -1, "_id": 1]]], en1)
                == [["_id": "ping", "n": 2], ["_id": "péng", "n": 1]])
        #expect(try run([["$unwind": "$tags"], ["$group": ["_id": nil, "tags": ["$addToSet": "$tags"], "min": ["$min": "$tags"],
                                                           "max": ["$max": "$tags"]]]], en1)
                == [["_id": .null, "tags": ["Red", "blue"], "min": "blue", "max": "Red"]])
        #expect(try run([["$match": ["$expr": ["$eq": ["$name", "PÍNG"]]]], ["$count": "n"]], en1) == [["n": 2]])
        #expect(try run([["$match": ["$expr": ["$in": ["PÍNG", ["ping"]]]]], ["$count": "n"]], ["locale": "en", "strength": 3]) == [])
        #expect(try run([["$match": ["_id": 1]], ["$unwind": "$tags"],
                         ["$lookup": ["from": "colors", "localField": "tags", "foreignField": "_id", "as": "c"]],
                         ["$project": ["_id": 0, "tags": 1, "hex": ["$first": "$c.hex"]]]], ["locale": "en", "strength": 2])
                == [["tags": "Red", "hex": "#f00"], ["tags": "blue", "hex": "#00f"]])
        #expect(try run([["$sort": ["name": 1]], ["$limit": 2], ["$project": ["_id": 1]]], ["locale": "en", "numericOrdering": true])
                == [["_id": 6], ["_id": 5]])
        // $setWindowFields: partitions and ranks follow the collation (ping and PING tie).
        #expect(try run([["$match": ["_id": ["$lte": 3]]],
                         ["$setWindowFields": ["partitionBy": ["$substrCP": ["$name", 0, 1]], "sortBy": ["name": 1],
                                               "output": ["r": ["$rank": [:]], "n": ["$count": [:]]]]],
                         ["$project": ["r": 1, "n": 1]], ["$sort": ["_id": 1]]], en1)
                == [["_id": 1, "r": 2, "n": 3], ["_id": 2, "r": 2, "n": 3], ["_id": 3, "r": 1, "n": 3]])
    }
}
