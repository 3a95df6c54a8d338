import Foundation
import Testing
@testable import FolioBSON
import FolioTestSupport

/// Runs every case of the BSON corpus (`../shared/spec-tests/bson-corpus`) as the
/// specification's bson-corpus.md describes, and prints the counts.
@Suite struct CorpusTests {
    struct Counts {
        var valid = 0, decodeErrors = 0, parseErrors = 0
    }

    static func corpusFiles() throws -> [URL] {
        let dir = TestSupport.specTestsDirectory.appendingPathComponent("bson-corpus")
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        return files
    }

    @Test func corpusIsPresent() throws {
        #expect(try Self.corpusFiles().count >= 30)
    }

    @Test func everyCorpusCase() throws {
        var counts = Counts()
        var failures: [String] = []
        for file in try Self.corpusFiles() {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
            let testKey = json["test_key"] as? String
            let isDecimal = (json["bson_type"] as? String) == "0x13"
            for case let v as [String: Any] in json["valid"] as? [Any] ?? [] {
                counts.valid += 1
                let name = "\(file.lastPathComponent): \(v["description"] as! String)"
                failures += Self.checkValid(v, name: name)
            }
            for case let v as [String: Any] in json["decodeErrors"] as? [Any] ?? [] {
                counts.decodeErrors += 1
                let bytes = TestSupport.bytes(hex: v["bson"] as! String)!
                if (try? RawDocument(validating: bytes)) != nil {
                    failures.append("\(file.lastPathComponent): decodeError accepted: \(v["description"]!)")
                }
            }
            for case let v as [String: Any] in json["parseErrors"] as? [Any] ?? [] {
                counts.parseErrors += 1
                let text = v["string"] as! String
                let accepted: Bool
                if isDecimal {
                    accepted = Decimal128(text) != nil
                } else {
                    accepted = (try? ExtendedJSON.document(from: text)) != nil
                }
                if accepted {
                    failures.append("\(file.lastPathComponent): parseError accepted: \(v["description"]!) \(text)")
                }
            }
            _ = testKey
        }
        print("BSON corpus: \(counts.valid) valid, \(counts.decodeErrors) decodeErrors, \(counts.parseErrors) parseErrors; \(failures.count) failures")
        for f in failures.prefix(60) { print("  FAIL \(f)") }
        #expect(failures.isEmpty)
    }

    /// A writer keeps received bytes as they are only when encoding their decoded form gives
    /// the same bytes (`RawDocument.encodesAsItself`): checked on every valid case's canonical
    /// and degenerate BSON.
    @Test func bytesThatEncodeAsThemselves() throws {
        var kept = 0, encoded = 0
        var failures: [String] = []
        for file in try Self.corpusFiles() {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as! [String: Any]
            for case let v as [String: Any] in json["valid"] as? [Any] ?? [] {
                for field in ["canonical_bson", "degenerate_bson"] {
                    guard let hex = v[field] as? String, let bytes = TestSupport.bytes(hex: hex),
                          let raw = try? RawDocument(validating: bytes) else { continue }
                    if raw.encodesAsItself {
                        kept += 1
                        if raw.document().bsonBytes() != bytes { failures.append("\(file.lastPathComponent) \(field): \(v["description"]!)") }
                    } else {
                        encoded += 1
                    }
                }
            }
        }
        print("BSON corpus: \(kept) documents kept as received, \(encoded) encoded again")
        #expect(failures.isEmpty, "kept as received but encoding differs: \(failures)")
        #expect(kept > 100)
    }

    /// Compares Extended JSON texts as parsed JSON trees (whitespace-insensitive, order-sensitive).
    static func sameJSON(_ a: String, _ b: String) -> Bool {
        guard let x = try? JSONValue.parse(a), let y = try? JSONValue.parse(b) else { return false }
        return x == y
    }

    static func checkValid(_ v: [String: Any], name: String) -> [String] {
        var failures: [String] = []
        let cB = TestSupport.bytes(hex: v["canonical_bson"] as! String)!
        let cEJ = v["canonical_extjson"] as! String
        let rEJ = v["relaxed_extjson"] as? String
        let lossy = v["lossy"] as? Bool ?? false
        guard let raw = try? RawDocument(validating: cB) else { return ["\(name): canonical_bson rejected"] }
        let doc = raw.document()
        // B -> cB
        if doc.bsonBytes() != cB { failures.append("\(name): B->cB \(TestSupport.hex(doc.bsonBytes()))") }
        // B -> cEJ, B -> rEJ
        let canonical = ExtendedJSON.string(from: doc, mode: .canonical)
        if !sameJSON(canonical, cEJ) { failures.append("\(name): B->cEJ \(canonical)") }
        if let rEJ {
            let relaxed = ExtendedJSON.string(from: doc, mode: .relaxed)
            if !sameJSON(relaxed, rEJ) { failures.append("\(name): B->rEJ \(relaxed)") }
        }
        // cEJ -> cEJ and cEJ -> cB
        do {
            let parsed = try ExtendedJSON.document(from: cEJ)
            let again = ExtendedJSON.string(from: parsed, mode: .canonical)
            if !sameJSON(again, cEJ) { failures.append("\(name): cEJ->cEJ \(again)") }
            if !lossy && parsed.bsonBytes() != cB { failures.append("\(name): cEJ->cB \(TestSupport.hex(parsed.bsonBytes()))") }
        } catch {
            failures.append("\(name): cEJ parse failed: \(error)")
        }
        // rEJ -> rEJ
        if let rEJ {
            do {
                let parsed = try ExtendedJSON.document(from: rEJ)
                let again = ExtendedJSON.string(from: parsed, mode: .relaxed)
                if !sameJSON(again, rEJ) { failures.append("\(name): rEJ->rEJ \(again)") }
            } catch {
                failures.append("\(name): rEJ parse failed: \(error)")
            }
        }
        // Degenerate forms.
        if let dB = (v["degenerate_bson"] as? String).flatMap(TestSupport.bytes(hex:)) {
            if let d = try? RawDocument(validating: dB).document() {
                if d.bsonBytes() != cB { failures.append("\(name): dB->cB") }
                if !sameJSON(ExtendedJSON.string(from: d, mode: .canonical), cEJ) { failures.append("\(name): dB->cEJ") }
            } else {
                failures.append("\(name): degenerate_bson rejected")
            }
        }
        if let dEJ = v["degenerate_extjson"] as? String {
            if let d = try? ExtendedJSON.document(from: dEJ) {
                if !sameJSON(ExtendedJSON.string(from: d, mode: .canonical), cEJ) { failures.append("\(name): dEJ->cEJ") }
                if !lossy && d.bsonBytes() != cB { failures.append("\(name): dEJ->cB") }
            } else {
                failures.append("\(name): degenerate_extjson rejected")
            }
        }
        return failures
    }
}
