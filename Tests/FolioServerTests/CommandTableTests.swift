import Testing
import FolioBSON
@testable import FolioServer

/// The command table (CommandTable.swift): one row per command, and the sets the dispatcher's
/// checks read from it.
@Suite struct CommandTableTests {
    @Test func everyNameAndAliasIsRoutedOnce() {
        var seen = Set<String>()
        for spec in CommandTable.all {
            for name in [spec.name] + spec.aliases {
                #expect(seen.insert(name).inserted, "\(name) appears twice")
                #expect(CommandDispatcher.table[name] != nil)
                #expect(CommandDispatcher.canonicalName(name) == spec.name)
            }
        }
    }

    @Test func theFactsMatchMongoDB() {
        let inTransaction = TransactionRegistry.allowed
        #expect(inTransaction.isSuperset(of: ["find", "insert", "aggregate", "distinct", "create", "createIndexes", "commitTransaction"]))
        #expect(!inTransaction.contains("count") && !inTransaction.contains("drop") && !inTransaction.contains("listCollections"))
        let v1 = APIParameters.version1Commands
        #expect(v1.contains("hello") && !v1.contains("isMaster") && v1.contains("count") && !v1.contains("distinct"))
        #expect(!v1.contains("serverStatus") && !v1.contains("createUser"))
        #expect(Collation.honoured.contains("findandmodify") && !Collation.honoured.contains("insert"))
    }
}
