import Synchronization

/// A wrapping 32-bit counter shared by threads.
final class AtomicCounter: Sendable {
    private let value: Atomic<UInt32>

    init(_ start: UInt32) { value = Atomic(start) }

    /// Returns the current value and advances it by one.
    func next() -> UInt32 {
        value.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}
