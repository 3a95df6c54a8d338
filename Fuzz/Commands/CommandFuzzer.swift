// The command fuzzer: runs sequences of hostile commands against a fresh in-memory server
// core (CommandSandbox) and fails when any command goes unanswered, the process traps, or a
// collection stops validating afterwards.
//
// Built two ways (scripts/fuzz commands):
// - with `-DFUZZING` and `--sanitize fuzzer,address`: a libFuzzer target whose inputs are
//   BSON command sequences, mutated by structure (CommandMutator) rather than by byte;
// - without: `FolioCommandFuzzer FILE...` replays inputs (findings, corpus files) and
//   prints each command with its reply.
import FolioBSON
import FolioFuzzing

/// Runs one input; a failure is fatal so the fuzzer records the input.
func runInput(_ bytes: [UInt8], verbose: Bool) {
    guard let commands = CommandMutator.decode(bytes) else { return }
    do {
        let sandbox = try CommandSandbox()
        for command in commands {
            let reply = try sandbox.run(command)
            if verbose { print("> \(command)\n< \(reply)") }
        }
        try sandbox.validateAll()
    } catch {
        fatalError("\(error)")
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCommands(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runInput(Array(UnsafeBufferPointer(start: data, count: size)), verbose: false)
    return 0
}

@_cdecl("LLVMFuzzerCustomMutator")
public func mutateCommands(_ data: UnsafeMutablePointer<UInt8>, _ size: Int, _ maxSize: Int, _ seed: UInt32) -> Int {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let output = CommandMutator.mutate(input, seed: UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(size), maximumBytes: maxSize)
    output.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: $0.count) }
    return output.count
}
#else
import Foundation

@main
struct CommandFuzzerReplay {
    static func main() throws {
        let paths = CommandLine.arguments.dropFirst()
        if paths.isEmpty {
            print("usage: FolioCommandFuzzer FILE|DIRECTORY... (replays fuzz inputs; scripts/fuzz commands fuzzes)")
            return
        }
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                print("no such file: \(path)")
                continue
            }
            let files = isDirectory.boolValue
                ? try FileManager.default.contentsOfDirectory(atPath: path).sorted().map { "\(path)/\($0)" } : [path]
            for file in files {
                print("== \(file)")
                runInput([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))), verbose: true)
            }
        }
    }
}
#endif
