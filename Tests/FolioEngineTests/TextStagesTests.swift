import Testing
import FolioBSON
import FolioQuery
@testable import FolioEngine
import FolioTestSupport
import FolioText

/// `$text` through the engine: the text index's keys, TEXT_MATCH over TEXT_OR over term scans,
/// scores from the index entries, and the rules of where `$text` may appear.
@Suite struct TextStagesTests {
    let articles = try! Namespace(database: "cms", collection: "articles")

    func engine(_ backend: Backend) throws -> Engine {
        let e = try makeEngine(backend)
        _ = try e.createIndexes(articles, [["key": ["title": "text", "body": "text"], "name": "articles_text", "weights": ["title": 10]]])
        _ = try e.insert(articles, [
            ["_id": 1, "title": "Coffee", "body": "How to brew coffee at home", "status": "A"],
            ["_id": 2, "title": "Tea time", "body": "Green tea and black tea, no coffee", "status": "A"],
            ["_id": 3, "title": "Cakes", "body": "Baking with coffee and cream", "status": "D"],
            ["_id": 4, "title": "Gardening", "body": "Roses and tulips", "status": "A"],
        ])
        return e
    }

    func ids(_ e: Engine, _ request: FindRequest) throws -> [Int64] {
        try e.find(articles, request).all().map { $0.document()["_id"]?.exactInt64 ?? -1 }
    }

    @Test(arguments: Backend.allCases)
    func listsTheIndexAsMongoDBDoes(backend: Backend) throws {
        let e = try engine(backend)
        defer { e.close() }
        let spec = try e.indexSpecifications(articles).last
        #expect(spec == ["v": .int32(2), "key": ["_fts": "text", "_ftsx": .int32(1)], "name": "articles_text",
                         "weights": ["body": .int32(1), "title": .int32(10)], "default_language": "english",
                         "language_override": "language", "textIndexVersion": .int32(3)])
        // Every text index has the same key pattern: a second one is the same index with other options.
        #expect(failure { try e.createIndexes(articles, [["key": ["other": "text"], "name": "other_text"]]) }?.code == .indexOptionsConflict)
    }

    /// Scores worked out by hand: title weight 10 × 1.1 (the title is the one word "Coffee"),
    /// body "How to brew coffee at home" → tokens how, brew, coffe, home (to and at are stop words).
    /// `$text` in a branch of `$or`: OR over the text plan and an index scan per other branch,
    /// only when every other branch is indexed; the other branches' documents have no score.
    @Test(arguments: Backend.allCases)
    func textUnderOrWhenTheOtherBranchesAreIndexed(backend: Backend) throws {
        let e = try engine(backend)
        defer { e.close() }
        let filter: Document = ["$or": [["$text": ["$search": "tea"]], ["status": "D"]]]
        #expect(failure { try e.find(articles, FindRequest(filter: filter)).all() }?.code == .noQueryExecutionPlans)
        _ = try e.createIndexes(articles, [["key": ["status": 1], "name": "status_1"]])
        let rows = try e.find(articles, FindRequest(filter: filter, sort: ["_id": 1], projection: ["s": ["$meta": "textScore"], "_id": 1])).all().map { $0.document() }
        #expect(rows.map { $0["_id"]?.exactInt64 } == [2, 3])
        #expect(rows[0]["s"]?.asDouble ?? 0 > 0)
        #expect(rows[1]["s"] == nil)
    }

    @Test(arguments: Backend.allCases)
    func scoresSortAndProjectByTheTextScore(backend: Backend) throws {
        let e = try engine(backend)
        defer { e.close() }
        var r = FindRequest(filter: ["$text": ["$search": "coffee"]], sort: ["score": ["$meta": "textScore"]],
                            projection: ["score": ["$meta": "textScore"], "title": 1])
        let docs = try e.find(articles, r).all().map { $0.document() }
        #expect(docs.map { $0["_id"] } == [1, 3, 2])
        // The title's term "coffe" is not the whole field "Coffee" (no 1.1 boost); "how", "to"
        // and "at" are stop words, so the body has three tokens.
        let coffeeTitle = 10 * 1.0 * 1.0
        let howToBrew = 1 * 1.0 * (0.5 * 1 / 3 + 0.5)
        #expect(docs[0] == ["_id": 1, "title": "Coffee", "score": .double(coffeeTitle + howToBrew)])
        // "Baking with coffee and cream": bake, coffe, cream (with, and are stop words).
        #expect(docs[1]["score"] == .double(1 * (0.5 * 1 / 3 + 0.5)))
        // No projection: the stored document exactly, without the score.
        r.projection = nil
        let plain = try e.find(articles, r).all().map { $0.document() }
        #expect(plain.first == ["_id": 1, "title": "Coffee", "body": "How to brew coffee at home", "status": "A"])
    }

    /// An index built over documents already stored gives them the same keys as inserts do.
    @Test(arguments: Backend.allCases)
    func anIndexBuiltOverStoredDocuments(backend: Backend) throws {
        let e = try makeEngine(backend)
        defer { e.close() }
        let docs: [Document] = [
            ["_id": 1, "meta": ["note": "tea leaves"], "body": "green tea"],
            ["_id": 2, "body": "teas", "language": "spanish"],
            ["_id": 3, "body": "coffee"],
        ]
        let before = try Namespace(database: "cms", collection: "before")
        let after = try Namespace(database: "cms", collection: "after")
        _ = try e.insert(before, docs)
        _ = try e.createIndexes(before, [["key": ["$**": "text"], "name": "all_text"]])
        _ = try e.createIndexes(after, [["key": ["$**": "text"], "name": "all_text"]])
        _ = try e.insert(after, docs)
        for search in ["tea", "leaves", "coffee tea"] {
            let request = FindRequest(filter: ["$text": ["$search": .string(search)]], sort: ["_id": 1], projection: ["s": ["$meta": "textScore"]])
            let built = try e.find(before, request).all().map { $0.document() }
            let inserted = try e.find(after, request).all().map { $0.document() }
            #expect(!built.isEmpty)
            #expect(built == inserted, "search \(search)")
        }
    }

    /// Past 8,192 hits the records are read in key order with the store's cursor, in
    /// chunks that grow over dense runs and shrink over sparse ones: every hit once, in order.
    @Test(arguments: Backend.allCases)
    func manyHitsAreReadInKeyOrder(backend: Backend) throws {
        let e = try makeEngine(backend)
        defer { e.close() }
        let posts = try Namespace(database: "cms", collection: "posts")
        _ = try e.createIndexes(posts, [["key": ["body": "text"], "name": "body_text"]])
        // alpha: ids below 8,400 (dense), then every 7th (sparse); beta: every other id.
        func words(_ i: Int) -> String {
            [(i < 8_400 || i % 7 == 0) ? "alpha" : "gamma", i % 2 == 0 ? "beta" : "delta"].joined(separator: " ")
        }
        _ = try e.insert(posts, (0..<10_000).map { ["_id": .int32(Int32($0)), "body": .string(words($0)), "n": .int32(Int32($0 % 10))] })
        func ids(_ search: String, _ more: Document = [:]) throws -> [Int] {
            var filter: Document = ["$text": ["$search": .string(search)]]
            for (k, v) in more { filter.append(k, v) }
            return try e.find(posts, FindRequest(filter: filter)).all().map { Int($0.document()["_id"]!.exactInt64!) }
        }
        let alpha = (0..<10_000).filter { $0 < 8_400 || $0 % 7 == 0 }
        #expect(alpha.count > TextOrStage.bulkFetches)
        #expect(try ids("alpha") == alpha)
        let isAlpha = Set(alpha)
        #expect(try ids("alpha beta") == (0..<10_000).filter { isAlpha.contains($0) || $0 % 2 == 0 })
        #expect(try ids("alpha -beta") == alpha.filter { $0 % 2 == 1 })
        #expect(try ids("alpha", ["n": 3]) == alpha.filter { $0 % 10 == 3 })
        // The scores ride along with their records.
        let scored = try e.find(posts, FindRequest(filter: ["$text": ["$search": "alpha beta"], "_id": ["$in": [0, 1, 3]]],
                                                   projection: ["_id": 1, "s": ["$meta": "textScore"]])).all().map { $0.document() }
        #expect(scored == [["_id": 0, "s": 1.5], ["_id": 1, "s": 0.75], ["_id": 3, "s": 0.75]])
    }

    /// A negated word that is some language's stop word has no index key in a document of
    /// that language, yet MongoDB's matcher (which keeps stop words) excludes the document:
    /// such words are left to the matcher. (Found by TextDifferentialTests.)
    @Test(arguments: Backend.allCases)
    func negatedStopWordsOfADocumentsLanguageStillExclude(backend: Backend) throws {
        let e = try makeEngine(backend)
        defer { e.close() }
        let notes = try Namespace(database: "cms", collection: "notes")
        _ = try e.createIndexes(notes, [["key": ["t": "text"], "name": "t_text"]])
        _ = try e.insert(notes, [["_id": 1, "t": "sun in l'été", "language": "french"], ["_id": 2, "t": "sun and été"],
                                 ["_id": 3, "t": "sun"]])
        func ids(_ search: String) throws -> [Int] {
            try e.find(notes, FindRequest(filter: ["$text": ["$search": .string(search)]], sort: ["_id": 1])).all()
                .map { Int($0.document()["_id"]!.exactInt64!) }
        }
        #expect(StopWords.tokensOfStopWords.contains("ete") && !StopWords.tokensOfStopWords.contains("sun"))
        #expect(try ids("sun -été") == [3])
        #expect(try ids("sun -ÉTÉ") == [3])
    }

    @Test(arguments: Backend.allCases)
    func negationsPhrasesAndOtherPredicates(backend: Backend) throws {
        let e = try engine(backend)
        defer { e.close() }
        #expect(Set(try ids(e, FindRequest(filter: ["$text": ["$search": "coffee tea"]]))) == [1, 2, 3])
        #expect(Set(try ids(e, FindRequest(filter: ["$text": ["$search": "coffee -tea"]]))) == [1, 3])
        #expect(try ids(e, FindRequest(filter: ["$text": ["$search": "\"brew coffee\""]])) == [1])
        #expect(Set(try ids(e, FindRequest(filter: ["$text": ["$search": "coffee"], "status": "A"]))) == [1, 2])
        #expect(try ids(e, FindRequest(filter: ["$text": ["$search": "the and"]])).isEmpty)
        // Stemming: "brewing" finds "brew".
        #expect(try ids(e, FindRequest(filter: ["$text": ["$search": "brewing"]])) == [1])
        // Writes follow the index: an update moves the terms, a delete removes them.
        _ = try e.update(articles, [UpdateStatement(filter: ["_id": 4], update: ["$set": ["body": "Roses and coffee"]])])
        #expect(Set(try ids(e, FindRequest(filter: ["$text": ["$search": "coffee"]]))) == [1, 2, 3, 4])
        _ = try e.delete(articles, [DeleteStatement(filter: ["$text": ["$search": "roses"]], limitOne: false)])
        #expect(Set(try ids(e, FindRequest(filter: ["$text": ["$search": "coffee"]]))) == [1, 2, 3])
    }

    @Test(arguments: Backend.allCases)
    func explainShowsTextMatchOverTextOrOverIndexScans(backend: Backend) throws {
        let e = try engine(backend)
        defer { e.close() }
        let explain = try e.explainFind(articles, FindRequest(filter: ["$text": ["$search": "coffee -tea"], "status": "A"]),
                                        verbosity: .executionStats)
        let plan = winningPlan(explain)
        #expect(stageNames(plan) == ["TEXT_MATCH", "TEXT_OR", "IXSCAN"])
        #expect(plan["indexName"] == "articles_text" && plan["textIndexVersion"] == .int32(3))
        #expect(plan["parsedTextQuery"] == ["terms": ["coffe"], "negatedTerms": ["tea"], "phrases": [], "negatedPhrases": []])
        #expect(stage("IXSCAN", in: plan)?["direction"] == "backward")
        #expect(executionStats(explain)["nReturned"] == .int32(1))
        #expect(executionStats(explain)["totalKeysExamined"] == .int32(3))
    }

    @Test(arguments: Backend.allCases)
    func errorsAsMongoDBAnswersThem(backend: Backend) throws {
        let e = try engine(backend)
        defer { e.close() }
        let other = try Namespace(database: "cms", collection: "plain")
        _ = try e.insert(other, [["_id": 1]])
        #expect(failure { try e.find(other, FindRequest(filter: ["$text": ["$search": "x"]])).all() }?.code == .indexNotFound)
        let cases: [(Document, Int32)] = [
            (["$text": "x"], 2), (["$text": [:]], 9), (["$text": ["$search": 1]], 14), (["$text": ["$search": "x", "bogus": 1]], 2),
            (["$text": ["$search": "x", "$caseSensitive": 1]], 14), (["$text": ["$search": "x", "$language": "klingon"]], 2),
            (["$and": [["$text": ["$search": "x"]], ["$text": ["$search": "y"]]]], 2), (["$nor": [["$text": ["$search": "x"]]]], 2),
            (["a": ["$elemMatch": ["$text": ["$search": "x"]]]], 2),
        ]
        for (filter, code) in cases {
            #expect(failure { try e.find(articles, FindRequest(filter: filter)).all() }?.code.rawValue == code, "\(filter)")
        }
        #expect(failure { try e.find(articles, FindRequest(filter: [:], sort: ["s": ["$meta": "textScore"]])).all() }?.code.rawValue == 40218)
        #expect(failure { try e.find(articles, FindRequest(filter: [:], projection: ["s": ["$meta": "textScore"]])).all() }?.code.rawValue == 40218)
        // Text options belong to text indexes only.
        for option in ["weights", "default_language", "language_override", "textIndexVersion"] {
            var spec: Document = ["key": ["a": 1], "name": "a_1"]
            spec.append(option, option == "weights" ? ["a": 2] : "english")
            #expect(failure { try e.createIndexes(other, [spec]) }?.code == .commandNotSupported, "\(option)")
        }
    }

    @Test(arguments: Backend.allCases)
    func compoundTextIndexesNeedTheirPrefix(backend: Backend) throws {
        let e = try makeEngine(backend)
        defer { e.close() }
        let messages = try Namespace(database: "chat", collection: "messages")
        _ = try e.createIndexes(messages, [["key": ["tenant": 1, "text": "text"], "name": "tenant_text"]])
        _ = try e.insert(messages, [["_id": 1, "tenant": "a", "text": "hello world"], ["_id": 2, "tenant": "b", "text": "hello there"]])
        #expect(try e.find(messages, FindRequest(filter: ["tenant": "b", "$text": ["$search": "hello"]])).all().map { $0.document()["_id"]?.exactInt64 } == [2])
        #expect(failure { try e.find(messages, FindRequest(filter: ["$text": ["$search": "hello"]])).all() }?.code == .noQueryExecutionPlans)
        #expect(try e.insert(messages, [["tenant": ["x", "y"], "text": "hi"]]).writeErrors.first?.error.code.rawValue == 16675)
    }

    /// Aggregation: a first `$match` with `$text` reads the index; `{$meta: "textScore"}` works
    /// in `$project`, `$addFields`, `$sort` and `$group`, and never reaches the output or `$out`.
    @Test(arguments: Backend.allCases)
    func aggregationReadsTheScoreAsMetadata(backend: Backend) throws {
        let e = try engine(backend)
        defer { e.close() }
        func run(_ pipeline: [BSON]) throws -> [Document] {
            try e.aggregate(database: "cms", collection: "articles", AggregateRequest(pipeline: pipeline)).all().map { $0.document() }
        }
        let bake = 1 * (0.5 * 1 / 3 + 0.5)
        let projected = try run([["$match": ["$text": ["$search": "coffee"]]], ["$sort": ["s": ["$meta": "textScore"]]],
                                 ["$project": ["_id": 1, "s": ["$meta": "textScore"]]]])
        #expect(projected.map { $0["_id"] } == [1, 3, 2])
        #expect(projected[1] == ["_id": 3, "s": .double(bake)])
        // "cake" is not the whole title "Cakes": no 1.1 boost.
        let added = try run([["$match": ["$text": ["$search": "cakes"]]], ["$addFields": ["s": ["$meta": "textScore"]]]])
        #expect(added == [["_id": 3, "title": "Cakes", "body": "Baking with coffee and cream", "status": "D", "s": .double(10)]])
        let grouped = try run([["$match": ["$text": ["$search": "cakes"]]], ["$group": ["_id": nil, "total": ["$sum": ["$meta": "textScore"]]]]])
        #expect(grouped == [["_id": .null, "total": .double(10)]])
        // Without reading the score, documents come as stored.
        #expect(try run([["$match": ["$text": ["$search": "cakes"]]]]).first?.fieldNames == ["_id", "title", "body", "status"])
        _ = try run([["$match": ["$text": ["$search": "cakes"]]], ["$addFields": ["s": ["$meta": "textScore"]]], ["$out": "found"]])
        let written = try e.find(try Namespace(database: "cms", collection: "found"), FindRequest()).all().map { $0.document() }
        #expect(written.first?.fieldNames == ["_id", "title", "body", "status", "s"])
        // The score needs a leading `$match` with `$text`; a later one is refused.
        #expect(failure { try run([["$project": ["s": ["$meta": "textScore"]]]]) }?.code.rawValue == 40218)
        #expect(failure { try run([["$limit": 1], ["$match": ["$text": ["$search": "x"]]]]) }?.code.rawValue == 17313)
        #expect(failure { try run([["$project": ["s": ["$meta": 1]]]]) }?.code.rawValue == 17307)
        #expect(failure { try run([["$project": ["s": ["$meta": "bogus"]]]]) }?.code.rawValue == 17308)
    }

    /// Paths that never reach the text index refuse `$text` instead of matching everything.
    @Test(arguments: Backend.allCases)
    func pathsWithoutTheIndexRefuseText(backend: Backend) throws {
        let e = try engine(backend)
        defer { e.close() }
        let spec = try ChangeStreamSpec(parsing: [:], database: "cms", collection: "articles")
        #expect(failure { try e.watch(spec, pipeline: [["$match": ["$text": ["$search": "x"]]]]) }?.code.rawValue == 17313)
        #expect(failure { try e.createIndexes(articles, [["key": ["a": 1], "name": "p", "partialFilterExpression": ["$text": ["$search": "x"]]]]) }?.code == .cannotCreateIndex)
        let log = try Namespace(database: "cms", collection: "log")
        _ = try e.createCollection(log, options: ["capped": true, "size": 4096])
        var tailing = FindRequest(filter: ["$text": ["$search": "x"]])
        tailing.tailable = true
        #expect(failure { try e.find(log, tailing) }?.code == .badValue)
    }
}
