import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// saslStart, saslContinue, logout, connectionStatus and hello's authentication fields
/// (Commands/Authenticate.swift), over an in-process server with access control on.
@Suite struct AuthenticateTests {
    func server() throws -> TestServer {
        let s = try TestServer(auth: true)
        #expect(s.run(["createUser": "root", "pwd": "pw", "roles": ["root"]], db: "admin")["ok"] == .double(1))
        return s
    }

    @Test func bothMechanismsAuthenticateWithAndWithoutTheEmptyExchange() throws {
        let s = try server()
        for mechanism in SCRAMMechanism.allCases {
            for skip in [true, false] {
                let other = ConnectionInfo(id: 7, remoteAddress: "10.0.0.1:5")
                #expect(s.run(["find": "c"], connection: other)["code"] == .int32(13))
                let reply = try s.authenticate("root", "pw", db: "admin", mechanism: mechanism, skipEmptyExchange: skip, connection: other)
                #expect(reply["done"] == true, "\(reply)")
                #expect(s.run(["find": "c"], connection: other)["ok"] == .double(1))
                let status = s.run(["connectionStatus": 1], connection: other)["authInfo"]?.documentValue
                #expect(status?["authenticatedUsers"] == [["user": "root", "db": "admin"]])
                #expect(s.run(["logout": 1], db: "admin", connection: other)["ok"] == .double(1))
                #expect(s.run(["find": "c"], connection: other)["code"] == .int32(13))
            }
        }
    }

    @Test func wrongPasswordsAndUnknownUsersGet18() throws {
        let s = try server()
        let remote = ConnectionInfo(id: 9, remoteAddress: "10.0.0.2:5")
        for (user, password) in [("root", "nope"), ("ghost", "pw")] {
            let reply = try s.authenticate(user, password, db: "admin", connection: remote)
            #expect(reply["code"] == .int32(18) && reply["errmsg"] == "Authentication failed.")
        }
        // The failed conversation is gone.
        #expect(s.run(["saslContinue": 1, "conversationId": 1, "payload": .binary(Binary(data: []))], db: "admin",
                      connection: remote)["code"] == .int32(17))
    }

    @Test func theLocalhostExceptionOnlyCreatesTheFirstUserFromLoopback() throws {
        let s = try TestServer(auth: true)
        let remote = ConnectionInfo(id: 3, remoteAddress: "192.168.1.5:9")
        #expect(s.run(["createUser": "root", "pwd": "pw", "roles": ["root"]], db: "admin", connection: remote)["code"] == .int32(13))
        #expect(s.run(["createUser": "root", "pwd": "pw", "roles": ["root"]], db: "app")["code"] == .int32(13))
        #expect(s.run(["find": "c"])["errmsg"] == "command find requires authentication")
        #expect(s.run(["createUser": "root", "pwd": "pw", "roles": ["root"]], db: "admin")["ok"] == .double(1))
        #expect(s.run(["createUser": "second", "pwd": "pw", "roles": ["root"]], db: "admin")["code"] == .int32(13))
        #expect(s.run(["ping": 1])["ok"] == .double(1))
    }

    @Test func helloOffersMechanismsAndAnswersSpeculativeAuthentication() throws {
        let s = try server()
        let remote = ConnectionInfo(id: 11, remoteAddress: "10.0.0.3:5")
        let hello = s.run(["hello": 1, "saslSupportedMechs": "admin.root",
                           "speculativeAuthenticate": ["saslStart": 1, "mechanism": "SCRAM-SHA-256",
                                                       "payload": .binary(Binary(data: Array("n,,n=root,r=abc".utf8))), "db": "admin"]],
                          db: "admin", connection: remote)
        #expect(hello["saslSupportedMechs"] == ["SCRAM-SHA-1", "SCRAM-SHA-256"])
        #expect(hello["speculativeAuthenticate"]?.documentValue?["conversationId"] == .int32(1))
        let unknown = s.run(["hello": 1, "saslSupportedMechs": "admin.ghost",
                             "speculativeAuthenticate": ["saslStart": 1, "mechanism": "SCRAM-SHA-256",
                                                         "payload": .binary(Binary(data: Array("n,,n=ghost,r=abc".utf8))), "db": "admin"]],
                            db: "admin", connection: remote)
        #expect(unknown["saslSupportedMechs"] == nil && unknown["speculativeAuthenticate"] == nil)
    }

    @Test func x509AuthenticatesTheVerifiedCertificatesSubject() throws {
        let s = try server()
        try s.authenticate("root", "pw", db: "admin")
        #expect(s.run(["createUser": "CN=app,O=Tenant A", "roles": [["role": "readWrite", "db": "test"]]], db: "$external")["ok"] == .double(1))
        #expect(s.run(["createUser": "CN=x", "pwd": "pw", "roles": []], db: "$external")["code"] == .int32(2))
        let client = ConnectionInfo(id: 41, remoteAddress: "10.0.0.9:1")
        let x509: Document = ["authenticate": 1, "mechanism": "MONGODB-X509"]
        #expect(s.run(x509, db: "$external", connection: client)["code"] == .int32(18))   // no certificate
        s.dispatcher.context.connections.state(for: client).withLock { $0.authentication.peerSubject = "CN=app,O=Tenant A" }
        #expect(s.run(x509, db: "admin", connection: client)["code"] == .int32(2))
        let named: Document = ["authenticate": 1, "mechanism": "MONGODB-X509", "user": "CN=other"]
        #expect(s.run(named, db: "$external", connection: client)["code"] == .int32(18))
        let ok = s.run(x509, db: "$external", connection: client)
        #expect(ok["dbname"] == "$external" && ok["user"] == "CN=app,O=Tenant A")
        #expect(s.run(["insert": "c", "documents": [[:]]], db: "app", connection: client)["code"] == .int32(13))
        #expect(s.run(["insert": "c", "documents": [[:]]], db: "test", connection: client)["ok"] == .double(1))
        let unknown = ConnectionInfo(id: 42, remoteAddress: "10.0.0.9:2")
        s.dispatcher.context.connections.state(for: unknown).withLock { $0.authentication.peerSubject = "CN=nobody" }
        #expect(s.run(x509, db: "$external", connection: unknown)["code"] == .int32(11))
    }

    @Test func unsupportedMechanismsAndMalformedPayloads() throws {
        let s = try server()
        #expect(s.run(["saslStart": 1, "mechanism": "PLAIN", "payload": .binary(Binary(data: []))], db: "admin")["code"] == .int32(334))
        #expect(s.run(["saslStart": 1, "mechanism": "SCRAM-SHA-1", "payload": 5], db: "admin")["code"] == .int32(14))
        #expect(s.run(["saslStart": 1, "mechanism": "SCRAM-SHA-1", "payload": .binary(Binary(data: [0xFF]))], db: "admin")["code"] == .int32(2))
        #expect(s.run(["authenticate": 1, "mechanism": "MONGODB-CR"], db: "admin")["code"] == .int32(334))
    }
}
