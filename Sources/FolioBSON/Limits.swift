/// Every limit Folio enforces, in one place (MongoDB's values unless noted).
public enum Limits {
    /// Largest document a client may store: 16 MiB (`maxBsonObjectSize`).
    public static let maximumDocumentSizeBytes = 16 * 1024 * 1024
    /// Largest document a query or pipeline may produce (`BSONObjMaxInternalSize`: the user
    /// limit plus 16 KiB); larger results fail with 10334 BSONObjectTooLarge.
    public static let maximumInternalDocumentSizeBytes = 16 * 1024 * 1024 + 16 * 1024
    /// Largest command body: the document limit plus 16 KiB of headroom for command fields.
    public static let maximumCommandSizeBytes = 16 * 1024 * 1024 + 16 * 1024
    /// Largest wire message (`maxMessageSizeBytes`, decimal as MongoDB advertises it).
    public static let maximumMessageSizeBytes = 48_000_000
    /// Most statements in one insert/update/delete command (`maxWriteBatchSize`).
    public static let maximumWriteBatchCount = 100_000
    /// Deepest nesting of documents and arrays a stored document may have.
    public static let maximumDocumentDepth = 100
    /// Memory a blocking stage (sort, group) may hold before spilling or failing (100 MB).
    public static let blockingStageMemoryBytes = 100 * 1024 * 1024
    /// Default first batch of a cursor, in documents.
    public static let defaultFirstBatchCount = 101
    /// Most bytes of documents in one reply batch (16 MiB).
    public static let maximumBatchSizeBytes = 16 * 1024 * 1024
    /// Bytes (approximate) that expression evaluation may build for one document: arrays,
    /// strings and objects made by operators, counted as they are made. A Folio bound —
    /// MongoDB has none beyond `$range`'s and runs out of memory instead; error 146.
    public static let maximumEvaluationBytes = 512 * 1024 * 1024
    /// `$range`'s own bound (MongoDB's `internalQueryMaxRangeBytes`, 100 MB).
    public static let maximumRangeBytes = 104_857_600
    /// Deepest nesting the BSON validator accepts in any byte sequence (command envelopes add
    /// a few levels above stored documents; this bounds the validator's recursion).
    public static let maximumValidationDepth = 200
}
