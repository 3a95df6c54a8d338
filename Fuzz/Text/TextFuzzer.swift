// The `$search` fuzzer: parses hostile search strings in every language and option and checks
// what must hold for any of them (SearchSelfCheck). A trap, a hang (libFuzzer's -timeout) or a
// broken invariant is a finding.
//
// Built two ways (scripts/fuzz text):
// - with `-DFUZZING` and `--sanitize fuzzer,address`: a libFuzzer target; the first byte of an
//   input picks the language and the case and diacritic options, the rest is the search
//   string;
// - without: `FolioTextFuzzer FILE...` replays inputs.
import FolioText

/// Runs one input; a failure is fatal so the fuzzer records the input.
func runInput(_ bytes: [UInt8], verbose: Bool) {
    do {
        let query = try SearchSelfCheck.check(bytes)
        if verbose, let query { print("\(query.language) \(query.explainDocument)") }
    } catch {
        fatalError("\(error)")
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSearch(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runInput(Array(UnsafeBufferPointer(start: data, count: size)), verbose: false)
    return 0
}
#else
import Foundation

/// Replays the files named (findings, corpus inputs) and prints what each one parsed to.
@main
struct TextFuzzerReplay {
    static func main() throws {
        let files = CommandLine.arguments.dropFirst()
        if files.isEmpty { print("usage: FolioTextFuzzer FILE... (replays fuzz inputs; scripts/fuzz text fuzzes)") }
        for file in files {
            print("== \(file)")
            runInput([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))), verbose: true)
        }
    }
}
#endif
