/// How the server speaks TLS (MongoDB's `net.tls` options, `folio serve --tls-*`).
public struct TLSSettings: Sendable, Equatable {
    /// MongoDB's `net.tls.mode`.
    public enum Mode: String, Sendable, CaseIterable {
        /// Plain connections only.
        case disabled
        /// Plain and TLS connections (the server itself prefers plain).
        case allowTLS
        /// Plain and TLS connections (the server itself prefers TLS).
        case preferTLS
        /// TLS connections only: a plain client is closed.
        case requireTLS
    }

    public var mode: Mode = .disabled
    /// The server's certificate chain and private key, PEM, in one file (`--tls-certificate-key-file`).
    public var certificateKeyFile: String?
    /// The certificate authorities that sign client certificates (`--tls-ca-file`); with it the
    /// server asks clients for a certificate and verifies the ones it gets.
    public var caFile: String?
    /// Clients need not present a certificate even with a CA file
    /// (`--tls-allow-connections-without-certificates`).
    public var allowConnectionsWithoutCertificates = false
    /// Client certificates are not verified (`--tls-allow-invalid-certificates`; nor requested).
    public var allowInvalidCertificates = false
    /// A TLS handshake that takes longer than this closes the connection (a client that starts
    /// TLS and stalls holds nothing for long).
    public var handshakeTimeoutSeconds: Int64 = 10

    public init() {}

    public var enabled: Bool { mode != .disabled }

    /// Why the settings cannot be used, or nil.
    public func validationError() -> String? {
        if enabled && certificateKeyFile == nil { return "--tls-mode \(mode.rawValue) needs --tls-certificate-key-file" }
        if !enabled && (certificateKeyFile != nil || caFile != nil) { return "TLS files were given but --tls-mode is disabled" }
        return nil
    }
}
