import FolioBSON
import FolioQuery
import Logging
import Synchronization
import FolioLocks
#if canImport(Glibc)
import Glibc
#endif

/// The server's log: MongoDB's structured JSON lines
/// (`{"t":{"$date":…},"s":"I","c":"NETWORK","id":22943,"ctx":"listener","msg":"Connection accepted","attr":{…}}`)
/// written through swift-log, to standard error or `--logpath`, with MongoDB's log ids for the
/// events MongoDB logs too, per-component verbosity (`-v`, `logLevel`, `logComponentVerbosity`),
/// `--quiet`, and the recent lines `getLog` returns.
public final class ServerLog: Sendable {
    /// MongoDB's log components (the ones Folio logs under).
    public enum Component: String, Sendable, CaseIterable {
        case control = "CONTROL", network = "NETWORK", command = "COMMAND", query = "QUERY", storage = "STORAGE", index = "INDEX",
             access = "ACCESS"

        /// The component's name in logComponentVerbosity.
        var parameterName: String { self == .access ? "accessControl" : rawValue.lowercased() }
    }

    /// Severity: F, E, W, I, or D1–D5.
    public enum Severity: Sendable, Equatable {
        case fatal, error, warning, info
        case debug(Int)

        var code: String {
            switch self {
            case .fatal: return "F"
            case .error: return "E"
            case .warning: return "W"
            case .info: return "I"
            case .debug(let n): return "D\(n)"
            }
        }

        var level: Logger.Level {
            switch self {
            case .fatal: return .critical
            case .error: return .error
            case .warning: return .warning
            case .info: return .info
            case .debug(let n): return n <= 1 ? .debug : .trace
            }
        }
    }

    struct Verbosity: Sendable {
        var global = 0
        /// Per component; absent (or -1) inherits the global level.
        var components: [Component: Int] = [:]
    }

    /// The swift-log logger every line goes through (the service group logs through it too).
    public let logger: Logger
    let verbosity: Locked<Verbosity>
    let quiet: Bool
    let sink: LogSink
    /// Operations slower than this are logged as "Slow query" (the profiler's slowms), that
    /// share of them (sampleRate).
    let slowOperations = Locked((milliseconds: Int64(100), sampleRate: 1.0))

    /// A log writing to `fileDescriptor` (2: standard error); `logger` replaces the JSON lines
    /// with the embedding application's own swift-log handler.
    public init(fileDescriptor: Int32 = 2, verbosity: Int = 0, quiet: Bool = false, logger: Logger? = nil) {
        let sink = LogSink(fileDescriptor: fileDescriptor)
        self.sink = sink
        self.quiet = quiet
        self.verbosity = Locked(Verbosity(global: verbosity))
        var l = logger ?? Logger(label: "folio") { _ in MongoJSONLogHandler(sink: sink) }
        if logger == nil { l.logLevel = .trace }
        self.logger = l
    }

    /// A log that keeps lines only for getLog (tests, the fuzzing sandbox).
    public static func discarding() -> ServerLog { ServerLog(fileDescriptor: -1) }

    /// Opens `path` for appending (creating it), as `--logpath`.
    public static func file(_ path: String, verbosity: Int = 0, quiet: Bool = false) throws -> ServerLog {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LogOpenError(path: path, reason: String(cString: strerror(errno))) }
        return ServerLog(fileDescriptor: fd, verbosity: verbosity, quiet: quiet)
    }

    public struct LogOpenError: Error, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot open log file \(path): \(reason)" }
    }

    /// Whether a debug line of `level` for `component` would be written.
    func enabled(_ severity: Severity, _ component: Component) -> Bool {
        guard case .debug(let level) = severity else { return true }
        return verbosity.withLock { v in level <= (v.components[component].flatMap { $0 >= 0 ? $0 : nil } ?? v.global) }
    }

    /// Writes one entry. `quietable` entries (connection events) are left out under `--quiet`.
    public func log(_ severity: Severity, _ component: Component, id: Int, ctx: String, _ message: String,
                    attr: Document = [:], quietable: Bool = false) {
        if quietable && quiet { return }
        guard enabled(severity, component) else { return }
        logger.log(level: severity.level, "\(message)", metadata: [
            "s": .string(severity.code), "c": .string(component.rawValue), "id": .stringConvertible(id),
            "ctx": .string(ctx), "attr": .stringConvertible(LogAttributes(document: attr)),
        ])
    }

    /// Sets slowms (`--slowms`, the profile command).
    public func setSlowOperationThreshold(milliseconds: Int64) { slowOperations.withLock { $0.milliseconds = milliseconds } }

    /// Ids of events only Folio logs (MongoDB's ids are used for the events MongoDB logs too).
    public enum FolioID {
        public static let testCommandsEnabled = 9_100_001
        public static let metricsEndpoint = 9_100_002
        public static let ttlMonitorFailed = 9_100_003
        public static let indexBuildResumed = 9_100_004
    }

    /// Whether an operation that took `milliseconds` counts as slow: at least slowms, and
    /// sampled by sampleRate. Decided once per operation, for the log and the profiler alike.
    /// Whether every operation, however short, may be logged as slow (a threshold ≤ 0).
    var logsEveryOperation: Bool { slowOperations.withLock { $0.milliseconds <= 0 } }

    func isSlow(milliseconds: Int64) -> Bool {
        let (threshold, rate) = slowOperations.withLock { $0 }
        return milliseconds >= threshold && (rate >= 1 || Double.random(in: 0..<1) < rate)
    }

    /// Logs a command that was slow (`isSlow`) as MongoDB's "Slow query".
    func slowOperation(_ body: Document, name: String, database: String, reply: Document, returned: Int,
                       milliseconds: Int64, connection: ConnectionInfo, appName: @autoclosure () -> String?) {
        var ns = database + ".$cmd"
        if case .string(let collection)? = body[name] { ns = database + "." + collection }
        var attr: Document = ["type": "command", "ns": .string(ns)]
        if let appName = appName() { attr.append("appName", .string(appName)) }
        attr.append("command", ServerLog.truncated(body))
        if returned > 0 { attr.append("nreturned", .int64(Int64(returned))) }
        if reply["ok"]?.asDouble != 1 {
            attr.append("ok", .int32(0))
            if let message = reply["errmsg"] { attr.append("errMsg", message) }
            if let code = reply["codeName"] { attr.append("errName", code) }
            if let code = reply["code"] { attr.append("errCode", code) }
        }
        attr.append("remote", .string(connection.remoteAddress))
        attr.append("protocol", "op_msg")
        attr.append("durationMillis", .int64(milliseconds))
        log(.info, .command, id: 51803, ctx: "conn\(connection.id)", "Slow query", attr: attr)
    }

    /// MongoDB's maxLogSizeKB: a command over 10 KB is logged as the start of its JSON. Only
    /// the start is turned into JSON: a 48 MB insert took seconds to print in full.
    static func truncated(_ command: Document) -> BSON {
        let limit = 10 * 1024
        guard command.approximateByteSize > limit else { return .document(command) }
        var budget = 2 * limit
        let text = ExtendedJSON.json(from: prefix(.document(command), budget: &budget), mode: .relaxed).denseText
        return ["$truncated": .string(String(text.utf8.prefix(limit)) ?? "")]
    }

    /// The start of a value: documents and arrays keep their first elements, strings and
    /// binary data their first bytes, until about `budget` bytes are kept.
    static func prefix(_ value: BSON, budget: inout Int) -> BSON {
        switch value {
        case .document(let d):
            var out = Document()
            for (key, v) in d {
                guard budget > 0 else { break }
                budget -= key.utf8.count + 4
                out.append(key, prefix(v, budget: &budget))
            }
            return .document(out)
        case .array(let items):
            var out: [BSON] = []
            for v in items {
                guard budget > 0 else { break }
                budget -= 2
                out.append(prefix(v, budget: &budget))
            }
            return .array(out)
        case .string(let text):
            let kept = text.utf8.prefix(max(0, budget))
            budget -= kept.count + 2
            return kept.count == text.utf8.count ? value : .string(String(decoding: kept, as: UTF8.self))
        case .binary(let b):
            let kept = b.data.prefix(max(0, budget * 3 / 4))
            budget -= kept.count * 4 / 3 + 8
            return kept.count == b.data.count ? value : .binary(Binary(subtype: b.subtype, data: Array(kept)))
        default:
            budget -= 16
            return value
        }
    }

    /// The recent lines (`getLog: "global"`) and the warnings logged while starting
    /// (`getLog: "startupWarnings"`).
    var recent: (total: Int, lines: [String]) { sink.recent }
    var startupWarnings: [String] { sink.startupWarnings }

    /// Marks the end of startup: later warnings are not startup warnings.
    public func startupFinished() { sink.startupDone.store(true, ordering: .relaxed) }

    // MARK: verbosity parameters

    /// `logLevel`: the global verbosity (0–5).
    var level: Int { verbosity.withLock { $0.global } }

    func setLevel(_ n: Int) { verbosity.withLock { $0.global = n } }

    /// `logComponentVerbosity` as MongoDB shows it: `{verbosity: n, command: {verbosity: -1}, ...}`.
    var componentVerbosity: Document {
        verbosity.withLock { v in
            var d: Document = ["verbosity": .int32(Int32(v.global))]
            for c in Component.allCases { d.append(c.parameterName, ["verbosity": .int32(Int32(v.components[c] ?? -1))]) }
            return d
        }
    }

    /// Sets `logComponentVerbosity` from `{verbosity: n, <component>: n | {verbosity: n}}`.
    func setComponentVerbosity(_ spec: Document) throws(FolioError) {
        var changes: [(Component?, Int)] = []
        for (key, value) in spec {
            let component: Component?
            if key == "verbosity" {
                component = nil
            } else if let c = Component.allCases.first(where: { $0.parameterName == key }) {
                component = c
            } else {
                throw FolioError(.badValue, "Invalid component name \(key)")
            }
            let raw = value.documentValue?["verbosity"] ?? value
            guard raw.isNumber, let n = raw.exactInt64, (-1...5).contains(n), component != nil || n >= 0 else {
                throw FolioError(.badValue, "Invalid verbosity for \(key): \(raw)")
            }
            changes.append((component, Int(n)))
        }
        verbosity.withLock { v in
            for (component, n) in changes {
                if let component { v.components[component] = n } else { v.global = n }
            }
        }
    }
}

/// An entry's `attr`, carried through swift-log's metadata as itself so the JSON handler can
/// write its values with their types (numbers stay numbers).
struct LogAttributes: CustomStringConvertible, Sendable {
    let document: Document
    var description: String { ExtendedJSON.json(from: .document(document), mode: .relaxed).denseText }
}

/// Where the JSON lines go: a file descriptor (or nowhere), plus the recent lines for getLog.
final class LogSink: Sendable {
    struct Recent {
        var lines: [String] = []
        var next = 0
        var total = 0
        var startupWarnings: [String] = []
    }

    /// MongoDB's in-memory "global" log keeps 1,024 lines.
    static let capacity = 1024
    let fileDescriptor: Int32
    let state = Locked(Recent())
    let startupDone = Atomic<Bool>(false)

    init(fileDescriptor: Int32) { self.fileDescriptor = fileDescriptor }

    func write(_ line: String, severity: String) {
        let startup = !startupDone.load(ordering: .relaxed)
        state.withLock { r in
            if r.lines.count < LogSink.capacity { r.lines.append(line) } else { r.lines[r.next] = line }
            r.next = (r.next + 1) % LogSink.capacity
            r.total += 1
            if startup && severity == "W" { r.startupWarnings.append(line) }
            guard fileDescriptor >= 0 else { return }
            var bytes = Array(line.utf8)
            bytes.append(UInt8(ascii: "\n"))
            var written = 0
            while written < bytes.count {
                let n = bytes.withUnsafeBytes { Glibc.write(fileDescriptor, $0.baseAddress! + written, $0.count - written) }
                if n <= 0 { break }
                written += n
            }
        }
    }

    var recent: (total: Int, lines: [String]) {
        state.withLock { r in
            let ordered = r.lines.count < LogSink.capacity ? r.lines : Array(r.lines[r.next...] + r.lines[..<r.next])
            return (r.total, ordered)
        }
    }

    var startupWarnings: [String] { state.withLock { $0.startupWarnings } }
}

/// The swift-log handler that writes MongoDB's JSON log lines.
struct MongoJSONLogHandler: LogHandler {
    let sink: LogSink
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let m = metadata.merging(event.metadata ?? [:]) { $1 }
        func string(_ key: String, _ fallback: String) -> String {
            switch m[key] {
            case .string(let s)?: return s
            case .stringConvertible(let s)?: return s.description
            default: return fallback
            }
        }
        var line = "{\"t\":{\"$date\":\"\(MongoJSONLogHandler.timestamp())\"},"
        let severity = string("s", MongoJSONLogHandler.severity(event.level))
        line += "\"s\":\(MongoJSONLogHandler.quoted(severity)),\"c\":\(MongoJSONLogHandler.quoted(string("c", "CONTROL"))),"
        line += "\"id\":\(Int(string("id", "0")) ?? 0),\"ctx\":\(MongoJSONLogHandler.quoted(string("ctx", "main"))),"
        line += "\"msg\":\(MongoJSONLogHandler.quoted(event.message.description))"
        if case .stringConvertible(let a)? = m["attr"], let attributes = a as? LogAttributes {
            if !attributes.document.isEmpty { line += ",\"attr\":\(attributes.description)" }
        }
        line += "}"
        sink.write(line, severity: severity)
    }

    static func severity(_ level: Logger.Level) -> String {
        switch level {
        case .critical: return "F"
        case .error: return "E"
        case .warning: return "W"
        case .info, .notice: return "I"
        case .debug: return "D1"
        case .trace: return "D2"
        }
    }

    /// Now in milliseconds since the epoch (wall clock).
    static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Now as MongoDB's iso8601 timestamp with milliseconds (UTC).
    static func timestamp() -> String {
        let c = CivilTime(millisecondsSinceEpoch: nowMilliseconds())
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))T\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)).\(pad(c.millisecond, 3))+00:00"
    }

    /// A JSON string literal.
    static func quoted(_ s: String) -> String {
        ExtendedJSON.json(from: .string(s), mode: .relaxed).text
    }
}
