import CStemmer
import Synchronization
import FolioLocks

/// Snowball stemmers (Debian's libstemmer, the library MongoDB's text search uses), kept in a
/// pool per language: a stemmer is not safe to share between threads, and making one per word
/// would cost more than stemming.
final class Stemmers: Sendable {
    static let shared = Stemmers()

    /// An `sb_stemmer` pointer (only ever used by one thread at a time, taken from the pool).
    private struct Handle: @unchecked Sendable { let pointer: OpaquePointer }
    private let pool = Locked<[String: [Handle]]>([:])

    /// One stemmer of `algorithm` (none when nil or when libstemmer lacks it: words stay as
    /// they are), lent to `body` and returned to the pool after it: a text's words share one.
    func with<R>(_ algorithm: String?, _ body: (Stemmer) -> R) -> R {
        guard let algorithm, let handle = take(algorithm) else { return body(Stemmer(pointer: nil)) }
        defer { pool.withLock { $0[algorithm, default: []].append(handle) } }
        return body(Stemmer(pointer: handle.pointer))
    }

    /// A borrowed stemmer: valid only inside `Stemmers.with`.
    struct Stemmer {
        fileprivate let pointer: OpaquePointer?

        func stem(_ word: String) -> String {
            guard let pointer else { return word }
            var word = word
            return word.withUTF8 { bytes -> String in
                guard let out = sb_stemmer_stem(pointer, bytes.baseAddress, Int32(bytes.count)) else { return String(decoding: bytes, as: UTF8.self) }
                return String(decoding: UnsafeBufferPointer(start: out, count: Int(sb_stemmer_length(pointer))), as: UTF8.self)
            }
        }
    }

    private func take(_ algorithm: String) -> Handle? {
        if let h = pool.withLock({ $0[algorithm]?.popLast() }) { return h }
        return sb_stemmer_new(algorithm, "UTF_8").map { Handle(pointer: $0) }
    }
}
