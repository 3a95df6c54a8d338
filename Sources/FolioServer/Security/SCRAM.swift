import Crypto
import _CryptoExtras
import FolioBSON
import FolioQuery
// NFKC for SASLprep.
import Foundation

// SCRAM (RFC 5802, RFC 7677) as MongoDB speaks it through saslStart/saslContinue: the
// credentials a user is stored with, and the server's side of one conversation as a pure value
// (no sockets, no storage: the caller hands it the user's credential and the payloads).

/// The two SCRAM mechanisms MongoDB offers.
enum SCRAMMechanism: String, Sendable, CaseIterable {
    case sha1 = "SCRAM-SHA-1"
    case sha256 = "SCRAM-SHA-256"

    /// MongoDB's default iteration counts (`scramIterationCount`, `scramSHA256IterationCount`).
    var defaultIterations: Int { self == .sha1 ? 10_000 : 15_000 }
    /// Salt length: the digest's length less four, as MongoDB makes them.
    var saltLength: Int { self == .sha1 ? 16 : 28 }
    var digestLength: Int { self == .sha1 ? Insecure.SHA1.byteCount : SHA256.byteCount }

    func hash(_ data: [UInt8]) -> [UInt8] {
        self == .sha1 ? Array(Insecure.SHA1.hash(data: data)) : Array(SHA256.hash(data: data))
    }

    func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        let k = SymmetricKey(data: key)
        return self == .sha1 ? Array(HMAC<Insecure.SHA1>.authenticationCode(for: data, using: k))
                             : Array(HMAC<SHA256>.authenticationCode(for: data, using: k))
    }
}

/// What the server keeps of a password for one mechanism (never the password itself).
struct SCRAMCredential: Sendable, Equatable {
    var iterationCount: Int
    var salt: [UInt8]
    var storedKey: [UInt8]
    var serverKey: [UInt8]

    /// Derives the credential of `password` for `user`, as MongoDB and the drivers do: SCRAM-SHA-1
    /// salts MongoDB's password digest (hex MD5 of `user:mongo:password`), SCRAM-SHA-256 the
    /// SASLprep'd password.
    /// `digested`: the password is already MongoDB's digest (createUser's `digestPassword: false`,
    /// SCRAM-SHA-1 only).
    /// - Throws: BadValue when the password is not valid under SASLprep.
    static func derive(password: String, user: String, mechanism: SCRAMMechanism, salt: [UInt8]? = nil,
                       iterations: Int? = nil, digested: Bool = false) throws(FolioError) -> SCRAMCredential {
        let salt = salt ?? randomBytes(mechanism.saltLength)
        let iterations = iterations ?? mechanism.defaultIterations
        let salted = try saltedPassword(password, user: user, mechanism: mechanism, salt: salt, iterations: iterations, digested: digested)
        let clientKey = mechanism.hmac(key: salted, Array("Client Key".utf8))
        return SCRAMCredential(iterationCount: iterations, salt: salt, storedKey: mechanism.hash(clientKey),
                               serverKey: mechanism.hmac(key: salted, Array("Server Key".utf8)))
    }

    /// SCRAM's SaltedPassword: PBKDF2 over the mechanism's secret (what a client derives too).
    static func saltedPassword(_ password: String, user: String, mechanism: SCRAMMechanism, salt: [UInt8], iterations: Int,
                               digested: Bool = false) throws(FolioError) -> [UInt8] {
        let secret: [UInt8]
        switch mechanism {
        case .sha1: secret = Array((digested ? password : SCRAMCredential.passwordDigest(user: user, password: password)).utf8)
        case .sha256: secret = Array(try SASLprep.prepare(password).utf8)
        }
        do {
            let key = try KDF.Insecure.PBKDF2.deriveKey(from: secret, salt: salt,
                                                        using: mechanism == .sha1 ? .insecureSHA1 : .sha256,
                                                        outputByteCount: mechanism.digestLength, unsafeUncheckedRounds: iterations)
            return key.withUnsafeBytes { Array($0) }
        } catch {
            throw FolioError(.internalError, "PBKDF2 failed: \(error)")
        }
    }

    /// MongoDB's password digest (SCRAM-SHA-1's secret and the old MONGODB-CR's).
    static func passwordDigest(user: String, password: String) -> String {
        Hex.encode(Array(Insecure.MD5.hash(data: Array("\(user):mongo:\(password)".utf8))))
    }

    /// As `admin.system.users` stores it.
    var document: Document {
        ["iterationCount": .int32(Int32(clamping: iterationCount)), "salt": .string(Base64.encode(salt)),
         "storedKey": .string(Base64.encode(storedKey)), "serverKey": .string(Base64.encode(serverKey))]
    }

    /// Reads a stored credential (nil when it is not one).
    init?(document: Document, mechanism: SCRAMMechanism) {
        guard let n = document["iterationCount"]?.exactInt64, n > 0,
              let salt = document["salt"]?.stringValue.flatMap(Base64.decode),
              let stored = document["storedKey"]?.stringValue.flatMap(Base64.decode),
              let server = document["serverKey"]?.stringValue.flatMap(Base64.decode),
              stored.count == mechanism.digestLength, server.count == mechanism.digestLength else { return nil }
        self.init(iterationCount: Int(n), salt: salt, storedKey: stored, serverKey: server)
    }

    init(iterationCount: Int, salt: [UInt8], storedKey: [UInt8], serverKey: [UInt8]) {
        self.iterationCount = iterationCount
        self.salt = salt
        self.storedKey = storedKey
        self.serverKey = serverKey
    }
}

func randomBytes(_ n: Int) -> [UInt8] {
    var g = SystemRandomNumberGenerator()
    return (0..<n).map { _ in UInt8.random(in: .min ... .max, using: &g) }
}

/// The server's side of one SCRAM conversation: client-first → server-first, client-final →
/// server-final. A pure value: the caller gives it the user's stored credential (or nil for a
/// user who does not exist: the conversation then goes on with a made-up salt and fails at the
/// proof, so an unknown user and a wrong password look the same from outside).
struct SCRAMConversation: Sendable {
    enum Failure: Error, Equatable, Sendable {
        /// A payload that is not what the step expects (BadValue, with the reason).
        case malformed(String)
        /// A wrong proof, an unknown user or a mismatched nonce (AuthenticationFailed).
        case authenticationFailed
    }

    let mechanism: SCRAMMechanism
    /// The user named in the client's first message.
    private(set) var user = ""
    private var credential: SCRAMCredential?
    private var gs2Header = ""
    private var clientFirstBare = ""
    private var serverFirst = ""
    private var nonce = ""
    private(set) var finished = false

    init(mechanism: SCRAMMechanism) { self.mechanism = mechanism }

    /// The user a client-first message names (before the conversation starts, to look them up).
    static func user(inClientFirst payload: [UInt8]) throws(Failure) -> String {
        try parseClientFirst(payload).user
    }

    private static func parseClientFirst(_ payload: [UInt8]) throws(Failure) -> (header: String, bare: String, user: String, nonce: String) {
        guard let text = String(validating: payload, as: UTF8.self) else { throw .malformed("SCRAM message is not valid UTF-8") }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count >= 4 else {
            throw .malformed("Incorrect number of arguments for first SCRAM client message, got \(parts.count) expected at least 4")
        }
        switch parts[0] {
        case "n", "y": break
        default:
            if parts[0].hasPrefix("p=") { throw .malformed("Server does not support channel binding") }
            throw .malformed("Incorrect SCRAM client message prefix: \(parts[0])")
        }
        guard parts[1].isEmpty || parts[1].hasPrefix("a=") else { throw .malformed("Incorrect SCRAM authzid: \(parts[1])") }
        guard parts[2].hasPrefix("n=") else { throw .malformed("Invalid SCRAM user name: \(parts[2])") }
        guard parts[3].hasPrefix("r="), parts[3].count > 2 else { throw .malformed("Invalid SCRAM client nonce: \(parts[3])") }
        if parts.dropFirst(4).contains(where: { $0.hasPrefix("m=") }) { throw .malformed("SCRAM mandatory extensions are not supported") }
        let user = try unescape(String(parts[2].dropFirst(2)))
        guard !user.isEmpty else { throw .malformed("SCRAM user name is empty") }
        if parts[1].hasPrefix("a="), try unescape(String(parts[1].dropFirst(2))) != user {
            throw .malformed("SCRAM authorization identity must match the user name")
        }
        let header = "\(parts[0]),\(parts[1]),"
        return (header, parts[2...].joined(separator: ","), user, String(parts[3].dropFirst(2)))
    }

    /// `=2C` and `=3D` back to `,` and `=` (RFC 5802's saslname).
    private static func unescape(_ s: String) throws(Failure) -> String {
        guard s.contains("=") else { return s }
        var out = "", rest = Substring(s)
        while let eq = rest.firstIndex(of: "=") {
            out += rest[..<eq]
            let code = rest[rest.index(after: eq)...].prefix(2)
            switch code {
            case "2C": out += ","
            case "3D": out += "="
            default: throw .malformed("Invalid SCRAM user name escape: =\(code)")
            }
            rest = rest[rest.index(eq, offsetBy: 1 + code.count)...]
        }
        return out + rest
    }

    /// The server-first message for the client's first one. `credential` is the named user's
    /// (nil when there is none); `fakeSalt` stands in for a missing user's salt; `serverNonce`
    /// is printable and has no comma.
    mutating func start(_ payload: [UInt8], credential: SCRAMCredential?, fakeSalt: [UInt8],
                        serverNonce: String = Base64.encode(randomBytes(24))) throws(Failure) -> [UInt8] {
        let first = try SCRAMConversation.parseClientFirst(payload)
        user = first.user
        gs2Header = first.header
        clientFirstBare = first.bare
        self.credential = credential
        nonce = first.nonce + serverNonce
        let salt = credential?.salt ?? fakeSalt
        let iterations = credential?.iterationCount ?? mechanism.defaultIterations
        serverFirst = "r=\(nonce),s=\(Base64.encode(salt)),i=\(iterations)"
        return Array(serverFirst.utf8)
    }

    /// Checks the client's proof and returns the server-final message (`v=` signature).
    mutating func finish(_ payload: [UInt8]) throws(Failure) -> [UInt8] {
        guard !serverFirst.isEmpty, !finished else { throw .malformed("SCRAM conversation is not expecting a final message") }
        guard let text = String(validating: payload, as: UTF8.self) else { throw .malformed("SCRAM message is not valid UTF-8") }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count >= 3, let proofPart = parts.last, proofPart.hasPrefix("p=") else {
            throw .malformed("Incorrect number of arguments for final SCRAM client message, got \(parts.count) expected at least 3")
        }
        guard parts[0].hasPrefix("c="), parts[1].hasPrefix("r=") else { throw .malformed("Incorrect SCRAM client final message") }
        guard let proof = Base64.decode(String(proofPart.dropFirst(2))) else { throw .malformed("Invalid SCRAM proof") }
        guard String(parts[0].dropFirst(2)) == Base64.encode(Array(gs2Header.utf8)) else {
            throw .malformed("Unmatched SCRAM channel binding from client")
        }
        guard constantTimeEqual(Array(parts[1].dropFirst(2).utf8), Array(nonce.utf8)) else { throw .authenticationFailed }
        let withoutProof = parts.dropLast().joined(separator: ",")
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        guard let credential, proof.count == mechanism.digestLength else { throw .authenticationFailed }
        let signature = mechanism.hmac(key: credential.storedKey, authMessage)
        let clientKey = zip(proof, signature).map { $0 ^ $1 }
        guard constantTimeEqual(mechanism.hash(clientKey), credential.storedKey) else { throw .authenticationFailed }
        finished = true
        return Array("v=\(Base64.encode(mechanism.hmac(key: credential.serverKey, authMessage)))".utf8)
    }
}

/// Equal bytes, in a time that depends only on the lengths.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
}

/// SASLprep (RFC 4013): the mapping and normalization SCRAM-SHA-256 applies to passwords, as
/// the drivers do before deriving their keys.
enum SASLprep {
    /// - Throws: BadValue for prohibited characters.
    static func prepare(_ s: String) throws(FolioError) -> String {
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return s }
        var mapped = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            if mappedToNothing.contains(scalar.value) { continue }
            mapped.append(nonASCIISpace(scalar.value) ? " " : scalar)
        }
        let normalized = String(mapped).precomposedStringWithCompatibilityMapping
        for scalar in normalized.unicodeScalars where prohibited(scalar.value) {
            throw FolioError(.badValue, "Error SASLPrepping password: prohibited character U+\(String(scalar.value, radix: 16, uppercase: true))")
        }
        return normalized
    }

    /// RFC 3454 B.1.
    static let mappedToNothing: Set<UInt32> = [0x00AD, 0x034F, 0x1806, 0x180B, 0x180C, 0x180D, 0x200B, 0x200C, 0x200D, 0x2060,
                                               0xFE00, 0xFE01, 0xFE02, 0xFE03, 0xFE04, 0xFE05, 0xFE06, 0xFE07, 0xFE08, 0xFE09,
                                               0xFE0A, 0xFE0B, 0xFE0C, 0xFE0D, 0xFE0E, 0xFE0F, 0xFEFF]

    /// RFC 3454 C.1.2.
    static func nonASCIISpace(_ v: UInt32) -> Bool {
        v == 0x00A0 || v == 0x1680 || (0x2000...0x200B).contains(v) || v == 0x202F || v == 0x205F || v == 0x3000
    }

    /// RFC 3454 C.1.2 through C.9 (SASLprep's prohibited output).
    static func prohibited(_ v: UInt32) -> Bool {
        if nonASCIISpace(v) { return true }
        if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) { return true }                       // C.2.1, C.2.2
        if [0x06DD, 0x070F, 0x180E, 0x200C, 0x200D, 0x2028, 0x2029, 0xFEFF].contains(v) { return true } // C.2.2
        if (0x2060...0x2063).contains(v) || (0x206A...0x206F).contains(v) || (0xFFF9...0xFFFC).contains(v) { return true }
        if (0x1D173...0x1D17A).contains(v) { return true }
        if (0xE000...0xF8FF).contains(v) || (0xF0000...0xFFFFD).contains(v) || (0x100000...0x10FFFD).contains(v) { return true } // C.3
        if (0xFDD0...0xFDEF).contains(v) || (v & 0xFFFE) == 0xFFFE { return true }                   // C.4
        if (0xD800...0xDFFF).contains(v) { return true }                                             // C.5
        if v == 0xFFFD || (0x2FF0...0x2FFB).contains(v) { return true }                              // C.6, C.7
        if v == 0x0340 || v == 0x0341 || v == 0x200E || v == 0x200F || (0x202A...0x202E).contains(v) { return true } // C.8
        if v == 0xE0001 || (0xE0020...0xE007F).contains(v) { return true }                           // C.9
        return false
    }
}
