import FolioBSON
import FolioQuery

extension Engine {
    /// Runs `$out` or `$merge` over the pipeline's output.
    func runWrite(_ stage: AggregationStage, input: any DocumentStream, environment env: PipelineEnvironment,
                  sourceDatabase: String) throws(FolioError) {
        switch stage {
        case .out(let database, let collection):
            try runOut(input, target: try env.namespace(collection, database: database), environment: env)
        case .merge(let spec):
            try runMerge(input, spec: spec, environment: env)
        default:
            break
        }
    }

    /// `$out`: the results go into a temporary collection (with the target's options), which
    /// then replaces the target in one catalog step; on any error the target is untouched.
    func runOut(_ input: any DocumentStream, target: Namespace, environment env: PipelineEnvironment) throws(FolioError) {
        if target.collection.hasPrefix("system.") {
            throw FolioError(.invalidNamespace, "Invalid $out target namespace, \(target)")
        }
        let options = collections(in: target.database).first { $0.name == target.collection }?.options ?? Document()
        if options["viewOn"] != nil {
            throw FolioError(.commandNotSupportedOnView, "Namespace \(target) is a view, not a collection")
        }
        if CappedLimits(options: options) != nil {
            throw FolioError(ErrorCode(rawValue: 17152), "namespace '\(target)' is capped so it can't be used for $out")
        }
        var g = SystemRandomNumberGenerator()
        let temp = try Namespace(database: target.database,
                                 collection: "tmp.agg_out.\(String(UInt64.random(in: 0...UInt64.max, using: &g), radix: 16))")
        try createCollection(temp, options: options)
        do {
            var batch: [Document] = []
            func flush() throws(FolioError) {
                guard !batch.isEmpty else { return }
                let result = try insert(temp, batch, options: WriteOptions(ordered: true, bypassDocumentValidation: env.bypassDocumentValidation))
                if let first = result.writeErrors.first { throw first.error }
                batch.removeAll(keepingCapacity: true)
            }
            while let d = try input.next() {
                batch.append(d)
                if batch.count == 1000 { try flush() }
            }
            try flush()
            try renameCollection(temp, to: target, dropTarget: true)
        } catch {
            _ = try? dropCollection(temp)
            throw error
        }
    }

    /// `$merge`: each result is matched to the target by its `on` fields (`_id` unless given).
    func runMerge(_ input: any DocumentStream, spec: MergeSpec, environment env: PipelineEnvironment) throws(FolioError) {
        let target = try env.namespace(spec.collection, database: spec.database)
        if let on = spec.on, !(on.count == 1 && on[0].dotted == "_id") {
            // Only a unique index can back other join fields; Folio has the _id index alone.
            throw FolioError(ErrorCode(rawValue: 51183), "Cannot find index to verify that join fields will be unique")
        }
        let options = WriteOptions(ordered: true, bypassDocumentValidation: env.bypassDocumentValidation)
        // Results go to the target 1,000 at a time, in one commit each, in order (a commit per
        // result cost 120 µs each: 2 minutes for 1,000,000 results, measured); the first error
        // stops the stage with the results before it written, as one at a time did.
        var updates: [UpdateStatement] = [], inserts: [Document] = []
        func flushUpdates() throws(FolioError) {
            guard !updates.isEmpty else { return }
            let r = try update(target, updates, options: options)
            updates.removeAll(keepingCapacity: true)
            try failIfNeeded(r)
        }
        func flushInserts() throws(FolioError) {
            guard !inserts.isEmpty else { return }
            let r = try insert(target, inserts, options: options)
            defer { inserts.removeAll(keepingCapacity: true) }
            if let e = r.writeErrors.first {
                if e.error.code == .duplicateKey {
                    var error = e.error
                    error.message = "$merge with whenMatched: fail found an existing document with the same values for the 'on' field: \(["_id": inserts[e.index]["_id"] ?? .null] as Document)"
                    throw error
                }
                throw e.error
            }
        }
        func failIfNeeded(_ r: UpdateResult) throws(FolioError) {
            if let e = r.writeErrors.first { throw e.error }
        }
        func batched(_ statement: UpdateStatement) throws(FolioError) {
            updates.append(statement)
            if updates.count == Engine.mergeBatchDocuments { try flushUpdates() }
        }
        while let result = try input.next() {
            var d = result
            if d["_id"] == nil { d.insert("_id", .objectID(ObjectID()), at: 0) }
            let id = d["_id"]!
            switch id {
            case .null, .undefined, .array:
                throw FolioError(ErrorCode(rawValue: 51132), "$merge write error: 'on' field cannot be missing, null, undefined or an array")
            default: break
            }
            let filter: Document = ["_id": id]
            switch (spec.whenMatched, spec.whenNotMatched) {
            case (.replace, .insert):
                try batched(UpdateStatement(filter: filter, update: .document(d), upsert: true))
            case (.merge, .insert):
                try batched(UpdateStatement(filter: filter, update: ["$set": .document(d)], upsert: true))
            case (.keepExisting, .insert):
                try batched(UpdateStatement(filter: filter, update: ["$setOnInsert": .document(d)], upsert: true))
            case (.fail, .insert):
                inserts.append(d)
                if inserts.count == Engine.mergeBatchDocuments { try flushInserts() }
            case (.fail, _):
                throw FolioError(ErrorCode(rawValue: 51181), "Combination of $merge modes 'whenMatched: fail' and 'whenNotMatched: \(spec.whenNotMatched.rawValue)' is not supported")
            default:
                let update: BSON
                var constants: [String: BSON] = [:]
                switch spec.whenMatched {
                case .replace: update = .document(d)
                case .merge: update = ["$set": .document(d)]
                case .keepExisting: update = ["$set": [:]]
                case .pipeline(let stages):
                    update = .array(stages)
                    if let lets = spec.letVariables {
                        for (name, e) in lets { constants[name] = try e.evaluate(env.context(d)) ?? .null }
                    } else {
                        constants["new"] = .document(d)
                    }
                case .fail: update = .document(d)
                }
                // Each result's outcome decides what follows: one at a time.
                try flushUpdates()
                try flushInserts()
                let r = try self.update(target, [UpdateStatement(filter: filter, update: update, constants: constants)], options: options)
                try failIfNeeded(r)
                if r.matched == 0 {
                    switch spec.whenNotMatched {
                    case .insert:
                        let ins = try insert(target, [d], options: options)
                        if let e = ins.writeErrors.first { throw e.error }
                    case .discard: break
                    case .fail:
                        throw FolioError(ErrorCode(rawValue: 13113), "$merge could not find a matching document in the target collection for at least one document in the source collection")
                    }
                }
            }
        }
        try flushUpdates()
        try flushInserts()
    }

    /// Results `$merge` writes per commit.
    static let mergeBatchDocuments = 1_000
}
