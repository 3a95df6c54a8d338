// Codable conformances of the BSON value types, for use with any coder. BSONEncoder and
// BSONDecoder bypass these and store the types natively; other coders (JSON, plists) get
// portable forms: ObjectId and Decimal128 as strings, Timestamp as {t, i}.

extension ObjectID: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = ObjectID(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad ObjectId \(text)"))
        }
        self = v
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}

extension Decimal128: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let v = Decimal128(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad decimal \(text)"))
        }
        self = v
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

extension Timestamp: Codable {
    enum CodingKeys: String, CodingKey { case t, i }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(seconds: try c.decode(UInt32.self, forKey: .t), increment: try c.decode(UInt32.self, forKey: .i))
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(seconds, forKey: .t)
        try c.encode(increment, forKey: .i)
    }
}
