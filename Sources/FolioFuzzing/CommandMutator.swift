import FolioBSON

/// The fuzzer's input format and its structure-aware mutations. An input is up to
/// `maximumCommands` BSON command documents back to back, so a finding is the commands
/// themselves: it replays the same way whatever the generator becomes.
public enum CommandMutator {
    public static let maximumCommands = 6

    /// The commands in an input (nil when the bytes are not such a sequence; the BSON fuzzer
    /// covers malformed bytes).
    public static func decode(_ bytes: [UInt8]) -> [Document]? {
        var out: [Document] = []
        var offset = 0
        while offset < bytes.count {
            guard out.count < maximumCommands, let raw = try? RawDocument(validating: bytes, at: offset) else { return nil }
            out.append(raw.document())
            offset += raw.byteCount
        }
        return out
    }

    public static func encode(_ commands: [Document]) -> [UInt8] {
        var out: [UInt8] = []
        for c in commands { c.appendBSON(to: &out) }
        return out
    }

    /// A new input from `input`: a changed value, a new subtree, a removed or copied field,
    /// another command added, or (when `input` does not decode) fresh commands.
    public static func mutate(_ input: [UInt8], seed: UInt64, maximumBytes: Int) -> [UInt8] {
        var g = CommandGenerator(seed: seed)
        var commands = decode(input) ?? []
        if commands.isEmpty || g.random.chance(0.08) {
            if commands.count >= maximumCommands { commands.removeFirst() }
            commands.append(g.command())
        } else {
            let i = Int.random(in: 0..<commands.count, using: &g.random)
            var body = BSON.document(commands[i])
            var nodes = 0
            count(body, into: &nodes)
            let target = Int.random(in: 0..<max(1, nodes), using: &g.random)
            var position = 0
            body = rewrite(body, target: target, position: &position, with: &g)
            if case .document(let d) = body, !d.isEmpty { commands[i] = d }
        }
        var out = encode(commands)
        while out.count > maximumBytes && commands.count > 1 {
            commands.removeFirst()
            out = encode(commands)
        }
        return out.count <= maximumBytes ? out : encode([g.command()]).prefix(maximumBytes).map { $0 }
    }

    /// Counts every value in a tree (pre-order).
    static func count(_ v: BSON, into n: inout Int) {
        n += 1
        switch v {
        case .document(let d): for (_, c) in d { count(c, into: &n) }
        case .array(let a): for c in a { count(c, into: &n) }
        default: break
        }
    }

    /// Replaces (or edits) the `target`-th value in pre-order.
    static func rewrite(_ v: BSON, target: Int, position: inout Int, with g: inout CommandGenerator) -> BSON {
        if position == target {
            position += 1
            return replacement(for: v, with: &g)
        }
        position += 1
        switch v {
        case .document(var d):
            for i in 0..<d.count {
                let child = d.element(at: i).value
                d.setValue(rewrite(child, target: target, position: &position, with: &g), at: i)
                if position > target { break }
            }
            return .document(d)
        case .array(var a):
            for i in a.indices {
                a[i] = rewrite(a[i], target: target, position: &position, with: &g)
                if position > target { break }
            }
            return .array(a)
        default:
            return v
        }
    }

    static func replacement(for v: BSON, with g: inout CommandGenerator) -> BSON {
        switch g.random.next() % 10 {
        case 0, 1, 2: return g.hostile()
        case 3: return g.expression(depth: 2)
        case 4: return g.filter(depth: 2)
        case 5: return .document(g.stage(depth: 1))
        case 6: return g.number()
        case 7:
            // Rename a field to an operator name, or drop one.
            guard case .document(var d) = v, !d.isEmpty else { return g.hostile() }
            let i = Int.random(in: 0..<d.count, using: &g.random)
            if g.random.chance(0.5) { d.removeValue(at: i) } else {
                d.setKey(g.random.pick(MongoNames.expressionOperators + MongoNames.queryOperators + MongoNames.stages), at: i)
            }
            return .document(d)
        case 8:
            // Grow an array or a document by copying its own elements.
            switch v {
            case .array(let a) where !a.isEmpty: return .array(a + a)
            case .document(var d) where !d.isEmpty:
                let e = d.element(at: 0)
                d.append(g.random.pick(MongoNames.optionNames), e.value)
                return .document(d)
            default: return .array([v, v])
            }
        default:
            return .array([v])
        }
    }
}
