import Testing
@testable import FolioBSON

@Suite struct HexTests {
    @Test func roundTripsAndRefusesWhatIsNotHex() {
        let bytes: [UInt8] = [0x00, 0x82, 0xAB, 0xFF, 0x10]
        #expect(Hex.encode(bytes) == "0082abff10" && Hex.encode(bytes, uppercase: true) == "0082ABFF10")
        #expect(Hex.decode("0082ABff10") == bytes && Hex.decode("") == [])
        for bad in ["0", "zz", "0g", "é1", "12 3"] { #expect(Hex.decode(bad) == nil, "\(bad)") }
    }
}
