import FolioBSON

// Dependency analysis: which top-level fields a pipeline reads before it replaces the
// document with one of its own ($group, $project inclusion, $replaceRoot, ...). The executor
// then decodes only those fields of each stored document, which is most of the cost of a
// $match + $group over wide documents.

/// A set of top-level field names, or "the whole document".
public struct FieldDependencies: Sendable {
    public private(set) var fields: Set<String> = []
    public private(set) var needsWholeDocument = false

    mutating func add(_ name: String) { fields.insert(name) }
    mutating func all() { needsWholeDocument = true }

    mutating func add(_ path: FieldPath) {
        if let first = path.components.first { add(first) }
    }
}

extension Expression {
    func collectDependencies(_ d: inout FieldDependencies) {
        switch self {
        case .constant: break
        case .fieldPath(let p): d.add(p)
        case .variable(let name, _):
            if name == "ROOT" || name == "CURRENT" { d.all() }
        case .array(let es), .and(let es), .or(let es), .ifNull(let es): for e in es { e.collectDependencies(&d) }
        case .object(let fields): for (_, e) in fields { e.collectDependencies(&d) }
        case .call(_, _, let args): for e in args { e.collectDependencies(&d) }
        case .cond(let a, let b, let c):
            a.collectDependencies(&d); b.collectDependencies(&d); c.collectDependencies(&d)
        case .switchCase(let branches, let defaultValue):
            for (c, t) in branches { c.collectDependencies(&d); t.collectDependencies(&d) }
            defaultValue?.collectDependencies(&d)
        case .letIn(let vars, let body):
            for (_, e) in vars { e.collectDependencies(&d) }
            body.collectDependencies(&d)
        case .map(let input, _, let body):
            input.collectDependencies(&d); body.collectDependencies(&d)
        case .filter(let input, _, let condition, let limit):
            input.collectDependencies(&d); condition.collectDependencies(&d); limit?.collectDependencies(&d)
        case .reduce(let input, let initial, let body):
            input.collectDependencies(&d); initial.collectDependencies(&d); body.collectDependencies(&d)
        }
    }
}

extension MatchExpression {
    func collectDependencies(_ d: inout FieldDependencies) {
        switch self {
        case .and(let es), .or(let es), .nor(let es): for e in es { e.collectDependencies(&d) }
        case .path(let p, _): d.add(p)
        case .expr(let e): e.collectDependencies(&d)
        case .jsonSchema, .text: d.all()
        case .alwaysTrue, .alwaysFalse: break
        }
    }
}

extension AggregationPipeline {
    /// The top-level fields of its input the pipeline can observe; nil when it may see the
    /// whole document (it never replaces the document, or some stage reads `$$ROOT`).
    public var inputDependencies: Set<String>? {
        var d = FieldDependencies()
        for stage in stages {
            switch stage {
            case .match(let m): m.collectDependencies(&d)
            case .sort(let s, _): for k in s.keys { d.add(k.valuePath) }
            case .limit, .skip, .sample: break
            case .unwind(let u):
                // The unwound document keeps every field; only a later replacement bounds it.
                d.add(u.path)
                if let i = u.includeArrayIndex { d.add(i) }
            case .addFields(let fields):
                for (path, e) in fields.fields { d.add(path); e.collectDependencies(&d) }
            case .unset: break
            case .redact: d.all()
            case .group(let g):
                g.id.collectDependencies(&d)
                for (_, a) in g.accumulators {
                    a.input.collectDependencies(&d)
                    a.n?.collectDependencies(&d)
                    if let s = a.sortBy { for k in s.keys { d.add(k.path) } }
                }
                return d.needsWholeDocument ? nil : d.fields
            case .bucketAuto(let b):
                b.groupBy.collectDependencies(&d)
                for (_, a) in b.output { a.input.collectDependencies(&d) }
                return d.needsWholeDocument ? nil : d.fields
            case .project(let p):
                guard p.isInclusion, let fields = p.inclusionDependencies else { return nil }
                for f in fields.fields { d.add(f) }
                if fields.needsWholeDocument { d.all() }
                return d.needsWholeDocument ? nil : d.fields
            case .replaceRoot(let e, _):
                e.collectDependencies(&d)
                return d.needsWholeDocument ? nil : d.fields
            default:
                return nil
            }
            if d.needsWholeDocument { return nil }
        }
        return nil
    }
}

extension Projection {
    /// The fields an inclusion projection reads (its paths' first components, `_id`, and
    /// its computed expressions' inputs).
    var inclusionDependencies: FieldDependencies? {
        guard isInclusion else { return nil }
        var d = FieldDependencies()
        if includeID { d.add("_id") }
        for (name, item) in items {
            d.add(name)
            Projection.collect(item, &d)
        }
        return d
    }

    static func collect(_ item: Item, _ d: inout FieldDependencies) {
        switch item {
        case .computed(let e): e.collectDependencies(&d)
        case .nested(let children): for (_, c) in children { collect(c, &d) }
        case .elemMatch(let m): m.collectDependencies(&d)
        default: break
        }
    }
}
