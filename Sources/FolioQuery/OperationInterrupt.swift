import FolioBSON
import Synchronization

/// What stops a running operation: `killOp`, its `maxTimeMS`, and a bound on the memory its
/// expressions build for one document.
///
/// The server binds one to each command it runs (`OperationInterrupt.$current.withValue`),
/// so work deep in the query language — a `$map` over a million elements, a `$reduce` that
/// concatenates, a scan — can notice it without every signature carrying it. Without one
/// bound (the embedded API, tests) nothing is interrupted and nothing is metered.
///
/// Costs: `check()` is an atomic load and, with a deadline, a monotonic clock read (~25 ns);
/// loops call it every `pollInterval` iterations. `charge` adds to a relaxed atomic.
public final class OperationInterrupt: Sendable {
    /// The operation running on this thread or task.
    @TaskLocal public static var current: OperationInterrupt?

    /// Loops that may run long poll once per this many iterations.
    public static let pollInterval = 256

    /// When maxTimeMS runs out (nil: no limit).
    public let deadline: ContinuousClock.Instant?
    /// The bound on bytes built for one document (`Limits.maximumEvaluationBytes` unless a
    /// test asks for less).
    public let maximumEvaluationBytes: Int
    /// 0 while running; the code to fail with once killed.
    private let killCode = Atomic<Int32>(0)
    /// Approximate bytes of arrays, strings and objects built by expressions since the
    /// current document began (see `charge`).
    private let builtBytes = Atomic<Int>(0)

    public init(deadline: ContinuousClock.Instant? = nil, maximumEvaluationBytes: Int = Limits.maximumEvaluationBytes) {
        self.deadline = deadline
        self.maximumEvaluationBytes = maximumEvaluationBytes
    }

    /// An operation limited to `milliseconds` from now (nil or 0: no limit).
    public convenience init(maxTimeMilliseconds milliseconds: Int?, maximumEvaluationBytes: Int = Limits.maximumEvaluationBytes) {
        self.init(deadline: milliseconds.flatMap { $0 > 0 ? ContinuousClock.now + .milliseconds($0) : nil },
                  maximumEvaluationBytes: maximumEvaluationBytes)
    }

    /// Asks the operation to stop at its next check (killOp: 11601 Interrupted).
    public func kill(_ code: ErrorCode = .interrupted) {
        killCode.store(code.rawValue, ordering: .relaxed)
    }

    public var isKilled: Bool { killCode.load(ordering: .relaxed) != 0 }

    /// - Throws: 11601 Interrupted once killed, 50 MaxTimeMSExpired past the deadline.
    public func check() throws(FolioError) {
        let code = killCode.load(ordering: .relaxed)
        if code != 0 {
            let error = ErrorCode(rawValue: code)
            throw FolioError(error, error == .interruptedAtShutdown ? "interrupted at shutdown" : "operation was interrupted")
        }
        if let deadline, ContinuousClock.now >= deadline {
            throw FolioError(.maxTimeMSExpired, "operation exceeded time limit")
        }
    }

    /// Checks the current operation, if any.
    public static func check() throws(FolioError) {
        try current?.check()
    }

    /// Starts metering a new document's evaluation (stages call it once per input document).
    public static func beginDocument() {
        current?.builtBytes.store(0, ordering: .relaxed)
    }

    /// Counts `bytes` built by `operatorName` toward the current document's bound and checks
    /// for interruption.
    ///
    /// The bound is on what evaluation builds in total for one document, a proxy for what it
    /// holds: a value can only be held after it was built. It stops a `$map` of `$range`s, a
    /// nest of `$concatArrays` or a `$reduce` that doubles a string before memory runs out.
    /// MongoDB bounds only `$range` this way (and otherwise runs out of memory).
    /// - Throws: 146 ExceededMemoryLimit past `Limits.maximumEvaluationBytes`, or what `check()` throws.
    public static func charge(_ bytes: Int, by operatorName: String) throws(FolioError) {
        guard let op = current else { return }
        let total = op.builtBytes.wrappingAdd(bytes, ordering: .relaxed).newValue
        if total > op.maximumEvaluationBytes || total < 0 {
            throw FolioError(.exceededMemoryLimit, "\(operatorName) would use too much memory (\(total) bytes built for one document) and cannot spill to disk. Memory limit: \(op.maximumEvaluationBytes) bytes")
        }
        try op.check()
    }

    /// What an array of `n` values occupies (its elements are BSON enums, 24 bytes each).
    @inline(__always)
    public static func arrayBytes(_ n: Int) -> Int { n &* MemoryLayout<BSON>.stride &+ 32 }

    /// What a document of `n` fields occupies (a key and a value each).
    @inline(__always)
    public static func documentBytes(_ n: Int) -> Int { n &* (MemoryLayout<BSON>.stride &+ MemoryLayout<String>.stride) &+ 64 }

    /// Charges for a value an expression built: its top level only (what it contains was
    /// charged when it was built, or came from a stored document).
    @inline(__always)
    public static func charge(result: BSON, by operatorName: String) throws(FolioError) {
        switch result {
        case .array(let a): try charge(arrayBytes(a.count), by: operatorName)
        case .string(let s): try charge(s.utf8.count &+ 16, by: operatorName)
        case .document(let d): try charge(documentBytes(d.count), by: operatorName)
        default: break
        }
    }
}
