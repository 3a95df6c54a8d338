import Testing
import FolioBSON
import FolioFuzzing

@Suite struct CommandMutatorTests {
    @Test func inputsAreCommandSequences() {
        let commands: [Document] = [["find": "t", "limit": .double(.nan)], ["ping": 1]]
        let bytes = CommandMutator.encode(commands)
        #expect(CommandMutator.decode(bytes)?.count == 2)
        #expect(CommandMutator.decode(bytes)?[0]["limit"]?.doubleValue?.isNaN == true)
        #expect(CommandMutator.decode(bytes + [1]) == nil)
        #expect(CommandMutator.decode(Array(bytes.dropLast())) == nil)
        let seven = CommandMutator.encode(Array(repeating: ["ping": 1], count: CommandMutator.maximumCommands + 1))
        #expect(CommandMutator.decode(seven) == nil)
    }

    /// Mutations decode, stay within the size libFuzzer allows, and depend only on the seed.
    @Test func mutationsAreWellFormedAndSeeded() {
        var input: [UInt8] = []
        for seed in UInt64(1)...400 {
            let next = CommandMutator.mutate(input, seed: seed, maximumBytes: 1 << 20)
            #expect(next.count <= 1 << 20)
            #expect(CommandMutator.decode(next) != nil, "seed \(seed)")
            #expect(CommandMutator.mutate(input, seed: seed, maximumBytes: 1 << 20) == next)
            input = next
        }
        #expect(CommandMutator.mutate([], seed: 9, maximumBytes: 64).count <= 64)
    }

    /// The generator uses the hostile values it promises somewhere in a few hundred commands.
    @Test func generatedCommandsCarryHostileValues() {
        var generator = CommandGenerator(seed: 7)
        var sawNaN = false, sawInt64Min = false, sawDecimalInfinity = false
        func visit(_ v: BSON) {
            switch v {
            case .double(let d) where d.isNaN: sawNaN = true
            case .int64(.min): sawInt64Min = true
            case .decimal128(let d) where d.isInfinite: sawDecimalInfinity = true
            case .document(let d): for (_, c) in d { visit(c) }
            case .array(let a): for c in a { visit(c) }
            default: break
            }
        }
        for _ in 0..<500 { visit(.document(generator.command())) }
        #expect(sawNaN && sawInt64Min && sawDecimalInfinity)
    }
}
