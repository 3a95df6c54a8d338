/// Folio's version, reported by `folio --version` and, once the server exists, by
/// `buildInfo`.
public enum FolioVersion {
    /// Folio's own release.
    public static let folio = "0.1.0"
    /// The MongoDB release whose behaviour Folio follows.
    public static let compatibleMongoDB = "8.0.0"
    /// The line `folio --version` prints.
    public static var description: String { "folio \(folio) (MongoDB \(compatibleMongoDB) compatible)" }
}
