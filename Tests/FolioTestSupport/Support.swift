import Foundation
import FolioBSON
import Synchronization

/// Locations and helpers shared by every test target.
public enum TestSupport {
    /// The package root (this file lives in Tests/FolioTestSupport).
    public static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `../shared/spec-tests` beside the checkout (or `FOLIO_SPEC_TESTS` when set).
    public static var specTestsDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["FOLIO_SPEC_TESTS"] {
            return URL(fileURLWithPath: override)
        }
        return packageRoot.deletingLastPathComponent().appendingPathComponent("shared/spec-tests")
    }

    /// Bytes from a hexadecimal string (either case); nil on bad input.
    public static func bytes(hex: String) -> [UInt8]? { Hex.decode(hex) }

    /// Uppercase hexadecimal of bytes.
    public static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes, uppercase: true) }

    /// The inputs of a fuzz regression folder (a test target's resource): every file but its
    /// README.txt, which must be there (so a folder that failed to copy is noticed).
    public static func corpusFiles(in directory: URL) throws -> [URL] {
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
        guard files.contains(where: { $0.lastPathComponent == "README.txt" }) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: directory.path + "/README.txt"])
        }
        return files.filter { $0.pathExtension != "txt" }.sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// A deterministic, seedable generator (SplitMix64) for reproducible property tests.
    public typealias SeededGenerator = SeededRandom

    /// A fresh path under the system's temporary folder, made a directory when `directory`
    /// (else left for the test to create as a file), and removed when the test process exits.
    /// Tests reopen a directory after closing its engine, so it outlives any one scope; before,
    /// every `swift test` left its databases in /tmp.
    public static func scratchPath(_ prefix: String, suffix: String = "", directory: Bool = true) -> String {
        let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)\(suffix)"
        if directory { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        scratchPaths.withLock { paths in
            if paths.isEmpty { atexit { TestSupport.removeScratchPaths() } }
            paths.append(path)
        }
        return path
    }

    private static let scratchPaths = Mutex<[String]>([])

    private static func removeScratchPaths() {
        for path in scratchPaths.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }

    /// The seed for a randomized test: `FOLIO_SEED` when set (to replay a failure), else fresh.
    public static func seed() -> UInt64 {
        if let s = ProcessInfo.processInfo.environment["FOLIO_SEED"], let v = UInt64(s) { return v }
        return UInt64.random(in: 1...UInt64.max)
    }
}
