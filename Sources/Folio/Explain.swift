internal import FolioEngine
internal import FolioQuery

/// How much `explain` runs: the chosen plan only, or the plan run to the end with its true
/// counts, or also every candidate plan's trial.
public enum ExplainVerbosity: String, Sendable {
    case queryPlanner, executionStats, allPlansExecution

    var engine: FolioEngine.ExplainVerbosity {
        switch self {
        case .queryPlanner: .queryPlanner
        case .executionStats: .executionStats
        case .allPlansExecution: .allPlansExecution
        }
    }
}

extension FolioCollection {
    /// The plan a `find` would run, in MongoDB's explain shape (`queryPlanner.winningPlan`
    /// with its stages and index bounds; `executionStats` with `nReturned`,
    /// `totalKeysExamined`, `totalDocsExamined` at the higher verbosities). Never writes and
    /// never uses the plan cache.
    ///
    /// ```swift
    /// let plan = try await messages.explainFind(["room": "general"], sort: ["at": -1], limit: 20)
    /// print(plan["queryPlanner"]?.documentValue?["winningPlan"] ?? "-")
    /// ```
    public func explainFind(_ filter: Document = [:], sort: Document? = nil, skip: Int = 0, limit: Int = 0,
                            projection: Document? = nil, verbosity: ExplainVerbosity = .queryPlanner) async throws(FolioError) -> Document {
        let ns = try namespace()
        let engine = self.engine, level = verbosity.engine
        let request = FindRequest(filter: filter, sort: sort, projection: projection, skip: skip, limit: limit)
        return try await database.folio.run { () throws(FolioError) in try engine.explainFind(ns, request, verbosity: level) }
    }

    /// The plan of an aggregation pipeline over the collection (its source query as a
    /// `$cursor` stage, then the other stages), as `explain` of `aggregate` returns it.
    public func explainAggregate(_ pipeline: [Document], verbosity: ExplainVerbosity = .queryPlanner) async throws(FolioError) -> Document {
        let engine = self.engine, database = self.database.name, name = self.name, level = verbosity.engine
        return try await self.database.folio.run { () throws(FolioError) in
            try engine.explainAggregate(database: database, collection: name, AggregateRequest(pipeline: pipeline.map(BSON.document)),
                                        verbosity: level)
        }
    }
}
