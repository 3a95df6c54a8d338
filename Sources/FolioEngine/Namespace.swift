import FolioBSON
import FolioQuery

/// A database and collection name pair (`db.collection`), validated as MongoDB does.
public struct Namespace: Hashable, Sendable, CustomStringConvertible {
    public let database: String
    public let collection: String

    /// - Throws: 73 InvalidNamespace for names MongoDB rejects.
    public init(database: String, collection: String) throws(FolioError) {
        try Namespace.validateDatabase(database)
        guard !collection.isEmpty else { throw FolioError(.invalidNamespace, "Invalid namespace specified '\(database).'") }
        guard !collection.utf8.contains(0) else { throw FolioError(.invalidNamespace, "namespaces cannot have embedded null characters") }
        if collection.utf8.contains(UInt8(ascii: "$")) && (collection.hasPrefix("$") || !collection.hasPrefix("system.")) {
            throw FolioError(.invalidNamespace, "Invalid collection name: \(collection)")
        }
        guard database.utf8.count + 1 + collection.utf8.count <= 255 else {
            throw FolioError(.invalidNamespace, "Fully qualified namespace is too long. Namespace: \(database).\(collection) Max: 255")
        }
        self.database = database
        self.collection = collection
    }

    /// Parses `db.collection` (the collection part may contain dots).
    public init(parsing full: String) throws(FolioError) {
        guard let dot = full.firstIndex(of: ".") else { throw FolioError(.invalidNamespace, "Invalid namespace specified '\(full)'") }
        try self.init(database: String(full[..<dot]), collection: String(full[full.index(after: dot)...]))
    }

    public var description: String { "\(database).\(collection)" }

    static let forbiddenDatabaseCharacters: Set<UInt8> = Set("/\\. \"$*<>:|?\0".utf8)

    public static func validateDatabase(_ name: String) throws(FolioError) {
        guard !name.isEmpty else { throw FolioError(.invalidNamespace, "Invalid empty database name") }
        guard name.utf8.count < 64 else { throw FolioError(.invalidNamespace, "db name is too long: \(name)") }
        if let bad = name.utf8.first(where: { forbiddenDatabaseCharacters.contains($0) }) {
            throw FolioError(.invalidNamespace, "Invalid database name: '\(name)' contains '\(Character(Unicode.Scalar(bad)))'")
        }
    }
}
