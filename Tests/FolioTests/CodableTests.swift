import Foundation
import Testing
import Folio

/// Typed collections: every supported Swift type goes in with the encoding a driver would
/// produce (checked on the raw document) and comes back equal.
@Suite struct CodableTests {
    struct Profile: Codable, Sendable, Equatable {
        enum Plan: String, Codable, Sendable { case free, pro }
        enum Contact: Codable, Sendable, Equatable {
            case email(String)
            case phone(country: Int, number: String)
        }
        struct Address: Codable, Sendable, Equatable {
            var city: String
            var zip: String?
        }
        var _id: ObjectID
        var key: UUID
        var joined: Date
        var balance: Decimal
        var plan: Plan
        var contact: Contact
        var address: Address
        var tags: [String]
        var scores: [String: Int]
        var small: Int8
        var large: Int64
        var count: Int
        var huge: Int
        var unsigned: UInt32
        var ratio: Double
        var single: Float
        var active: Bool
        var avatar: Data
        var nickname: String?
        var history: [Address]
    }

    static func sample() -> Profile {
        Profile(_id: ObjectID(), key: UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF")!,
                joined: Date(timeIntervalSince1970: 1_700_000_000.123), balance: Decimal(string: "1234.5678")!,
                plan: .pro, contact: .phone(country: 44, number: "2079460000"), address: .init(city: "Leeds", zip: nil),
                tags: ["a", "b"], scores: ["math": 9], small: -3, large: 7, count: 42, huge: 1 << 40, unsigned: 4_000_000_000,
                ratio: 0.25, single: 1.5, active: true, avatar: Data([0, 1, 2, 255]), nickname: nil,
                history: [.init(city: "York", zip: "YO1")])
    }

    @Test func everySupportedTypeRoundTripsWithTheDriversEncoding() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let profiles = folio.database("app").collection("profiles", as: Profile.self)
        let p = Self.sample()
        try await profiles.insertOne(p)
        #expect(try await profiles.findOne() == p)

        let raw = try #require(try await folio.database("app").collection("profiles").findOne())
        #expect(raw["_id"] == .objectID(p._id))
        #expect(raw["key"] == .binary(Binary(subtype: 4, data: [0x6F, 0x96, 0x19, 0xFF, 0x8B, 0x86, 0xD0, 0x11,
                                                                  0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF])))
        #expect(raw["joined"] == .datetime(1_700_000_000_123))
        #expect(raw["balance"] == .decimal128(Decimal128("1234.5678")!))
        #expect(raw["plan"] == "pro")
        #expect(raw["contact"] == ["phone": ["country": 44, "number": "2079460000"]])
        #expect(raw["address"] == ["city": "Leeds"])
        #expect(raw["small"] == .int32(-3))
        #expect(raw["large"] == .int64(7))
        #expect(raw["count"] == .int32(42))
        #expect(raw["huge"] == .int64(1 << 40))
        #expect(raw["unsigned"] == .int64(4_000_000_000))
        #expect(raw["ratio"] == .double(0.25))
        #expect(raw["single"] == .double(1.5))
        #expect(raw["avatar"] == .binary(Binary(subtype: 0, data: [0, 1, 2, 255])))
        #expect(raw["nickname"] == nil)
        #expect(raw.fieldNames.first == "_id")

        // Queries take the same values: a Date and a Decimal compare as BSON.
        #expect(try await profiles.countDocuments(["joined": .datetime(1_700_000_000_123), "balance": ["$gt": .decimal128(Decimal128("1000")!)]]) == 1)
        let updated = try await profiles.findOneAndUpdate(["_id": .objectID(p._id)], ["$set": ["plan": "free"]], returnNew: true)
        #expect(updated?.plan == .free)
    }

    @Test func decodingFailuresNameTheTypeAndDecimalsThatDoNotFitAreRefused() async throws {
        let folio = try FolioClient.inMemory()
        defer { folio.close() }
        let raw = folio.database("app").collection("profiles")
        try await raw.insertOne(["_id": 1, "plan": "enterprise"])
        do {
            _ = try await folio.database("app").collection("profiles", as: Profile.self).findOne()
            Issue.record("a document missing fields decoded")
        } catch {
            #expect(error.code == .typeMismatch)
            #expect(error.message.contains("Profile"))
        }
        var p = Self.sample()
        p.balance = Decimal(string: "1.2345678901234567890123456789012345678")!
        await #expect(throws: FolioError.self) {
            try await folio.database("app").collection("other", as: Profile.self).insertOne(p)
        }
        #expect(try await folio.database("app").collection("other").countDocuments() == 0)
    }
}
