import Foundation
import Testing
@testable import FolioServer

/// Replays every input the wire fuzzer found (Tests/FolioServerTests/FuzzRegressions).
@Suite struct WireFuzzRegressionTests {
    @Test func replayEveryFinding() throws {
        let dir = Bundle.module.resourceURL!.appendingPathComponent("FuzzRegressions")
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
        #expect(files.contains { $0.lastPathComponent == "README.txt" })
        for file in files where file.pathExtension != "txt" {
            let bytes = [UInt8](try Data(contentsOf: file))
            if let (header, message) = try? WireCodec.parse(bytes), case .message(let m) = message {
                let reply = WireCodec.messageReply(requestID: 1, responseTo: header.requestID, body: m.body)
                #expect((try? WireCodec.parse(reply)) != nil)
            }
        }
    }
}
