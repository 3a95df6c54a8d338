import Testing
@testable import FolioBSON

@Suite struct RawDocumentTests {
    /// `document(onlyFields:)` keeps the named top-level fields in document order, as decoding
    /// the whole document and dropping the rest would (names given twice, names absent, a
    /// name that is a prefix of another, an empty name, non-ASCII names).
    @Test func onlyFieldsIsTheWholeDocumentFiltered() throws {
        var d: Document = ["a": 1, "ab": "x", "b": ["c": 2], "é": 1.5, "": true, "z": [1, 2]]
        d.append("a", 9)  // a key twice in the bytes
        let raw = RawDocument(trusted: d.bsonBytes())
        for fields in [["a"], ["ab", "a"], ["b", "b"], ["é", "", "z"], ["missing"], [], ["a", "ab", "b", "é", "", "z"]] {
            var expected = Document()
            for (k, v) in d where fields.contains(k) { expected.append(k, v) }
            #expect(raw.document(onlyFields: fields) == expected, "\(fields)")
            #expect(raw.document(onlyFields: fields).fieldNames == expected.fieldNames)
        }
    }

    static let sample: Document = [
        "_id": .int32(1),
        "a": ["b": [.int32(10), ["c": "deep"]], "x": 2.5],
        "s": "hello",
        "n": .null,
    ]

    @Test func lookupTopLevelAndDottedPaths() {
        let raw = Self.sample.raw
        #expect(raw.lookup("_id")?.int32Value == 1)
        #expect(raw.lookup("s")?.stringValue == "hello")
        #expect(raw.lookup("missing") == nil)
        #expect(raw.lookup(path: "a.x")?.doubleValue == 2.5)
        #expect(raw.lookup(path: "a.b.0")?.int32Value == 10)
        #expect(raw.lookup(path: "a.b.1.c")?.stringValue == "deep")
        #expect(raw.lookup(path: "a.b.2") == nil)
        #expect(raw.lookup(path: "s.length") == nil)
        #expect(raw.lookup("n")?.type == .null)
    }

    @Test func lookupDoesNotMatchKeyPrefixes() {
        let raw = (["ab": 1, "a": 2] as Document).raw
        #expect(raw.lookup("a")?.int32Value == 2)
        #expect(raw.lookup("abc") == nil)
    }

    @Test func iterationVisitsFieldsInOrder() {
        let raw = Self.sample.raw
        #expect(raw.map(\.key) == ["_id", "a", "s", "n"])
        #expect(raw.count == 4)
        var keys: [String] = []
        raw.forEachElement { _, key, _ in keys.append(String(decoding: key, as: UTF8.self)) }
        #expect(keys == ["_id", "a", "s", "n"])
        var iterator = raw.makeIterator()
        #expect(iterator.next()!.keyEquals("_id"))
    }

    @Test func decodeAndEncodeRoundTrip() throws {
        let bytes = Self.sample.bsonBytes()
        let decoded = try Document(bsonBytes: bytes)
        #expect(decoded == Self.sample)
        #expect(decoded.bsonBytes() == bytes)
    }

    /// Malformed input of every kind is rejected with the right error, never a trap.
    @Test(arguments: [
        ([UInt8]([]), BSONError.Kind.truncated),
        ([0x05, 0x00, 0x00], .truncated),
        ([0x04, 0x00, 0x00, 0x00, 0x00], .invalidLength),
        ([0x06, 0x00, 0x00, 0x00, 0x00, 0x00], .unknownType(0)),
        ([0x05, 0x00, 0x00, 0x00, 0x01], .missingTerminator),
        ([0xFF, 0xFF, 0xFF, 0xFF, 0x00], .invalidLength),
        ([0x08, 0x00, 0x00, 0x00, 0x20, 0x61, 0x00, 0x00], .unknownType(0x20)),
        ([0x09, 0x00, 0x00, 0x00, 0x08, 0x61, 0x00, 0x02, 0x00], .invalidBoolean(2)),
        ([0x0C, 0x00, 0x00, 0x00, 0x02, 0x61, 0x00, 0x01, 0x00, 0x00, 0x00, 0xFF, 0x00], .missingTerminator),
        ([0x0E, 0x00, 0x00, 0x00, 0x02, 0x61, 0x00, 0x02, 0x00, 0x00, 0x00, 0xC3, 0x00, 0x00], .invalidUTF8),
        ([0x0E, 0x00, 0x00, 0x00, 0x02, 0x61, 0x00, 0x00, 0x00, 0x00, 0x00, 0x41, 0x00, 0x00], .invalidLength),
        ([0x0D, 0x00, 0x00, 0x00, 0x10, 0xC3, 0x28, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00], .invalidUTF8),
    ])
    func malformedInputIsRejected(bytes: [UInt8], kind: BSONError.Kind) {
        #expect(throws: BSONError.self) { try RawDocument(validating: bytes) }
        do {
            _ = try RawDocument(validating: bytes)
        } catch {
            #expect(error.kind == kind, "\(bytes)")
        }
    }

    @Test func nestingDepthIsBounded() {
        var value: BSON = .int32(1)
        for _ in 0..<150 { value = .document(["a": value]) }
        let bytes = Document(["a": value].map { ($0.key, $0.value) }).bsonBytes()
        #expect(throws: BSONError.self) { try RawDocument(validating: bytes, maximumDepth: 100) }
        #expect((try? RawDocument(validating: bytes, maximumDepth: 200)) != nil)
    }

    @Test func embeddedDocumentInsideLargerBuffer() throws {
        let doc: Document = ["k": "v"]
        let bytes: [UInt8] = [0xAA, 0xBB] + doc.bsonBytes() + [0xCC]
        let raw = try RawDocument(validating: bytes, at: 2)
        #expect(raw.lookup("k")?.stringValue == "v")
        #expect(raw.bytes == doc.bsonBytes())
    }

    @Test func encodesAsItselfOnlyWithNumberedArraysAndSingleSpellings() throws {
        #expect(Self.sample.raw.encodesAsItself)
        let numbered: Document = ["_id": 1, "a": [.int32(1), ["b": [.int32(2), .int32(3)]]], "bin": .binary(Binary(subtype: 0, data: [1, 2]))]
        #expect(numbered.raw.encodesAsItself)
        let eleven = Document([("a", .array((0..<11).map { .int32(Int32($0)) }))])
        #expect(eleven.raw.encodesAsItself)
        // An array whose keys are not 0, 1, 2, … decodes to the same values but encodes differently.
        for keys in [["1"], ["0", "0"], ["00"], ["x"], ["0", "2"], [""]] {
            var array: [UInt8] = [0, 0, 0, 0]
            for k in keys { array += [0x10] + Array(k.utf8) + [0, 7, 0, 0, 0] }
            array.append(0)
            array.replaceSubrange(0..<4, with: withUnsafeBytes(of: Int32(array.count).littleEndian) { Array($0) })
            var doc: [UInt8] = [0, 0, 0, 0, 0x04, 0x61, 0] + array + [0]
            doc.replaceSubrange(0..<4, with: withUnsafeBytes(of: Int32(doc.count).littleEndian) { Array($0) })
            let raw = try RawDocument(validating: doc)
            #expect(!raw.encodesAsItself, "array keys \(keys)")
            #expect(raw.document().bsonBytes() != doc)
        }
        let regex: Document = ["r": .regex(BSONRegex(pattern: "a", options: "i"))]
        #expect(!regex.raw.encodesAsItself)
        let oldBinary: Document = ["b": .binary(Binary(subtype: 2, data: [1]))]
        #expect(!oldBinary.raw.encodesAsItself)
    }
}
