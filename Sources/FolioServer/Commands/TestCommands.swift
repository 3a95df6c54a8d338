import FolioBSON
import FolioQuery

/// Commands that exist only on a server started with `--enable-test-commands` (MongoDB's
/// enableTestCommands); elsewhere they are unknown commands (59), as in MongoDB.
enum TestCommands {
    /// `{configureFailPoint: "failCommand", mode, data}` (see FailPoints).
    @Sendable static func configureFailPoint(_ r: CommandRequest) throws(FolioError) -> Document {
        guard r.context.parameters.enableTestCommands else {
            throw FolioError(.commandNotFound, "no such command: '\(r.name)'")
        }
        try AdminCommands.adminOnly(r)
        return try r.context.failPoints.configure(r.body)
    }
}
