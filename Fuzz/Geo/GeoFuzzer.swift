// The GeoJSON fuzzer: hostile geometries through the parser, the query operands, the covering
// and distances, checking what must hold for any of them (GeoSelfCheck). A trap, a hang
// (libFuzzer's -timeout) or a broken invariant is a finding.
//
// Built two ways (scripts/fuzz geo): with `-DFUZZING` and `--sanitize fuzzer,address` a
// libFuzzer target; without, `FolioGeoFuzzer FILE...` replays inputs.
import FolioGeo

func runInput(_ bytes: [UInt8], verbose: Bool) {
    do {
        let g = try GeoSelfCheck.check(bytes)
        if verbose { print(g.map { "\($0)" } ?? "not a geometry: \(String(describing: GeoSelfCheck.value(bytes)))") }
    } catch {
        fatalError("\(error)")
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGeo(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    runInput(Array(UnsafeBufferPointer(start: data, count: size)), verbose: false)
    return 0
}
#else
import Foundation

@main
struct GeoFuzzerReplay {
    static func main() throws {
        let files = CommandLine.arguments.dropFirst()
        if files.isEmpty { print("usage: FolioGeoFuzzer FILE... (replays fuzz inputs; scripts/fuzz geo fuzzes)") }
        for file in files {
            print("== \(file)")
            runInput([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))), verbose: true)
        }
    }
}
#endif
