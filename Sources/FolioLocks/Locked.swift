import NIOConcurrencyHelpers

/// A value behind a lock: the engine's and the server's shared state.
///
/// Why not the standard library's `Synchronization.Mutex`: on Linux (Swift 6.3) it is a
/// priority-inheritance futex that spins up to 1,000 times before it sleeps, and the kernel
/// hands a PI lock to the next waiter directly, so under contention every waiter spins its
/// full count (swiftlang/swift#88440, fixed after 6.3). With eight clients on two cores the
/// wire server spent 19% of its CPU in `_MutexHandle._lockSlow` around the catalog and the
/// record cache. This is SwiftNIO's `NIOLock` (a plain `pthread_mutex_t`, which sleeps at
/// once) with `Mutex`'s `withLock` shape and typed throws, so call sites read the same.
public struct Locked<Value>: @unchecked Sendable {
    @usableFromInline let box: Box

    @usableFromInline
    final class Box {
        @usableFromInline let lock = NIOLock()
        @usableFromInline var value: Value
        @inlinable init(_ value: Value) { self.value = value }
    }

    @inlinable
    public init(_ value: Value) { box = Box(value) }

    /// Runs `body` with the value while holding the lock.
    @inlinable
    public func withLock<Result, E: Error>(_ body: (inout Value) throws(E) -> Result) throws(E) -> Result {
        box.lock.lock()
        defer { box.lock.unlock() }
        return try body(&box.value)
    }
}
