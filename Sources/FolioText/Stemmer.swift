import CStemmer
import Synchronization

/// Snowball stemmers (Debian's libstemmer, the library MongoDB's text search uses), kept in a
/// pool per language: a stemmer is not safe to share between threads, and making one per word
/// would cost more than stemming.
final class Stemmers: Sendable {
    static let shared = Stemmers()

    /// An `sb_stemmer` pointer (only ever used by one thread at a time, taken from the pool).
    private struct Handle: @unchecked Sendable { let pointer: OpaquePointer }
    private let pool = Mutex<[String: [Handle]]>([:])

    /// The stem of `word` (UTF-8) in `algorithm`; the word itself when there is no stemmer.
    func stem(_ word: String, algorithm: String) -> String {
        guard let handle = take(algorithm) else { return word }
        defer { pool.withLock { $0[algorithm, default: []].append(handle) } }
        var utf8 = Array(word.utf8)
        return utf8.withUnsafeMutableBufferPointer { buffer -> String in
            guard let out = sb_stemmer_stem(handle.pointer, buffer.baseAddress, Int32(buffer.count)) else { return word }
            let length = Int(sb_stemmer_length(handle.pointer))
            return String(decoding: UnsafeBufferPointer(start: out, count: length), as: UTF8.self)
        }
    }

    private func take(_ algorithm: String) -> Handle? {
        if let h = pool.withLock({ $0[algorithm]?.popLast() }) { return h }
        return sb_stemmer_new(algorithm, "UTF_8").map { Handle(pointer: $0) }
    }
}
