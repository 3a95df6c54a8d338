import Testing
@testable import FolioBSON

@Suite struct ObjectIDTests {
    @Test func hexRoundTripAndParsing() {
        let id = ObjectID(hex: "507F1F77bcf86cd799439011")!
        #expect(id.hex == "507f1f77bcf86cd799439011")
        #expect(id.timestampSeconds == 0x507F1F77)
        #expect(ObjectID(hex: "507f1f77bcf86cd79943901") == nil)
        #expect(ObjectID(hex: "507f1f77bcf86cd79943901g") == nil)
    }

    @Test func generatedIDsFollowTheSpecification() {
        let now = UInt32(ObjectID.currentSeconds())
        let a = ObjectID(), b = ObjectID()
        #expect(a != b)
        #expect(a.timestampSeconds >= now - 1 && a.timestampSeconds <= now + 1)
        // Same process: the 5 random bytes agree, the counter advances by one.
        #expect(a.byteArray[4..<9] == b.byteArray[4..<9])
        let ca = Int(a.byteArray[9]) << 16 | Int(a.byteArray[10]) << 8 | Int(a.byteArray[11])
        let cb = Int(b.byteArray[9]) << 16 | Int(b.byteArray[10]) << 8 | Int(b.byteArray[11])
        #expect((ca + 1) & 0xFFFFFF == cb)
    }
}

@Suite struct HashedIndexKeyTests {
    @Test func matchesMongoDBsPublishedHashes() {
        // hasher.cpp's self-check ({check: 42}) and the manual's $toHashedIndexKey example.
        #expect(BSON.int32(42).hashedIndexKey == -944302157085130861)
        #expect(BSON.string("string to hash").hashedIndexKey == 763543691661428748)
        // Numbers hash by their truncated int64 value, so equal numbers of any type agree.
        #expect(BSON.double(42.9).hashedIndexKey == BSON.int64(42).hashedIndexKey)
        #expect(BSON.null.hashedIndexKey != BSON.undefined.hashedIndexKey)
        #expect(BSON.document(["a": 1]).hashedIndexKey != BSON.document(["b": 1]).hashedIndexKey)
    }
}
