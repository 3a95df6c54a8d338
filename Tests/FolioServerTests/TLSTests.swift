import Testing
import NIOCore
import NIOEmbedded
import NIOTLS
@testable import FolioServer
@testable import FolioWire

/// The TLS sniffer and handshake timeout (TLS.swift) on embedded channels; the handshakes
/// themselves are tested through pymongo (Tests/Compat/test_tls.py).
@Suite struct TLSTests {
    /// Stands in for the TLS handler: records what reaches it.
    final class Recorder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        var bytes: [UInt8] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var b = unwrapInboundIn(data)
            bytes += b.readBytes(length: b.readableBytes) ?? []
        }
    }

    func channel(_ mode: TLSSettings.Mode, recorder: Recorder, refused: @escaping @Sendable () -> Void = {}) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            TLSSniffer(mode: mode, handshakeTimeoutSeconds: 5, makeTLSHandler: { recorder }, onPlainRefused: refused))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test func aClientHelloGoesToTheTLSHandlerWhole() throws {
        let recorder = Recorder()
        let c = try channel(.requireTLS, recorder: recorder)
        // In two reads: the sniffer waits for three bytes.
        try c.writeInbound(ByteBuffer(bytes: [0x16, 0x03]))
        #expect(recorder.bytes.isEmpty)
        try c.writeInbound(ByteBuffer(bytes: [0x01, 0x00, 0x05, 1, 2, 3, 4, 5]))
        #expect(recorder.bytes == [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        #expect(c.isActive)
        _ = try? c.finish()
    }

    @Test func plainClientsPassUnlessTLSIsRequired() throws {
        let hello: [UInt8] = [0x2A, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00]
        let allowed = try channel(.preferTLS, recorder: Recorder())
        try allowed.writeInbound(ByteBuffer(bytes: hello))
        var passed = try allowed.readInbound(as: ByteBuffer.self)
        #expect(passed?.readBytes(length: hello.count) == hello)
        _ = try? allowed.finish()

        final class Flag: @unchecked Sendable { var set = false }
        let flag = Flag()
        let required = try channel(.requireTLS, recorder: Recorder(), refused: { flag.set = true })
        try required.writeInbound(ByteBuffer(bytes: hello))
        passed = try required.readInbound(as: ByteBuffer.self)
        #expect(passed == nil && flag.set && !required.isActive)
    }

    @Test func recognisesTLSRecords() {
        #expect(TLSSniffer.looksLikeTLS([0x16, 0x03, 0x01]))
        #expect(TLSSniffer.looksLikeTLS([0x16, 0x03, 0x03]))
        #expect(!TLSSniffer.looksLikeTLS([0x16, 0x03, 0x09]))
        #expect(!TLSSniffer.looksLikeTLS([0x2A, 0x01, 0x00]))
        #expect(!TLSSniffer.looksLikeTLS([0x16]))
    }

    @Test func aStalledHandshakeIsClosedAndACompletedOneIsNot() throws {
        let stalled = EmbeddedChannel(handler: TLSHandshakeTimeout(seconds: 3))
        try stalled.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        stalled.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(stalled.isActive)
        stalled.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!stalled.isActive)

        let done = EmbeddedChannel(handler: TLSHandshakeTimeout(seconds: 3))
        try done.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        done.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil))
        done.embeddedEventLoop.advanceTime(by: .seconds(10))
        #expect(done.isActive)
        _ = try? done.finish()
    }

    @Test func settingsAreValidated() {
        var s = TLSSettings()
        #expect(s.validationError() == nil)
        s.mode = .requireTLS
        #expect(s.validationError() == "--tls-mode requireTLS needs --tls-certificate-key-file")
        s.certificateKeyFile = "/nonexistent.pem"
        #expect(s.validationError() == nil)
        #expect(throws: (any Error).self) { try TLSContextHolder(settings: s) }
    }
}
