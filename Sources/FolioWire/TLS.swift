import FolioServer
import NIOCore
import NIOSSL
import NIOTLS
import Synchronization
import X509
import FolioLocks

extension TLSSettings {
    /// The NIOSSL server context for these settings (reads the files).
    func makeContext() throws -> NIOSSLContext {
        guard let certificateKeyFile else { throw TLSSetupError("no certificate key file") }
        let certificates = try NIOSSLCertificate.fromPEMFile(certificateKeyFile)
        guard !certificates.isEmpty else { throw TLSSetupError("\(certificateKeyFile) has no certificate") }
        let key = try NIOSSLPrivateKey(file: certificateKeyFile, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: certificates.map { .certificate($0) },
                                                                     privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        if let caFile, !allowInvalidCertificates {
            configuration.trustRoots = .file(caFile)
            configuration.certificateVerification = allowConnectionsWithoutCertificates ? .optionalVerification : .noHostnameVerification
        } else {
            configuration.certificateVerification = .none
        }
        return try NIOSSLContext(configuration: configuration)
    }
}

struct TLSSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// The server's current TLS context; `rotateCertificates` replaces it (connections already
/// open keep theirs, new ones get the new one).
final class TLSContextHolder: CertificateReloading {
    let settings: TLSSettings
    private let context: Locked<NIOSSLContext>

    init(settings: TLSSettings) throws {
        self.settings = settings
        context = Locked(try settings.makeContext())
    }

    var current: NIOSSLContext { context.withLock { $0 } }

    /// Reads the certificate files again.
    func reload() throws {
        let fresh = try settings.makeContext()
        context.withLock { $0 = fresh }
    }
}

/// The first handler of a connection when TLS is on: it looks at the first bytes and, for a
/// TLS ClientHello, puts a TLS handler in front of the rest; a plain client is let through
/// (allowTLS, preferTLS) or closed (requireTLS).
///
/// A TLS record starts `0x16 0x03 0x0N`; a wire message starts with its length, little-endian,
/// so it starts like that only when it is 0x0N0316 + 256 × k bytes long... and its fourth byte
/// is then the TLS record length's high byte. A driver's first message is its handshake (a few
/// hundred bytes), so the two do not meet in practice; the same test is MongoDB's.
final class TLSSniffer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let mode: TLSSettings.Mode
    let handshakeTimeoutSeconds: Int64
    /// The TLS handler for a connection that starts a handshake.
    let makeTLSHandler: () -> any ChannelHandler
    let onPlainRefused: @Sendable () -> Void
    /// Told the subject of the client's verified certificate when the handshake completes.
    let onPeerSubject: @Sendable (String) -> Void
    private var buffered: ByteBuffer?

    convenience init(holder: TLSContextHolder, onPlainRefused: @escaping @Sendable () -> Void,
                     onPeerSubject: @escaping @Sendable (String) -> Void) {
        self.init(mode: holder.settings.mode, handshakeTimeoutSeconds: holder.settings.handshakeTimeoutSeconds,
                  makeTLSHandler: { NIOSSLServerHandler(context: holder.current) }, onPlainRefused: onPlainRefused,
                  onPeerSubject: onPeerSubject)
    }

    init(mode: TLSSettings.Mode, handshakeTimeoutSeconds: Int64, makeTLSHandler: @escaping () -> any ChannelHandler,
         onPlainRefused: @escaping @Sendable () -> Void, onPeerSubject: @escaping @Sendable (String) -> Void = { _ in }) {
        self.mode = mode
        self.handshakeTimeoutSeconds = handshakeTimeoutSeconds
        self.makeTLSHandler = makeTLSHandler
        self.onPlainRefused = onPlainRefused
        self.onPeerSubject = onPeerSubject
    }

    static func looksLikeTLS(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 3 && bytes[0] == 0x16 && bytes[1] == 0x03 && bytes[2] <= 0x04
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        if var b = buffered { b.writeBuffer(&incoming); buffered = b } else { buffered = incoming }
        guard let buffer = buffered, buffer.readableBytes >= 3 else { return }
        let head = buffer.getBytes(at: buffer.readerIndex, length: 3) ?? []
        buffered = nil
        if TLSSniffer.looksLikeTLS(head) {
            let handler = makeTLSHandler()
            do {
                try context.pipeline.syncOperations.addHandler(handler, position: .after(self))
                try context.pipeline.syncOperations.addHandler(TLSHandshakeTimeout(seconds: handshakeTimeoutSeconds, onPeerSubject: onPeerSubject),
                                                               position: .after(handler))
            } catch {
                context.close(promise: nil)
                return
            }
        } else if mode == .requireTLS {
            onPlainRefused()
            context.close(promise: nil)
            return
        }
        // Pass on what came so far, then step aside (a removed handler forwards nothing).
        context.fireChannelRead(wrapInboundOut(buffer))
        context.pipeline.syncOperations.removeHandler(self, promise: nil)
    }
}

/// Closes a connection whose TLS handshake has not completed in time; once it completes,
/// passes on the subject of the client's certificate (verified against the CA file) for
/// MONGODB-X509 authentication.
final class TLSHandshakeTimeout: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    let seconds: Int64
    let onPeerSubject: @Sendable (String) -> Void
    private var timer: Scheduled<Void>?

    init(seconds: Int64, onPeerSubject: @escaping @Sendable (String) -> Void = { _ in }) {
        self.seconds = seconds
        self.onPeerSubject = onPeerSubject
    }

    /// A certificate's subject as MongoDB names X.509 users (RFC 2253: the most specific
    /// attribute first, `CN=app,O=Tenant A` for `/O=Tenant A/CN=app`).
    static func subject(ofDER der: [UInt8]) -> String? {
        (try? Certificate(derEncoded: der)).map { String(describing: $0.subject) }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: .seconds(seconds)) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { timer?.cancel() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            timer?.cancel()
            if let tls = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
               let der = try? tls.peerCertificate?.toDERBytes(), let subject = TLSHandshakeTimeout.subject(ofDER: der) {
                onPeerSubject(subject)
            }
            context.pipeline.syncOperations.removeHandler(self, promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
