import Foundation
import Testing
import FolioBSON
import FolioFuzzing
import FolioTestSupport

@Suite struct CommandSandboxTests {
    /// Every input the command fuzzer failed on is answered now, and the data still validates.
    @Test func replayEveryFinding() throws {
        for file in try TestSupport.corpusFiles(in: Bundle.module.resourceURL!.appendingPathComponent("CommandRegressions")) {
            let commands = try #require(CommandMutator.decode([UInt8](try Data(contentsOf: file))), "\(file.lastPathComponent) is not a command sequence")
            let sandbox = try CommandSandbox()
            for command in commands { try sandbox.run(command) }
            try sandbox.validateAll()
        }
    }

    /// A few hundred generated commands (seed printed; FOLIO_SEED replays) leave a sandbox that
    /// answers, validates and reopens.
    @Test func generatedCommandsAreAnswered() throws {
        let seed = TestSupport.seed()
        print("CommandSandboxTests seed \(seed)")
        var generator = CommandGenerator(seed: seed)
        let sandbox = try CommandSandbox()
        for _ in 0..<300 { try sandbox.run(generator.command()) }
        try sandbox.validateAll()
    }

    /// The sandbox's checks fail when they should: a command without its database is still
    /// answered (with an error), and a reopened catalog that lost a collection is reported.
    @Test func failuresAreReported() throws {
        let sandbox = try CommandSandbox()
        let reply = try sandbox.run(["find": "t", "filter": ["a": ["$bogus": 1]]])
        #expect(reply["ok"] == .double(0))
        #expect(reply["code"] == .int32(2))
        let list = try sandbox.run(["listCollections": 1, "nameOnly": true])
        guard case .document(let cursor)? = list["cursor"], case .array(let batch)? = cursor["firstBatch"] else {
            Issue.record("no listCollections batch"); return
        }
        #expect(batch.count == 3)
        try sandbox.validateAll()
    }
}
