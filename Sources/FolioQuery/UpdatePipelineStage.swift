import FolioBSON

/// A stage allowed in a pipeline-style update: `$set`/`$addFields`, `$unset`,
/// `$project`, `$replaceRoot`/`$replaceWith`.
public enum UpdatePipelineStage: Sendable {
    case addFields([(FieldPath, Expression)])
    case unset([FieldPath])
    case project(Projection)
    case replaceRoot(Expression)

    static func parse(_ stages: [BSON], variables: Set<String>) throws(FolioError) -> [UpdatePipelineStage] {
        var out: [UpdatePipelineStage] = []
        for stage in stages {
            guard case .document(let d) = stage, d.count == 1 else {
                throw FolioError(.typeMismatch, "A pipeline stage specification object must contain exactly one field.")
            }
            let name = d.fieldNames[0]
            guard ["$set", "$addFields", "$unset", "$project", "$replaceRoot", "$replaceWith"].contains(name) else {
                throw FolioError(.invalidOptions, "\(name) is not allowed to be used within an update")
            }
            for parsed in try AggregationStage.parse(d, constants: [:], nested: .top, variables: variables) {
                switch parsed {
                case .addFields(let fields): out.append(.addFields(fields.fields))
                case .unset(let paths): out.append(.unset(paths))
                case .project(let p): out.append(.project(p))
                case .replaceRoot(let e, _): out.append(.replaceRoot(e))
                default: break
                }
            }
        }
        return out
    }

    func apply(to document: Document, context: UpdateContext) throws(FolioError) -> Document {
        OperationInterrupt.beginDocument()
        switch self {
        case .addFields(let fields):
            var out = document
            let evaluation = EvaluationContext(root: document, variables: context.constants, now: context.now)
            for (path, e) in fields {
                let value = try e.evaluate(evaluation)
                out = DocumentPaths.setting(path.components[...], to: value, in: out)
            }
            return out
        case .unset(let paths):
            var out = document
            for p in paths { out = DocumentPaths.removing(p.components[...], from: out) }
            return out
        case .project(let projection):
            return try projection.apply(to: document, variables: context.constants)
        case .replaceRoot(let e):
            let evaluation = EvaluationContext(root: document, variables: context.constants, now: context.now)
            guard case .document(let d)? = try e.evaluate(evaluation) else {
                throw FolioError(ErrorCode(rawValue: 40228), "'newRoot' expression must evaluate to an object, but resulting value was: \(try e.evaluate(evaluation) ?? .null)")
            }
            return d
        }
    }
}

/// Setting and removing dotted paths in owned documents, aggregation style: arrays along
/// the way apply the change to each document element.
public enum DocumentPaths {
    /// Sets `path` to `value` (nil removes), creating sub-documents as needed.
    public static func setting(_ path: ArraySlice<String>, to value: BSON?, in document: Document) -> Document {
        var out = document
        let first = path.first!
        if path.count == 1 {
            if let value { out[first] = value } else { out.removeValue(forKey: first) }
            return out
        }
        switch out[first] {
        case .document(let child)?:
            out[first] = .document(setting(path.dropFirst(), to: value, in: child))
        case .array(let elements)?:
            out[first] = .array(elements.map { e in
                if case .document(let child) = e { return .document(setting(path.dropFirst(), to: value, in: child)) }
                return e
            })
        default:
            guard value != nil else { return out }
            out[first] = .document(setting(path.dropFirst(), to: value, in: Document()))
        }
        return out
    }

    /// Removes `path`, descending into arrays of documents.
    public static func removing(_ path: ArraySlice<String>, from document: Document) -> Document {
        setting(path, to: nil, in: document)
    }
}
