import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// The privileges each command needs and the check before it runs (Security/CommandAccess.swift).
@Suite struct CommandAccessTests {
    func needs(_ body: Document, db: String = "app") throws -> [CommandAccess.Need] {
        let s = try TestServer()
        var b = body
        b.append("$db", .string(db))
        let r = CommandRequest(name: body.fieldNames[0], body: b, database: db, connection: s.connection, context: s.dispatcher.context)
        return try CommandAccess.needs(r, canonical: CommandDispatcher.canonicalName(body.fieldNames[0]))
    }

    func summary(_ n: [CommandAccess.Need]) -> [String] {
        n.map { "\($0.target): \($0.actions.map(\.name).sorted().joined(separator: ","))" }
    }

    @Test func crudCommandsNeedTheirActionsOnTheirCollection() throws {
        #expect(summary(try needs(["find": "c"])) == ["app.c: find"])
        #expect(summary(try needs(["insert": "c", "documents": []])) == ["app.c: insert"])
        #expect(summary(try needs(["update": "c", "updates": [["q": [:], "u": [:], "upsert": true]]])) == ["app.c: insert,update"])
        #expect(summary(try needs(["delete": "c", "deletes": []])) == ["app.c: remove"])
        #expect(summary(try needs(["findAndModify": "c", "remove": true])) == ["app.c: find,remove"])
        #expect(summary(try needs(["explain": ["count": "c"]])) == ["app.c: find"])
    }

    @Test func aggregationsNeedEveryNamespaceTheyTouch() throws {
        let pipeline: BSON = [["$lookup": ["from": "other", "as": "o", "pipeline": [["$unionWith": "third"]]]],
                              ["$facet": ["f": [["$lookup": ["from": ["db": "x", "coll": "y"], "as": "z", "pipeline": []]]]]],
                              ["$merge": ["into": ["db": "out", "coll": "m"]]]]
        #expect(summary(try needs(["aggregate": "c", "pipeline": pipeline])) ==
                ["app.c: find", "app.other: find", "app.third: find", "x.y: find", "out.m: insert,update"])
        #expect(summary(try needs(["aggregate": 1, "pipeline": [["$changeStream": [:]]]])) == ["app: changeStream,find"])
        #expect(summary(try needs(["aggregate": 1, "pipeline": [["$changeStream": ["allChangesForCluster": true]]]], db: "admin"))
                == ["the cluster: changeStream,find"])
        #expect(summary(try needs(["aggregate": "c", "pipeline": [["$out": "o"]]])) == ["app.c: find", "app.o: insert,remove"])
    }

    @Test func catalogAndClusterCommands() throws {
        #expect(summary(try needs(["renameCollection": "app.a", "to": "app.b"], db: "admin"))
                == ["app.a: renameCollectionSameDB", "app.b: renameCollectionSameDB"])
        #expect(summary(try needs(["renameCollection": "app.a", "to": "other.b", "dropTarget": true], db: "admin"))
                == ["app.a: dropCollection,find", "other.b: createCollection,createIndex,insert", "other.b: dropCollection"])
        #expect(summary(try needs(["serverStatus": 1], db: "admin")) == ["the cluster: serverStatus"])
        #expect(summary(try needs(["listCollections": 1, "authorizedCollections": true, "nameOnly": true])) == [])
        #expect(summary(try needs(["createUser": "u", "roles": ["read", ["role": "root", "db": "admin"]]]))
                == ["app: createUser", "app: grantRole", "admin: grantRole"])
        // A command without an entry needs everything.
        #expect(try needs(["mapReduce": "c"]).first?.actions == ActionSet.all)
    }

    @Test func unauthorizedMessagesRenderTheCommandAsMongoDBDoes() {
        let command: Document = ["find": "c", "filter": ["a": .int32(1), "t": .timestamp(Timestamp(seconds: 5, increment: 2))],
                                 "id": .binary(Binary(subtype: Binary.Subtype.uuid, data: [UInt8](repeating: 0xAB, count: 16))),
                                 "x": .double(2), "$db": "app"]
        #expect(ShellFormat.render(.double(.nan)) == "nan" && ShellFormat.render(.double(-.infinity)) == "-inf")
        #expect(ShellFormat.render(.double(2.5)) == "2.5" && ShellFormat.render(.double(1e300)) == "1e+300")
        let rendered = ShellFormat.render(command)
        #expect(rendered == #"{ find: "c", filter: { a: 1, t: Timestamp(5, 2) }, id: UUID("abababab-abab-abab-abab-abababababab"), x: 2.0, $db: "app" }"#)
    }
}
