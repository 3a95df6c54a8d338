// libFuzzer entry for the wire framing and OP_MSG/OP_QUERY parser. Built by scripts/fuzz with
// the FolioBSON sources and Sources/FolioServer/WireMessage.swift (one module, no imports).
// Any input must be rejected with a WireError or parse into a message whose reply encodes.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = bytes.withUnsafeBytes { try? WireCodec.header($0) }
    guard let (header, message) = try? WireCodec.parse(bytes) else { return 0 }
    switch message {
    case .message(let m):
        let reply = WireCodec.messageReply(requestID: 1, responseTo: header.requestID, body: m.body)
        precondition((try? WireCodec.parse(reply)) != nil, "a reply we encode must parse")
    case .query(let q):
        _ = WireCodec.queryReply(requestID: 1, responseTo: header.requestID, document: q.query)
    }
    return 0
}
