#if canImport(Glibc)
import Glibc
#endif

/// A value many threads read at once and few write: readers do not wait for each other.
///
/// Why not `Mutex`: on Linux it is a priority-inheriting futex, and a hundred change streams
/// woken by one commit, reading the same newest log rows on two cores, spent a third of the
/// server's CPU in the kernel handing it around. A pthread read-write lock lets the readers
/// in together.
final class ReadWriteLocked<Value>: @unchecked Sendable {
    // @unchecked: `value` is only touched under `lock`.
    private var value: Value
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

    init(_ value: Value) {
        self.value = value
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func read<R>(_ body: (Value) throws -> R) rethrows -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(value)
    }

    func write<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body(&value)
    }
}
