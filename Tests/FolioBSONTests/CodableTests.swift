import Foundation
import Testing
@testable import FolioBSON

@Suite struct CodableTests {
    struct Address: Codable, Equatable { var city: String; var zip: String? }
    struct User: Codable, Equatable {
        var _id: ObjectID
        var name: String
        var age: Int
        var score: Double
        var balance: Decimal128
        var created: Date
        var avatar: Data
        var token: UUID
        var tags: [String]
        var address: Address
        var nickname: String?
        var counts: [String: Int]
        var stamp: Timestamp
    }

    static let user = User(
        _id: ObjectID(hex: "507f1f77bcf86cd799439011")!, name: "Ada", age: 36, score: 9.5,
        balance: Decimal128("12.34")!, created: Date(timeIntervalSince1970: 1_700_000_000.123),
        avatar: Data([1, 2, 3]), token: UUID(uuidString: "73FFD264-44B3-4C69-90E8-E7D1DFC035D4")!,
        tags: ["a", "b"], address: Address(city: "Paris", zip: nil), nickname: nil, counts: ["x": 1],
        stamp: Timestamp(seconds: 5, increment: 6))

    @Test func encodesNativeBSONTypes() throws {
        let doc = try BSONEncoder().encode(Self.user)
        #expect(doc.fieldNames.first == "_id")
        #expect(doc["_id"] == .objectID(Self.user._id))
        #expect(doc["age"] == .int32(36))
        #expect(doc["balance"] == .decimal128(Decimal128("12.34")!))
        #expect(doc["created"] == .datetime(1_700_000_000_123))
        #expect(doc["avatar"] == .binary(Binary(subtype: 0, data: [1, 2, 3])))
        #expect(doc["token"]?.type == .binary)
        #expect(doc["nickname"] == nil)
        #expect(doc["address"] == .document(["city": "Paris"]))
        #expect(doc["stamp"] == .timestamp(Timestamp(seconds: 5, increment: 6)))
    }

    @Test func roundTripsThroughBytes() throws {
        let doc = try BSONEncoder().encode(Self.user)
        let back = try BSONDecoder().decode(User.self, from: RawDocument(validating: doc.bsonBytes()))
        #expect(back == Self.user)
    }

    /// Decoding from bytes reads fields as asked (no document built first); it must answer
    /// exactly as decoding the document does: values, conversions, errors and their paths.
    @Test func decodingFromBytesMatchesDecodingTheDocument() throws {
        struct N: Codable, Equatable { var a: Int32; var b: Int; var c: Double; var d: Bool; var e: Int64; var s: String }
        let cases: [Document] = [
            ["a": .int64(5), "b": .double(2.0), "c": .int32(3), "d": true, "e": .int32(7), "s": "x"],
            ["a": 1, "b": .int64(1 << 40), "c": .int64(4), "d": false, "e": .double(8), "s": .symbol("y")],
            ["a": .double(2.5), "b": 1, "c": 1, "d": true, "e": 1, "s": "x"],   // not exact
            ["a": 1, "b": "one", "c": 1, "d": true, "e": 1, "s": "x"],          // wrong type
            ["a": 1, "c": 1, "d": true, "e": 1, "s": "x"],                      // missing
            ["a": 1, "b": 1, "c": "1", "d": 1, "e": 1, "s": 1],                 // several wrong
        ]
        for doc in cases {
            let raw = RawDocument(trusted: doc.bsonBytes())
            let fromDocument = Result { try BSONDecoder().decode(N.self, from: doc) }
            let fromBytes = Result { try BSONDecoder().decode(N.self, from: raw) }
            switch (fromDocument, fromBytes) {
            case (.success(let x), .success(let y)): #expect(x == y)
            case (.failure(let x), .failure(let y)): #expect(String(describing: x) == String(describing: y))
            default: Issue.record("\(doc): \(fromDocument) from the document, \(fromBytes) from its bytes")
            }
        }
        // Errors name the field, nested ones their whole path.
        struct Outer: Codable { var inner: [N] }
        let bad: Document = ["inner": [.document(cases[0]), .document(cases[3])]]
        do {
            _ = try BSONDecoder().decode(Outer.self, from: RawDocument(trusted: bad.bsonBytes()))
            Issue.record("a string decoded as an Int")
        } catch DecodingError.typeMismatch(_, let context) {
            #expect(context.codingPath.map(\.stringValue) == ["inner", "1", "b"])
        }
        // A type that reads its keys, and a raw document decoded as a Document.
        let counts = try BSONDecoder().decode([String: Int].self, from: RawDocument(trusted: (["x": 1, "y": .int64(2)] as Document).bsonBytes()))
        #expect(counts == ["x": 1, "y": 2])
        let whole = try BSONDecoder().decode(Document.self, from: RawDocument(trusted: (["k": [1, 2]] as Document).bsonBytes()))
        #expect(whole == ["k": [1, 2]])
    }

    @Test func numericConversionsWhenExact() throws {
        struct N: Codable { var a: Int32; var b: Int; var c: Double }
        let n = try BSONDecoder().decode(N.self, from: ["a": .int64(5), "b": .double(2.0), "c": .int32(3)])
        #expect(n.a == 5 && n.b == 2 && n.c == 3)
        #expect(throws: (any Error).self) { try BSONDecoder().decode(N.self, from: ["a": .double(2.5), "b": 1, "c": 1]) }
        #expect(throws: (any Error).self) { try BSONDecoder().decode(N.self, from: ["a": .int64(1 << 40), "b": 1, "c": 1]) }
        #expect(throws: (any Error).self) { try BSONDecoder().decode(N.self, from: ["b": 1, "c": 1]) }
    }

    @Test func largeIntsBecomeInt64() throws {
        struct L: Codable { var v: Int }
        #expect(try BSONEncoder().encode(L(v: 1 << 40))["v"] == .int64(1 << 40))
        #expect(try BSONEncoder().encode(L(v: 7))["v"] == .int32(7))
    }

    @Test func datesStoreTheirMillisecondEvenWhenBinaryFloatingPointFallsShort() throws {
        struct D: Codable { var at: Date }
        for (seconds, ms) in [(1_700_000_000.123, Int64(1_700_000_000_123)), (0.001, 1), (-0.001, -1), (1.0009, 1000),
                              (-1.0009, -1001), (1_700_000_000.999, 1_700_000_000_999)] {
            #expect(try BSONEncoder().encode(D(at: Date(timeIntervalSince1970: seconds)))["at"] == .datetime(ms))
        }
    }

    @Test func foundationDecimalsAreDecimal128() throws {
        struct M: Codable, Equatable { var v: Decimal }
        for text in ["0", "-12.5", "1234.5678", "0.000000000000000000001", "99999999999999999999999999999999.99"] {
            let m = M(v: Decimal(string: text)!)
            let d = try BSONEncoder().encode(m)
            #expect(d["v"] == .decimal128(Decimal128(text)!))
            #expect(try BSONDecoder().decode(M.self, from: d) == m)
        }
        #expect(try BSONDecoder().decode(M.self, from: ["v": .int64(7)]) == M(v: 7))
        #expect(throws: (any Error).self) { try BSONEncoder().encode(M(v: Decimal(string: "1.2345678901234567890123456789012345678")!)) }
        #expect(throws: (any Error).self) { try BSONDecoder().decode(M.self, from: ["v": "7"]) }
    }
}
