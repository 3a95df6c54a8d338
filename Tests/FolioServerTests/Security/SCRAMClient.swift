import FolioBSON
import FolioQuery
@testable import FolioServer

/// A driver's side of SCRAM, for tests that authenticate through the dispatcher.
extension TestServer {
    /// Runs saslStart and saslContinue (and the empty last step unless `skipEmptyExchange`)
    /// for `user`; returns the last reply (an error reply when authentication failed).
    @discardableResult
    func authenticate(_ user: String, _ password: String, db: String, mechanism: SCRAMMechanism = .sha256,
                      skipEmptyExchange: Bool = true, connection: ConnectionInfo? = nil) throws -> Document {
        let clientFirstBare = "n=\(user),r=clientNonceForTests"
        let start = run(["saslStart": 1, "mechanism": .string(mechanism.rawValue), "payload": .binary(Binary(data: Array("n,,\(clientFirstBare)".utf8))),
                         "options": ["skipEmptyExchange": .bool(skipEmptyExchange)]], db: db, connection: connection)
        guard case .binary(let first)? = start["payload"] else { return start }
        let serverFirst = String(decoding: first.data, as: UTF8.self)
        var fields: [String: String] = [:]
        for part in serverFirst.split(separator: ",") { fields[String(part.prefix(1))] = String(part.dropFirst(2)) }
        let salted = try SCRAMCredential.saltedPassword(password, user: user, mechanism: mechanism, salt: Base64.decode(fields["s"]!)!,
                                                        iterations: Int(fields["i"]!)!)
        let withoutProof = "c=biws,r=\(fields["r"]!)"
        let authMessage = Array("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientKey = mechanism.hmac(key: salted, Array("Client Key".utf8))
        let signature = mechanism.hmac(key: mechanism.hash(clientKey), authMessage)
        var proof: [UInt8] = []
        for i in 0..<clientKey.count { proof.append(clientKey[i] ^ signature[i]) }
        let id: BSON = start["conversationId"] ?? .int32(1)
        let final: Document = ["saslContinue": 1, "conversationId": id,
                               "payload": .binary(Binary(data: Array("\(withoutProof),p=\(Base64.encode(proof))".utf8)))]
        var reply = run(final, db: db, connection: connection)
        if reply["ok"] == .double(1), reply["done"] == .bool(false) {
            let empty: Document = ["saslContinue": 1, "conversationId": id, "payload": .binary(Binary(data: []))]
            reply = run(empty, db: db, connection: connection)
        }
        return reply
    }
}
