// Codable for Document and BSON with coders other than BSONEncoder/BSONDecoder (which store
// them natively): documents become keyed containers, values their natural JSON-like forms.

struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension Document: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: DynamicKey.self)
        var d = Document()
        for key in c.allKeys { d.append(key.stringValue, try c.decode(BSON.self, forKey: key)) }
        self = d
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: DynamicKey.self)
        for (k, v) in self { try c.encode(v, forKey: DynamicKey(stringValue: k)) }
    }
}

extension BSON: Codable {
    public init(from decoder: any Decoder) throws {
        if let c = try? decoder.container(keyedBy: DynamicKey.self) {
            var d = Document()
            for key in c.allKeys { d.append(key.stringValue, try c.decode(BSON.self, forKey: key)) }
            self = .document(d)
            return
        }
        if var c = try? decoder.unkeyedContainer() {
            var out: [BSON] = []
            while !c.isAtEnd { out.append(try c.decode(BSON.self)) }
            self = .array(out)
            return
        }
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = Int32(exactly: i).map(BSON.int32) ?? .int64(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else { self = .string(try c.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .document(let d): try d.encode(to: encoder)
        case .array(let a):
            var c = encoder.unkeyedContainer()
            for v in a { try c.encode(v) }
        default:
            var c = encoder.singleValueContainer()
            switch self {
            case .null, .undefined: try c.encodeNil()
            case .bool(let b): try c.encode(b)
            case .int32(let i): try c.encode(i)
            case .int64(let i): try c.encode(i)
            case .double(let d): try c.encode(d)
            case .string(let s), .symbol(let s), .javascript(let s): try c.encode(s)
            case .objectID(let o): try c.encode(o.hex)
            case .decimal128(let d): try c.encode(d.description)
            case .datetime(let ms): try c.encode(ms)
            default: try c.encode(ExtendedJSON.json(from: self, mode: .canonical).text)
            }
        }
    }
}
