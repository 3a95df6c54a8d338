import ArgumentParser
import FolioBSON
import FolioFuzzing

#if canImport(Glibc)
import Glibc
#endif

/// `folio hostile-commands` (hidden): the command fuzzer's generator as a tool. Writes
/// `--count` hostile commands made from `--seed` to standard output as BSON documents back to
/// back (the chaos test in Tests/Compat sends them through pymongo; `--setup` writes the seed
/// data's commands instead), or with `--run` runs them against an in-memory sandbox and stops
/// at the first one that goes unanswered.
struct HostileCommands: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "hostile-commands", shouldDisplay: false)

    @Option var seed: UInt64 = 1
    @Option var count: Int = 1000
    @Flag(name: .customLong("run"), help: "Run the commands in an in-memory sandbox instead of printing them.")
    var runInSandbox = false
    @Flag(help: "With --run, print each command to standard error before running it.") var trace = false
    @Flag(name: .customLong("validate-each"), help: "With --run, validate every collection after each command.")
    var validateEach = false
    @Option(help: "Run only the command with this index (the others are generated, not run).") var only: Int?
    @Option(help: "Run only the commands from this index on.") var from: Int = 0
    @Flag(help: "Write the commands that create the seed data the generated commands expect.") var setup = false

    func run() throws {
        if setup {
            for command in CommandSandbox.setup { try HostileCommands.write(command) }
            return
        }
        var generator = CommandGenerator(seed: seed)
        let sandbox = runInSandbox ? try CommandSandbox() : nil
        for i in 0..<count {
            let command = generator.command()
            if let only, only != i { continue }
            if i < from { continue }
            if let sandbox {
                if trace { FileHandleStderr.write("\(i): \(command)\n") }
                do {
                    try sandbox.run(command)
                    if validateEach { try sandbox.validateAll() }
                } catch {
                    throw ValidationError("command \(i) of seed \(seed): \(error)")
                }
            } else {
                try HostileCommands.write(command)
            }
        }
        try sandbox?.validateAll()
    }

    static func write(_ command: Document) throws {
        let bytes = command.bsonBytes()
        guard Glibc.write(1, bytes, bytes.count) == bytes.count else { throw ValidationError("write failed") }
    }
}

enum FileHandleStderr {
    static func write(_ s: String) {
        var s = s
        s.withUTF8 { _ = Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
