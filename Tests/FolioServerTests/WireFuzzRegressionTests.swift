import Foundation
import Testing
@testable import FolioServer
import FolioTestSupport

/// Replays every input the wire fuzzer found, and its point-read seeds (Tests/FolioServerTests/FuzzRegressions).
@Suite struct WireFuzzRegressionTests {
    @Test func replayEveryFinding() throws {
        for file in try TestSupport.corpusFiles(in: Bundle.module.resourceURL!.appendingPathComponent("FuzzRegressions")) {
            let bytes = [UInt8](try Data(contentsOf: file))
            // The point-read parser accepts only what the wire parser reads the same way.
            if let point = RawPointRead(bytes) {
                let parsed = try? WireCodec.parse(bytes)
                #expect(parsed.map { point.agrees(with: $0.0, $0.1) } == true, "\(file.lastPathComponent)")
            }
            if let (header, message) = try? WireCodec.parse(bytes), case .message(let m) = message {
                let reply = WireCodec.messageReply(requestID: 1, responseTo: header.requestID, body: m.body)
                #expect((try? WireCodec.parse(reply)) != nil)
            }
        }
    }
}
