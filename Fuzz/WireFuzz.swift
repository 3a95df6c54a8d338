// libFuzzer entry for the wire framing and OP_MSG/OP_QUERY parser, and the point-read parser
// that reads a find from the raw bytes. Built by scripts/fuzz with the FolioBSON sources,
// Sources/FolioServer/WireMessage.swift and RawPointRead.swift (one module, no imports).
// Any input must be rejected with a WireError or parse into a message whose reply encodes,
// and a message the point-read parser accepts must be one WireCodec.parse reads the same way.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = bytes.withUnsafeBytes { try? WireCodec.header($0) }
    let point = RawPointRead(bytes)
    guard let (header, message) = try? WireCodec.parse(bytes) else {
        precondition(point == nil, "the point-read parser accepted a message the wire parser refuses")
        return 0
    }
    if let point {
        precondition(point.agrees(with: header, message), "the point-read parser read a message differently")
    }
    switch message {
    case .message(let m):
        let reply = WireCodec.messageReply(requestID: 1, responseTo: header.requestID, body: m.body)
        precondition((try? WireCodec.parse(reply)) != nil, "a reply we encode must parse")
    case .query(let q):
        _ = WireCodec.queryReply(requestID: 1, responseTo: header.requestID, document: q.query)
    }
    return 0
}
