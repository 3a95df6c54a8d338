import FolioBSON

/// A MongoDB error code. The known codes are generated from `Scripts/error_codes.txt`.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// MongoDB's codeName (`"BadValue"`), or `"Location<n>"` for assertion-style codes.
    public var name: String { ErrorCode.names[rawValue] ?? "Location\(rawValue)" }

    /// The error categories MongoDB assigns (RetriableError, NotPrimaryError, ...).
    public var categories: Set<String> { ErrorCode.categoryTable[rawValue] ?? [] }

    public var description: String { "\(name) (\(rawValue))" }

    /// Lets `catch ErrorCode.duplicateKey { ... }` match a `FolioError` with that code.
    public static func ~= (pattern: ErrorCode, value: any Error) -> Bool {
        (value as? FolioError)?.code == pattern
    }
}

/// The one error type clients see: MongoDB's code, codeName, message, and optional labels
/// and extra reply fields (`keyPattern`/`keyValue` for duplicate keys, `errInfo`, ...).
public struct FolioError: Error, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var labels: [String]
    /// Extra fields merged into the error reply, in order.
    public var extraFields: Document

    public init(_ code: ErrorCode, _ message: String, labels: [String] = [], extraFields: Document = Document()) {
        self.code = code
        self.message = message
        self.labels = labels
        self.extraFields = extraFields
    }

    /// MongoDB's codeName.
    public var codeName: String { code.name }

    public var description: String { "\(code.name) (\(code.rawValue)): \(message)" }

    /// The error as the fields of a command reply: `{ok: 0, errmsg, code, codeName, ...}`.
    public var replyFields: Document {
        var d: Document = ["ok": .double(0), "errmsg": .string(message), "code": .int32(code.rawValue),
                           "codeName": .string(code.name)]
        for (k, v) in extraFields { d[k] = v }
        if !labels.isEmpty { d["errorLabels"] = .array(labels.map(BSON.string)) }
        return d
    }

    public static func badValue(_ message: String) -> FolioError { FolioError(.badValue, message) }
    public static func failedToParse(_ message: String) -> FolioError { FolioError(.failedToParse, message) }
    public static func typeMismatch(_ message: String) -> FolioError { FolioError(.typeMismatch, message) }
}
