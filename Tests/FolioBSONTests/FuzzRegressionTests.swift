import Foundation
import Testing
@testable import FolioBSON
import FolioTestSupport

/// Replays every input the fuzzer ever found (Tests/FolioBSONTests/FuzzRegressions): each must
/// be rejected cleanly or survive the same readers the fuzz target exercises.
@Suite struct FuzzRegressionTests {
    static func inputs() throws -> [URL] {
        try TestSupport.corpusFiles(in: Bundle.module.resourceURL!.appendingPathComponent("FuzzRegressions"))
    }

    @Test func replayEveryFinding() throws {
        let files = try Self.inputs()
        #expect(!files.isEmpty)
        for file in files {
            let bytes = [UInt8](try Data(contentsOf: file))
            guard let raw = try? RawDocument(validating: bytes) else { continue }
            let document = raw.document()
            let again = try RawDocument(validating: document.bsonBytes())
            #expect(again.document() == document, "\(file.lastPathComponent)")
            for element in raw {
                _ = element.value.bson
                _ = KeyString.encode(element.value.bson)
            }
            _ = ExtendedJSON.string(from: document, mode: .canonical)
        }
    }
}
