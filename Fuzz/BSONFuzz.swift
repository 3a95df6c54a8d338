// libFuzzer entry for the BSON decoder. Built by scripts/fuzz together with the FolioBSON
// sources (one module, so no import). Any input must either be rejected by the validator
// or survive every reader: decode, re-encode, re-validate, Extended JSON both ways, lookups
// and KeyString encoding. A trap anywhere is a finding.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let raw = try? RawDocument(validating: bytes) else { return 0 }
    let document = raw.document()
    let encoded = document.bsonBytes()
    guard let again = try? RawDocument(validating: encoded) else {
        preconditionFailure("re-encoded document does not validate")
    }
    precondition(again.document() == document, "decode(encode(d)) != d")
    for element in raw {
        _ = element.key
        _ = element.value.bson
        _ = raw.lookup(element.key)
        _ = KeyString.encode(element.value.bson)
    }
    _ = raw.lookup(path: "a.0.b")
    let canonical = ExtendedJSON.string(from: document, mode: .canonical)
    _ = try? ExtendedJSON.document(from: canonical)
    _ = ExtendedJSON.string(from: document, mode: .relaxed)
    return 0
}
