import CPCRE2
import FolioBSON

/// A compiled regular expression with MongoDB's semantics: PCRE2 (the engine mongod uses),
/// UTF-8 mode, options `i` (caseless), `m` (multiline), `s` (dotall), `x` (extended),
/// `u` (accepted; UTF is always on). JIT-compiled when the platform supports it.
///
/// Thread-safe: the compiled code is immutable; each match allocates its own match data.
public final class MongoRegex: @unchecked Sendable {
    // @unchecked: `code` is written once in init and only read afterwards; PCRE2 documents
    // compiled patterns as safe to share between threads.
    private let code: OpaquePointer
    public let pattern: String
    public let options: String
    /// The longest pattern mongod compiles.
    public static let maximumPatternBytes = 32_764

    /// Compiles a pattern.
    /// - Throws: `FolioError` 51091 for an invalid pattern, 51108 for an unknown option letter.
    public init(pattern: String, options: String) throws(FolioError) {
        var flags: UInt32 = PCRE2_UTF | PCRE2_NO_UTF_CHECK
        for c in options {
            switch c {
            case "i": flags |= PCRE2_CASELESS
            case "m": flags |= PCRE2_MULTILINE
            case "s": flags |= PCRE2_DOTALL
            case "x": flags |= PCRE2_EXTENDED
            case "u": break
            default: throw FolioError(ErrorCode(rawValue: 51108), "invalid flag in regex options: \(c)")
            }
        }
        // MongoDB's bound on a pattern (PCRE2's max_pattern_length as mongod sets it).
        if pattern.utf8.count > MongoRegex.maximumPatternBytes {
            throw FolioError(.location51091, "Regular expression is invalid: pattern string is longer than the limit set by the application")
        }
        if pattern.utf8.contains(0) {
            throw FolioError(.badValue, "Regular expression cannot contain an embedded null byte")
        }
        var errorCode: Int32 = 0
        var errorOffset = 0
        let compiled: OpaquePointer? = pattern.withCString { p in
            p.withMemoryRebound(to: UInt8.self, capacity: pattern.utf8.count) {
                pcre2_compile_8($0, pattern.utf8.count, flags, &errorCode, &errorOffset, nil)
            }
        }
        guard let compiled else {
            var buffer = [UInt8](repeating: 0, count: 256)
            pcre2_get_error_message_8(errorCode, &buffer, buffer.count)
            let reason = String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
            throw FolioError(.location51091, "Regular expression is invalid: \(reason)")
        }
        pcre2_jit_compile_8(compiled, PCRE2_JIT_COMPLETE)
        self.code = compiled
        self.pattern = pattern
        self.options = options
    }

    /// A regex from a BSON regular expression value.
    public convenience init(_ regex: BSONRegex) throws(FolioError) {
        try self.init(pattern: regex.pattern, options: regex.options)
    }

    deinit { pcre2_code_free_8(code) }

    /// Whether the pattern matches anywhere in `subject` (UTF-8 bytes). A match that PCRE2
    /// gives up on (its match limit of 10 million steps, reached by catastrophic backtracking)
    /// counts as no match, as in MongoDB's query matcher.
    public func matches(_ subject: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let matchData = pcre2_match_data_create_8(1, nil) else { return false }
        defer { pcre2_match_data_free_8(matchData) }
        let base = subject.baseAddress ?? UnsafePointer(bitPattern: 1)!
        return pcre2_match_8(code, base, subject.count, 0, 0, matchData, nil) >= 0
    }

    /// Whether the pattern matches anywhere in `string`.
    public func matches(_ string: String) -> Bool {
        var s = string
        return s.withUTF8 { matches($0) }
    }

    /// One match: the byte ranges of the whole match and of each capture group (nil when a
    /// group did not participate).
    public struct Match: Sendable {
        public var range: Range<Int>
        public var captures: [Range<Int>?]
    }

    /// Why PCRE2 gave up on a match (its message, e.g. "match limit exceeded").
    public struct MatchFailure: Error, Sendable {
        public let message: String
    }

    /// The first match at or after byte offset `start`; nil when there is none.
    /// - Throws: `MatchFailure` when PCRE2 stops without an answer (its match or depth limit).
    public func firstMatch(in subject: UnsafeBufferPointer<UInt8>, from start: Int = 0) throws(MatchFailure) -> Match? {
        var groupCount: UInt32 = 0
        pcre2_pattern_info_8(code, UInt32(PCRE2_INFO_CAPTURECOUNT), &groupCount)
        guard let matchData = pcre2_match_data_create_8(groupCount + 1, nil) else { return nil }
        defer { pcre2_match_data_free_8(matchData) }
        let base = subject.baseAddress ?? UnsafePointer(bitPattern: 1)!
        let rc = pcre2_match_8(code, base, subject.count, start, 0, matchData, nil)
        if rc == PCRE2_ERROR_NOMATCH { return nil }
        guard rc >= 0 else {
            var buffer = [UInt8](repeating: 0, count: 256)
            pcre2_get_error_message_8(rc, &buffer, buffer.count)
            throw MatchFailure(message: String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self))
        }
        let ovector = pcre2_get_ovector_pointer_8(matchData)!
        let unset = -1
        var captures: [Range<Int>?] = []
        for i in 1...Int(groupCount + 1) where i <= Int(groupCount) {
            let lo = Int(truncatingIfNeeded: ovector[2 * i]), hi = Int(truncatingIfNeeded: ovector[2 * i + 1])
            captures.append(lo == unset ? nil : lo..<hi)
        }
        return Match(range: Int(ovector[0])..<Int(ovector[1]), captures: captures)
    }

    /// The literal prefix every match must start with, when the pattern is anchored with `^`
    /// and has no options that change matching (used to bound index scans).
    public var literalPrefix: String? {
        guard !options.contains("i"), !options.contains("x"), pattern.hasPrefix("^") || pattern.hasPrefix("\\A") else { return nil }
        if options.contains("m") && pattern.hasPrefix("^") { return nil }
        var prefix = ""
        for c in pattern.dropFirst(pattern.hasPrefix("^") ? 1 : 2) {
            if "\\^$.|?*+()[]{}".contains(c) { break }
            prefix.append(c)
        }
        // A quantifier right after the prefix applies to its last character.
        if let next = pattern.dropFirst(pattern.hasPrefix("^") ? 1 : 2).dropFirst(prefix.count).first,
           "?*{".contains(next), !prefix.isEmpty {
            prefix.removeLast()
        }
        return prefix
    }
}
