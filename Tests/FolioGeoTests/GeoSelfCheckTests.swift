import Foundation
import Testing
@testable import FolioGeo

/// The GeoJSON fuzzer's findings and a few thousand generated inputs, replayed (scripts/fuzz geo
/// adds findings to GeoRegressions).
@Suite struct GeoSelfCheckTests {
    @Test func regressionsAndGeneratedInputsHoldTheInvariants() throws {
        let folder = Bundle.module.url(forResource: "GeoRegressions", withExtension: nil)!
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        #expect(!files.isEmpty)
        for file in files {
            #expect(throws: Never.self, "\(file.lastPathComponent)") { try GeoSelfCheck.check([UInt8](try Data(contentsOf: file))) }
        }
        var rng = SystemRandomNumberGenerator()
        var parsed = 0
        for _ in 0..<3000 {
            let bytes = (0..<Int.random(in: 1...120, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            do {
                if try GeoSelfCheck.check(bytes) != nil { parsed += 1 }
            } catch {
                Issue.record("\(error) for \(bytes)")
            }
        }
        // The generator is worth its name only if a good share of its inputs are geometries.
        #expect(parsed > 300)
    }
}
