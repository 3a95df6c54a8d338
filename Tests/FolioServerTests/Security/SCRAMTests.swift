import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// The SCRAM conversation and credentials against the RFCs' test vectors, and hostile messages.
@Suite struct SCRAMTests {
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func rfc7677SHA256Vector() throws {
        let credential = try SCRAMCredential.derive(password: "pencil", user: "user", mechanism: .sha256,
                                                    salt: Base64.decode("W22ZaJ0SNY7soEsUEjb6gQ==")!, iterations: 4096)
        var c = SCRAMConversation(mechanism: .sha256)
        let first = try c.start(bytes("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), credential: credential, fakeSalt: [],
                                serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
        #expect(String(decoding: first, as: UTF8.self)
                == "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        let final = try c.finish(bytes("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
        #expect(String(decoding: final, as: UTF8.self) == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
        #expect(c.finished && c.user == "user")
    }

    @Test func rfc5802SHA1Vector() throws {
        // MongoDB's SCRAM-SHA-1 salts its password digest; `digested` takes the RFC's password as that digest.
        let credential = try SCRAMCredential.derive(password: "pencil", user: "user", mechanism: .sha1,
                                                    salt: Base64.decode("QSXCR+Q6sek8bf92")!, iterations: 4096, digested: true)
        var c = SCRAMConversation(mechanism: .sha1)
        _ = try c.start(bytes("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"), credential: credential, fakeSalt: [], serverNonce: "3rfcNHYJY1ZVvWVs7j")
        let final = try c.finish(bytes("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="))
        #expect(String(decoding: final, as: UTF8.self) == "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
    }

    @Test func mongoDBPasswordDigest() {
        // The drivers' auth spec: user "user", password "pencil".
        #expect(SCRAMCredential.passwordDigest(user: "user", password: "pencil") == "1c33006ec1ffd90f9cadcbcc0e118200")
    }

    @Test func storedCredentialsRoundTrip() throws {
        for m in SCRAMMechanism.allCases {
            let c = try SCRAMCredential.derive(password: "pw", user: "u", mechanism: m)
            #expect(c.salt.count == m.saltLength && c.iterationCount == m.defaultIterations)
            #expect(SCRAMCredential(document: c.document, mechanism: m) == c)
        }
        let bad: Document = ["iterationCount": 1, "salt": "!!", "storedKey": "", "serverKey": ""]
        #expect(SCRAMCredential(document: bad, mechanism: .sha1) == nil)
    }

    @Test func wrongProofsUnknownUsersAndWrongNoncesFailAlike() throws {
        let credential = try SCRAMCredential.derive(password: "pencil", user: "user", mechanism: .sha256, iterations: 4096)
        let finals = ["c=biws,r=abcSERVER,p=" + Base64.encode([UInt8](repeating: 1, count: 32)),   // wrong proof
                      "c=biws,r=abcOTHER,p=" + Base64.encode([UInt8](repeating: 1, count: 32)),    // wrong nonce
                      "c=biws,r=abcSERVER,p=AAAA"]                                                 // short proof
        for (final, known) in [(finals[0], true), (finals[1], true), (finals[2], true), (finals[0], false)] {
            var c = SCRAMConversation(mechanism: .sha256)
            _ = try c.start(bytes("n,,n=user,r=abc"), credential: known ? credential : nil, fakeSalt: [1, 2], serverNonce: "SERVER")
            #expect(throws: SCRAMConversation.Failure.authenticationFailed) { try c.finish(bytes(final)) }
            #expect(!c.finished)
        }
    }

    @Test(arguments: ["", "n", "n,,", "n,,n=user", "p=tls-unique,,n=user,r=abc", "q,,n=user,r=abc", "n,,u=user,r=abc",
                      "n,,n=user,r=", "n,,n=,r=abc", "n,,n=us=2Aer,r=abc", "n,,n=user,r=abc,m=ext", "n,a=other,n=user,r=abc"])
    func malformedClientFirstMessages(message: String) {
        var c = SCRAMConversation(mechanism: .sha256)
        #expect(throws: SCRAMConversation.Failure.self) { try c.start(bytes(message), credential: nil, fakeSalt: []) }
    }

    @Test func invalidUTF8AndFinalBeforeStartAreMalformed() {
        var c = SCRAMConversation(mechanism: .sha1)
        #expect(throws: SCRAMConversation.Failure.self) { try c.start([0xFF, 0xFE], credential: nil, fakeSalt: []) }
        #expect(throws: SCRAMConversation.Failure.self) { try c.finish(bytes("c=biws,r=x,p=AAAA")) }
    }

    @Test func escapedUserNames() throws {
        #expect(try SCRAMConversation.user(inClientFirst: bytes("n,,n=a=2Cb=3Dc,r=x")) == "a,b=c")
        #expect(try SCRAMConversation.user(inClientFirst: bytes("n,a=a=2Cb,n=a=2Cb,r=x")) == "a,b")
    }

    @Test func saslPrepMapsAndRefusesAsRFC4013Says() throws {
        #expect(try SASLprep.prepare("user") == "user")
        #expect(try SASLprep.prepare("I\u{00AD}X") == "IX")        // soft hyphen maps to nothing
        #expect(try SASLprep.prepare("\u{00AA}") == "a")           // NFKC
        #expect(try SASLprep.prepare("\u{2168}") == "IX")          // NFKC
        #expect(try SASLprep.prepare("a\u{00A0}b") == "a b")       // non-ASCII space
        #expect(throws: FolioError.self) { try SASLprep.prepare("\u{0007}") }
        #expect(throws: FolioError.self) { try SASLprep.prepare("a\u{E000}") }
    }
}
