import FolioBSON
import FolioEngine
import FolioQuery

/// Collations at the command level. The commands that read or target documents pass their
/// `collation` (and their statements') to the engine, which validates and applies it; any
/// other command carrying a non-simple collation — a collection's default — is
/// refused with 115 after the specification is validated, never silently ignored.
enum Collation {
    /// Commands whose `collation` the engine honours (the command table says which).
    static let honoured = CommandTable.names(with: .collation)

    static func check(_ body: Document, command: String) throws(FolioError) {
        guard !honoured.contains(command), let value = body["collation"], value.type != .null else { return }
        // A view's default collation is honoured: reads of the view run under it (Views.swift).
        if command == "create", body["viewOn"] != nil { return }
        if try Engine.collator(try CommandRequest.document(value, field: "\(command).collation")) != nil {
            throw FolioError(.commandNotSupported, "\(command) with a non-simple collation is not supported by Folio yet: "
                             + "collections have the simple collation; pass a collation to each query instead")
        }
    }
}
