import Testing
import FolioBSON
import FolioQuery
@testable import FolioServer

/// The server's log (ServerLog.swift): MongoDB's JSON lines, verbosity, quiet, getLog, slow
/// operations and the profile command.
@Suite struct ServerLogTests {
    @Test func linesAreMongoDBsStructuredJSON() throws {
        let log = ServerLog.discarding()
        log.log(.info, .network, id: 22943, ctx: "listener", "Connection accepted", attr: ["remote": "127.0.0.1:1", "connectionId": .int64(7)])
        let line = try #require(log.recent.lines.last)
        let d = try ExtendedJSON.document(from: line)
        #expect(d.fieldNames == ["t", "s", "c", "id", "ctx", "msg", "attr"], "\(line)")
        #expect(d["s"] == "I" && d["c"] == "NETWORK" && d["ctx"] == "listener" && d["msg"] == "Connection accepted")
        #expect(d["id"]?.exactInt64 == 22943)
        #expect(d["t"]?.documentValue?["$date"] != nil || d["t"]?.type == .datetime, "\(line)")
        #expect(d["attr"]?.documentValue?["connectionId"]?.exactInt64 == 7, "numbers stay numbers")
        #expect(!line.contains(", ") && !line.contains(": "), "no whitespace, as MongoDB writes it")
    }

    @Test func verbosityQuietAndTheRecentLines() throws {
        let quiet = ServerLog(fileDescriptor: -1, quiet: true)
        quiet.log(.info, .network, id: 22943, ctx: "listener", "Connection accepted", quietable: true)
        quiet.log(.debug(1), .command, id: 1, ctx: "conn1", "debug line")
        #expect(quiet.recent.total == 0)
        try quiet.setComponentVerbosity(["command": ["verbosity": 2]])
        quiet.log(.debug(2), .command, id: 1, ctx: "conn1", "command debug")
        quiet.log(.debug(1), .query, id: 1, ctx: "conn1", "query debug")
        #expect(quiet.recent.lines.count == 1 && quiet.recent.lines[0].contains("\"s\":\"D2\""))
        #expect(quiet.componentVerbosity["command"] == ["verbosity": .int32(2)] && quiet.componentVerbosity["verbosity"] == .int32(0))
        #expect(throws: FolioError.self) { try quiet.setComponentVerbosity(["nonsense": 1]) }
        #expect(throws: FolioError.self) { try quiet.setComponentVerbosity(["verbosity": 9]) }
        for i in 0..<1100 { quiet.log(.info, .control, id: i, ctx: "main", "line \(i)") }
        let recent = quiet.recent
        #expect(recent.total == 1101 && recent.lines.count == 1024)
        #expect(recent.lines.last?.contains("line 1099") == true && recent.lines.first?.contains("line 76\"") == true)
    }

    @Test func getLogSlowOperationsAndProfile() throws {
        let s = try TestServer()
        #expect(s.run(["getLog": "*"], db: "admin")["names"] == ["global", "startupWarnings"])
        #expect(s.run(["getLog": "nope"], db: "admin")["code"] == .int32(96))
        let profile = s.run(["profile": 0, "slowms": 0, "sampleRate": 1.0])
        #expect(profile["was"] == .int32(0) && profile["slowms"] == .int32(100) && profile["sampleRate"] == .double(1), "\(profile)")
        s.run(["insert": "c", "documents": [["_id": 1]]])
        let global = s.run(["getLog": "global"], db: "admin")
        let lines = (global["log"]?.arrayValue ?? []).compactMap { $0.stringValue }
        let found = lines.first { $0.contains("\"Slow query\"") && $0.contains("\"insert\":\"c\"") }
        let slow = try #require(found, "\(lines)")
        let parsed = try ExtendedJSON.document(from: slow)
        let attr = try #require(parsed["attr"]?.documentValue)
        #expect(attr["ns"] == "test.c" && attr["type"] == "command" && attr["durationMillis"] != nil && attr["protocol"] == "op_msg")
        #expect(s.run(["profile": -1])["slowms"] == .int32(0))
        // Level 1 profiles (ProfilerTests); it is per database.
        #expect(s.run(["profile": 1])["was"] == .int32(0))
        #expect(s.run(["profile": 0])["was"] == .int32(1))
        #expect(s.run(["profile": 0, "sampleRate": 2])["code"] == .int32(2))
        #expect(s.run(["setParameter": 1, "logComponentVerbosity": ["command": 1]], db: "admin")["ok"] == .double(1))
        #expect(s.run(["getParameter": 1, "logComponentVerbosity": 1], db: "admin")["logComponentVerbosity"]?
            .documentValue?["command"] == ["verbosity": .int32(1)])
        #expect(s.run(["setParameter": 1, "logLevel": 2], db: "admin")["was"] == .int32(0))
    }

    /// A huge command is logged as the start of its JSON, made from the start of the command
    /// only (printing 48 MB in full took seconds).
    @Test func hugeCommandsAreTruncated() throws {
        let documents: [BSON] = (0..<20_000).map { .document(["_id": .int32(Int32($0)), "pad": .string(String(repeating: "x", count: 500))]) }
        let command: Document = ["insert": "c", "documents": .array(documents), "blob": .binary(Binary(subtype: 0, data: [UInt8](repeating: 1, count: 100_000)))]
        guard case .document(let logged) = ServerLog.truncated(command), case .string(let text)? = logged["$truncated"] else {
            Issue.record("not truncated"); return
        }
        #expect(text.utf8.count == 10 * 1024)
        #expect(text.hasPrefix("{\"insert\":\"c\",\"documents\":[{\"_id\":0,\"pad\":\"xxx"))
        #expect(ServerLog.truncated(["ping": 1]) == .document(["ping": 1]))
    }
}
