import FolioBSON
import FolioQuery
import Synchronization
import FolioLocks
#if canImport(Glibc)
import Glibc
#endif

/// MongoDB's fail points that drivers' test suites set with `configureFailPoint` when the
/// server runs with `--enable-test-commands`:
/// - `failCommand`: the commands it names (for the connections and namespace it names) fail
///   with an error, close their connection, wait first, or answer with a write concern error;
/// - `onPrimaryTransactionalWrite`: a retryable write's statement (an insert command's batch)
///   about to be applied for the first time fails before its commit
///   (`failBeforeCommitExceptionCode`) and/or its connection closes instead of the reply
///   (`closeConnection`, true by default), to test that retries apply writes exactly once;
/// - `failGetMoreAfterCursorCheckout`: a getMore fails with `errorCode` once it has found its
///   cursor, as a real failure there would (so the server's own error labels apply);
/// - `hangIndexBuildDuringCollectionScanPhaseBeforeInsertion`: an index build that writes
///   while writes go on waits before each of its commits of keys while the fail point is on
///   (killOp and shutdown still end it), so tests can stop the server in the middle of one.
final class FailPoints: Sendable {
    enum Mode: Equatable, Sendable {
        case off, alwaysOn
        case times(Int64)
        case skip(Int64)
        case probability(Double)
    }

    struct State: Sendable {
        var mode = Mode.off
        var data = Document()
        /// Activations since the mode was last set (configureFailPoint answers it as `count`).
        var timesEntered: Int64 = 0

        /// Whether this evaluation fires, by the mode (which it counts down).
        mutating func fires() -> Bool {
            switch mode {
            case .off: return false
            case .alwaysOn: break
            case .times(let n):
                mode = n > 1 ? .times(n - 1) : .off
            case .skip(let n):
                if n > 0 { mode = .skip(n - 1); return false }
            case .probability(let p):
                if Double.random(in: 0..<1) >= p { return false }
            }
            timesEntered += 1
            return true
        }
    }

    /// What an activated fail point does to one command.
    struct Activation: Sendable {
        var blockMilliseconds: Int64?
        var closeConnection = false
        var error: FolioError?
        var writeConcernError: Document?
        var errorLabels: [String]?
    }

    let failCommand = Locked(State())
    let onPrimaryTransactionalWrite = Locked(State())
    let failGetMoreAfterCursorCheckout = Locked(State())
    let hangIndexBuild = Locked(State())

    static let names: Set<String> = ["failCommand", "onPrimaryTransactionalWrite", "failGetMoreAfterCursorCheckout",
                                     "hangIndexBuildDuringCollectionScanPhaseBeforeInsertion"]

    /// Whether no fail point that commands consult is on (commands then run without waiting on one).
    var allOff: Bool {
        failCommand.withLock { $0.mode == .off } && onPrimaryTransactionalWrite.withLock { $0.mode == .off }
            && failGetMoreAfterCursorCheckout.withLock { $0.mode == .off }
    }

    /// Runs `body` on the named fail point's state under its lock.
    func withState<R>(named name: String, _ body: (inout State) -> R) -> R {
        switch name {
        case "failCommand": return failCommand.withLock { body(&$0) }
        case "failGetMoreAfterCursorCheckout": return failGetMoreAfterCursorCheckout.withLock { body(&$0) }
        case "hangIndexBuildDuringCollectionScanPhaseBeforeInsertion": return hangIndexBuild.withLock { body(&$0) }
        default: return onPrimaryTransactionalWrite.withLock { body(&$0) }
        }
    }

    /// `hangIndexBuildDuringCollectionScanPhaseBeforeInsertion`: when it fires, waits while
    /// it stays on (MongoDB's pauseWhileSet), checking for an interruption every 10 ms.
    func pauseIndexBuild() throws(FolioError) {
        guard hangIndexBuild.withLock({ $0.fires() }) else { return }
        while hangIndexBuild.withLock({ $0.mode != .off }) {
            try OperationInterrupt.check()
            usleep(10_000)
        }
    }

    /// The error `failGetMoreAfterCursorCheckout` gives a getMore that found its cursor, if it fires.
    func getMoreError() -> FolioError? {
        failGetMoreAfterCursorCheckout.withLock { state -> FolioError? in
            guard state.mode != .off, let code = state.data["errorCode"]?.exactInt64.flatMap({ Int32(exactly: $0) }),
                  state.fires() else { return nil }
            return FolioError(ErrorCode(rawValue: code), "Failing getMore via 'failGetMoreAfterCursorCheckout' failpoint")
        }
    }

    /// configureFailPoint: sets the mode and data; answers how often the fail point was entered.
    func configure(_ body: Document) throws(FolioError) -> Document {
        guard case .string(let name) = body.element(at: 0).value else {
            throw FolioError(.typeMismatch, "BSON field 'configureFailPoint.configureFailPoint' is the wrong type, expected type 'string'")
        }
        guard FailPoints.names.contains(name) else { throw FolioError(ErrorCode(rawValue: 266), "\(name) not found") }
        let mode = try FailPoints.mode(body["mode"])
        var data = Document()
        if let d = body["data"] {
            guard case .document(let doc) = d else { throw FolioError(.badValue, "the 'data' field must be an object") }
            data = doc
        }
        if case .bool(true)? = data["blockConnection"] {
            guard let ms = data["blockTimeMS"]?.exactInt64 else {
                throw FolioError(.invalidOptions, "must specify 'blockTimeMS' when 'blockConnection' is true")
            }
            guard ms >= 0 else { throw FolioError(.invalidOptions, "'blockTimeMS' must be non-negative") }
        }
        if let code = data["failBeforeCommitExceptionCode"], code.exactInt64.flatMap({ Int32(exactly: $0) }) == nil {
            throw FolioError(.badValue, "'failBeforeCommitExceptionCode' must be a 32-bit integer")
        }
        let previous = withState(named: name) { state -> Int64 in
            let entered = state.timesEntered
            state = State(mode: mode, data: data, timesEntered: 0)
            return entered
        }
        return ["count": Int32(exactly: previous).map(BSON.int32) ?? .int64(previous)]
    }

    static func mode(_ value: BSON?) throws(FolioError) -> Mode {
        switch value {
        case .string("off")?: return .off
        case .string("alwaysOn")?: return .alwaysOn
        case .document(let d)?:
            if let n = d["times"] {
                guard let times = n.exactInt64, times >= 0 else { throw FolioError(.badValue, "'times' option to 'mode' must be positive") }
                return times == 0 ? .off : .times(times)
            }
            if let n = d["skip"] {
                guard let skip = n.exactInt64, skip >= 0 else { throw FolioError(.badValue, "'skip' option to 'mode' must be positive") }
                return .skip(skip)
            }
            if let p = d["activationProbability"] {
                guard let probability = p.asDouble, (0...1).contains(probability) else {
                    throw FolioError(.badValue, "'activationProbability' option to 'mode' must be a double between 0 and 1")
                }
                return .probability(probability)
            }
            throw FolioError(.badValue, "'mode' must be one of 'off', 'alwaysOn', 'times', and 'skip'")
        default:
            throw FolioError(.badValue, "'mode' must be one of 'off', 'alwaysOn', 'times', and 'skip'")
        }
    }

    /// What the fail point does to `command` (its name and aliases in `names`) on a connection
    /// with `appName`, in `namespace`; nil when it does not apply. An activation that fails the
    /// command (block, close, error) is taken before the command runs; a write concern error
    /// after it (`afterRunning`).
    func activation(names: Set<String>, namespace: String?, appName: String?, afterRunning: Bool) -> Activation? {
        failCommand.withLock { state -> Activation? in
            guard state.mode != .off, names.contains("configureFailPoint") == false else { return nil }
            let data = state.data
            if let wanted = data["appName"]?.stringValue, wanted != appName { return nil }
            if let wanted = data["namespace"]?.stringValue, wanted != namespace { return nil }
            if data["failAllCommands"] == nil {
                guard case .array(let list)? = data["failCommands"],
                      list.contains(where: { $0.stringValue.map(names.contains) ?? false }) else { return nil }
            }
            var activation = Activation()
            if case .array(let labels)? = data["errorLabels"] { activation.errorLabels = labels.compactMap(\.stringValue) }
            if afterRunning {
                guard case .document(let wce)? = data["writeConcernError"] else { return nil }
                activation.writeConcernError = wce
            } else {
                if data["blockConnection"]?.isTruthy == true { activation.blockMilliseconds = data["blockTimeMS"]?.exactInt64 ?? 0 }
                activation.closeConnection = data["closeConnection"]?.isTruthy == true
                if let code = data["errorCode"]?.exactInt64, let code32 = Int32(exactly: code) {
                    activation.error = FolioError(ErrorCode(rawValue: code32), "Failing command via 'failCommand' failpoint")
                }
                guard activation.blockMilliseconds != nil || activation.closeConnection || activation.error != nil else { return nil }
            }
            return state.fires() ? activation : nil
        }
    }

    /// What `onPrimaryTransactionalWrite` does to a retryable write about to commit: close
    /// the connection (the default) and/or fail before the commit with the configured code.
    func transactionalWriteActivation() -> Activation? {
        onPrimaryTransactionalWrite.withLock { state -> Activation? in
            guard state.mode != .off, state.fires() else { return nil }
            var activation = Activation()
            activation.closeConnection = state.data["closeConnection"]?.isTruthy ?? true
            if let code = state.data["failBeforeCommitExceptionCode"]?.exactInt64.flatMap({ Int32(exactly: $0) }) {
                activation.error = FolioError(ErrorCode(rawValue: code), "Failing write via 'onPrimaryTransactionalWrite' failpoint")
            }
            return activation
        }
    }

    /// blockTimeMS as usleep's argument, which holds at most UInt32.max µs (71 minutes): a
    /// larger (client-chosen) value waits that long instead of overflowing.
    static func microseconds(blockTimeMS ms: Int64) -> UInt32 {
        ms >= Int64(UInt32.max / 1000) ? UInt32.max : UInt32(max(0, ms) * 1000)
    }

    /// The labels MongoDB puts on a failed command that carries a `txnNumber`: a retryable
    /// write's error that a retry can fix, and a transaction's (TransactionRegistry.labels).
    static func retryableWriteLabels(_ code: ErrorCode, body: Document) -> [String] {
        guard body["txnNumber"] != nil else { return [] }
        let command = body.fieldNames.first ?? ""
        if body["autocommit"] != nil || TransactionRegistry.ends(command) { return TransactionRegistry.labels(code, command: command) }
        return code.isRetryableWriteError ? ["RetryableWriteError"] : []
    }
}

extension ErrorCode {
    /// Errors a retried write can get past (a stepdown, a shutdown, a lost connection).
    var isRetryableWriteError: Bool {
        let c = categories
        return c.contains("RetriableError") || c.contains("NotPrimaryError") || c.contains("ShutdownError")
    }
}
