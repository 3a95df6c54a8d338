import Foundation
import Testing
import FolioBSON
@testable import FolioQuery
import FolioTestSupport

/// Runs the filters, updates and projections of `../shared/spec-tests/crud-unified/` through
/// the query layer on a reference collection (the wire-level runner comes with the server).
/// Operations owned by other issues are skipped with a reason and counted.
@Suite struct CRUDUnifiedTests {
    struct Tally {
        var passed = 0, failed = 0
        var skipped: [String: Int] = [:]
        var failures: [String] = []
    }

    static let skipOperations: [String: String] = [
        "aggregate": "aggregation pipeline (issue 7)",
        "clientBulkWrite": "client bulkWrite command (server, issue 5)",
        "failPoint": "fail points (server test hooks)",
        "createIndex": "indexes (issue 6)",
        "dropCollection": "catalog (issue 3)",
        "createCollection": "catalog (issue 3)",
        "modifyCollection": "catalog (issue 3)",
    ]

    @Test func crudUnifiedThroughTheQueryLayer() throws {
        let dir = TestSupport.specTestsDirectory.appendingPathComponent("crud-unified")
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
        #expect(files.count > 100)
        var tally = Tally()
        for file in files {
            let text = try String(contentsOf: file, encoding: .utf8)
            let suite = try ExtendedJSON.document(from: text)
            if let reason = Self.requirementsSkip(suite["runOnRequirements"]) {
                tally.skipped[reason, default: 0] += (suite["tests"]?.arrayValue?.count ?? 0)
                continue
            }
            for case .document(let test) in suite["tests"]?.arrayValue ?? [] {
                let name = "\(file.lastPathComponent): \(test["description"]?.stringValue ?? "")"
                if let reason = Self.requirementsSkip(test["runOnRequirements"]) ?? Self.testSkip(test) {
                    tally.skipped[reason, default: 0] += 1
                    continue
                }
                do {
                    if let failure = try Self.run(test, suite: suite) {
                        tally.failed += 1
                        tally.failures.append("\(name): \(failure)")
                    } else {
                        tally.passed += 1
                    }
                } catch {
                    tally.failed += 1
                    tally.failures.append("\(name): threw \(error)")
                }
            }
        }
        let skippedTotal = tally.skipped.values.reduce(0, +)
        print("crud-unified (query layer): \(tally.passed) passed, \(tally.failed) failed, \(skippedTotal) skipped")
        for (reason, n) in tally.skipped.sorted(by: { $0.key < $1.key }) { print("  skipped \(n): \(reason)") }
        for f in tally.failures { print("  FAIL \(f)") }
        #expect(tally.failed == 0)
        #expect(tally.passed > 150)
    }

    static func requirementsSkip(_ requirements: BSON?) -> String? {
        guard case .array(let list)? = requirements, !list.isEmpty else { return nil }
        for case .document(let r) in list {
            if let max = r["maxServerVersion"]?.stringValue, Self.version(max).lexicographicallyPrecedes(Self.version("8.0")) { continue }
            if let min = r["minServerVersion"]?.stringValue, Self.version("8.0.99").lexicographicallyPrecedes(Self.version(min)) { continue }
            if case .array(let topologies)? = r["topologies"],
               !topologies.contains(where: { ["replicaset", "single"].contains($0.stringValue ?? "") }) { continue }
            if r["serverless"]?.stringValue == "require" { continue }
            if r["csfle"] != nil { continue }
            return nil
        }
        return "runOnRequirements exclude a MongoDB 8.0 replica set"
    }

    static func version(_ s: String) -> [Int] {
        var parts = s.split(separator: ".").map { Int($0) ?? 0 }
        while parts.count < 3 { parts.append(0) }
        return parts
    }

    static func testSkip(_ test: Document) -> String? {
        for case .document(let op) in test["operations"]?.arrayValue ?? [] {
            let name = op["name"]?.stringValue ?? ""
            if let reason = skipOperations[name] { return reason }
            let arguments = op["arguments"]?.documentValue ?? Document()
            if arguments["collation"] != nil { return "collation (not supported yet; needs ICU)" }
            if arguments["rawData"] != nil { return "rawData (time-series internals)" }
            if case .document(let e)? = op["expectError"], e["isClientError"]?.boolValue == true {
                return "driver-side validation (isClientError)"
            }
            if case .array(let requests)? = arguments["requests"] {
                for case .document(let r) in requests where r.contains(where: { ($0.value.documentValue?["collation"]) != nil }) {
                    return "collation (not supported yet; needs ICU)"
                }
            }
        }
        return nil
    }

    /// Runs one test; returns a failure description or nil.
    static func run(_ test: Document, suite: Document) throws -> String? {
        var collections: [String: ReferenceCollection] = [:]
        for case .document(let data) in suite["initialData"]?.arrayValue ?? [] {
            let name = data["collectionName"]!.stringValue!
            collections[name] = ReferenceCollection(data["documents"]!.arrayValue!.map { $0.documentValue! })
        }
        var entityCollection: [String: String] = [:]
        var unacknowledged: Set<String> = []
        for case .document(let entity) in suite["createEntities"]?.arrayValue ?? [] {
            if case .document(let c)? = entity["collection"] {
                entityCollection[c["id"]!.stringValue!] = c["collectionName"]!.stringValue!
                if c["collectionOptions"]?.documentValue?["writeConcern"]?.documentValue?["w"]?.exactInt64 == 0 {
                    unacknowledged.insert(c["id"]!.stringValue!)
                }
            }
        }
        for case .document(let op) in test["operations"]?.arrayValue ?? [] {
            let collectionName = entityCollection[op["object"]?.stringValue ?? ""] ?? ""
            if collections[collectionName] == nil { collections[collectionName] = ReferenceCollection() }
            let collection = collections[collectionName]!
            var arguments = op["arguments"]?.documentValue ?? Document()
            if unacknowledged.contains(op["object"]?.stringValue ?? "") { arguments["writeConcern"] = ["w": 0] }
            let result: Result<BSON, FolioError>
            do {
                result = .success(try perform(op["name"]!.stringValue!, arguments, collection))
            } catch let error as FolioError {
                result = .failure(error)
            }
            if case .document(let expected)? = op["expectError"] {
                guard case .failure(let error) = result else { return "expected an error, got success" }
                if let code = expected["errorCode"]?.exactInt64, code != Int64(error.code.rawValue) {
                    return "error code \(error.code.rawValue), wanted \(code): \(error.message)"
                }
                if let contains = expected["errorContains"]?.stringValue,
                   !error.message.lowercased().contains(contains.lowercased()) {
                    return "error '\(error.message)' does not contain '\(contains)'"
                }
                continue
            }
            switch result {
            case .failure(let error): return "unexpected error \(error)"
            case .success(let value):
                if let expected = op["expectResult"], let m = UnifiedMatcher.mismatch(expected, value) {
                    return "result mismatch \(m)"
                }
            }
        }
        for case .document(let outcome) in test["outcome"]?.arrayValue ?? [] {
            let name = outcome["collectionName"]!.stringValue!
            let actual = (collections[name]?.documents ?? []).sorted { BSON.compare($0["_id"] ?? .null, $1["_id"] ?? .null) < 0 }
            let expected = outcome["documents"]!.arrayValue!
            if let m = UnifiedMatcher.mismatch(.array(expected), .array(actual.map(BSON.document)), root: false) {
                return "outcome mismatch \(m)"
            }
        }
        return nil
    }

    static func intArgument(_ d: Document, _ key: String) -> Int { d[key]?.exactInt64.map { Int($0) } ?? 0 }

    static func perform(_ name: String, _ a: Document, _ c: ReferenceCollection) throws -> BSON {
        let filter = a["filter"]?.documentValue ?? Document()
        let constants = try Expression.evaluateLet(a["let"]?.documentValue)
        if a["writeConcern"]?.documentValue?["w"]?.exactInt64 == 0 {
            // Unacknowledged: the write happens, the client sees no result.
            _ = try? perform(name, Document(a.filter { $0.key != "writeConcern" }.map { ($0.key, $0.value) }), c)
            return name.hasPrefix("findOneAnd") ? .null : ["acknowledged": false]
        }
        switch name {
        case "find", "findOne":
            let docs = try c.find(filter, sort: a["sort"]?.documentValue, skip: intArgument(a, "skip"),
                                  limit: name == "findOne" ? 1 : intArgument(a, "limit"), projection: a["projection"]?.documentValue,
                                  constants: constants)
            return name == "findOne" ? (docs.first.map(BSON.document) ?? .null) : .array(docs.map(BSON.document))
        case "insertOne":
            return ["insertedId": try c.insert(a["document"]!.documentValue!)]
        case "insertMany":
            var ids = Document()
            var firstError: FolioError?
            for (i, d) in a["documents"]!.arrayValue!.enumerated() {
                do {
                    ids.append(String(i), try c.insert(d.documentValue!))
                } catch let error as FolioError {
                    firstError = firstError ?? error
                    if a["ordered"]?.boolValue ?? true { break }
                }
            }
            if let firstError { throw firstError }
            return ["insertedIds": .document(ids)]
        case "updateOne", "updateMany", "replaceOne":
            if name == "updateOne" || name == "updateMany", case .document(let u)? = a["update"], u.fieldNames.first?.hasPrefix("$") != true {
                throw FolioError(.failedToParse, "update document requires atomic operators")
            }
            let r = try c.update(filter, a["update"] ?? a["replacement"]!, multi: name == "updateMany",
                                 upsert: a["upsert"]?.boolValue ?? false, arrayFilters: a["arrayFilters"]?.arrayValue,
                                 sort: a["sort"]?.documentValue, constants: constants)
            var out: Document = ["matchedCount": .int32(Int32(r.matched)), "modifiedCount": .int32(Int32(r.modified)),
                                 "upsertedCount": .int32(r.upsertedID == nil ? 0 : 1)]
            if let id = r.upsertedID { out["upsertedId"] = id }
            return .document(out)
        case "deleteOne", "deleteMany":
            return ["deletedCount": .int32(Int32(try c.delete(filter, multi: name == "deleteMany", constants: constants)))]
        case "countDocuments", "count":
            return .int64(Int64(try c.count(filter, skip: intArgument(a, "skip"), limit: intArgument(a, "limit"))))
        case "estimatedDocumentCount":
            return .int64(Int64(c.documents.count))
        case "distinct":
            return .array(try c.distinct(a["fieldName"]!.stringValue!, filter))
        case "findOneAndUpdate", "findOneAndReplace", "findOneAndDelete":
            let kind: ReferenceCollection.FindAndModifyKind = name == "findOneAndDelete" ? .remove : .update(a["update"] ?? a["replacement"]!)
            let d = try c.findAndModify(filter, kind, sort: a["sort"]?.documentValue,
                                        returnNew: a["returnDocument"]?.stringValue == "After", upsert: a["upsert"]?.boolValue ?? false,
                                        projection: a["projection"]?.documentValue, arrayFilters: a["arrayFilters"]?.arrayValue,
                                        constants: constants)
            return d.map(BSON.document) ?? .null
        case "bulkWrite":
            return try bulkWrite(a, c)
        default:
            throw FolioError(.commandNotSupported, "operation \(name) not supported by the runner")
        }
    }

    static func bulkWrite(_ a: Document, _ c: ReferenceCollection) throws -> BSON {
        var inserted = 0, matched = 0, modified = 0, deleted = 0, upserted = 0
        var upsertedIDs = Document(), insertedIDs = Document()
        let constants = try Expression.evaluateLet(a["let"]?.documentValue)
        var firstError: FolioError?
        for (i, request) in (a["requests"]?.arrayValue ?? []).enumerated() {
            guard case .document(let r) = request, let (kind, argsValue) = r.first(where: { _ in true }), case .document(let args) = argsValue else { continue }
            let filter = args["filter"]?.documentValue ?? Document()
            do {
            switch kind {
            case "insertOne":
                insertedIDs.append(String(i), try c.insert(args["document"]!.documentValue!))
                inserted += 1
            case "updateOne", "updateMany", "replaceOne":
                let result = try c.update(filter, args["update"] ?? args["replacement"]!, multi: kind == "updateMany",
                                          upsert: args["upsert"]?.boolValue ?? false, arrayFilters: args["arrayFilters"]?.arrayValue,
                                          sort: args["sort"]?.documentValue, constants: constants)
                matched += result.matched
                modified += result.modified
                if let id = result.upsertedID { upserted += 1; upsertedIDs.append(String(i), id) }
            case "deleteOne", "deleteMany":
                deleted += try c.delete(filter, multi: kind == "deleteMany", constants: constants)
            default:
                throw FolioError(.commandNotSupported, "bulk request \(kind)")
            }
            } catch let error as FolioError {
                firstError = firstError ?? error
                if a["ordered"]?.boolValue ?? true { break }
            }
        }
        if let firstError { throw firstError }
        return ["deletedCount": .int32(Int32(deleted)), "insertedCount": .int32(Int32(inserted)),
                "insertedIds": .document(insertedIDs), "matchedCount": .int32(Int32(matched)),
                "modifiedCount": .int32(Int32(modified)), "upsertedCount": .int32(Int32(upserted)),
                "upsertedIds": .document(upsertedIDs)]
    }
}
