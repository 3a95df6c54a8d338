import FolioBSON

/// `$getField`, `$setField`, `$unsetField` and `$mergeObjects`: the object operators the
/// update pipelines and dotted/dollar field names need.
enum ObjectOperators {
    static func register(into t: inout [String: ExpressionOperators.Operator]) {
        t["$getField"] = .init(arity: (1, 1), takesDocument: true) { args, context throws(FolioError) in
            let (field, input) = try fieldAndInput(args[0], "$getField", context: context, shorthandAllowed: true)
            guard let input, input.type != .null else { return input == nil ? nil : .null }
            guard case .document(let d) = input else { return nil }
            return d[field]
        }
        t["$setField"] = .init(arity: (1, 1), takesDocument: true) { args, context throws(FolioError) in
            guard case .document(let spec)? = args[0] else {
                throw FolioError(ErrorCode(rawValue: 4161100), "$setField only supports an object as its argument")
            }
            let (field, input) = try fieldAndInput(args[0], "$setField", context: context, shorthandAllowed: false)
            guard let input, input.type != .null else { return .null }
            guard case .document(var d) = input else {
                throw FolioError(ErrorCode(rawValue: 4161105), "$setField requires 'input' to evaluate to type Object")
            }
            if let value = spec["value"] {
                d[field] = value
            } else {
                d.removeValue(forKey: field)
            }
            return .document(d)
        }
        t["$unsetField"] = .init(arity: (1, 1), takesDocument: true) { args, context throws(FolioError) in
            let (field, input) = try fieldAndInput(args[0], "$unsetField", context: context, shorthandAllowed: false)
            guard let input, input.type != .null else { return .null }
            guard case .document(var d) = input else {
                throw FolioError(ErrorCode(rawValue: 4161105), "$unsetField requires 'input' to evaluate to type Object")
            }
            d.removeValue(forKey: field)
            return .document(d)
        }
        t["$mergeObjects"] = .init(arity: nil) { args, _ throws(FolioError) in
            var out = Document()
            for a in args {
                guard let a, !a.isNullish else { continue }
                guard case .document(let d) = a else {
                    throw FolioError(ErrorCode(rawValue: 40400), "$mergeObjects requires object inputs, but input \(a) is of type \(a.type.alias)")
                }
                for (k, v) in d { out[k] = v }
            }
            return .document(out)
        }
    }

    static func fieldAndInput(_ argument: BSON?, _ op: String, context: EvaluationContext,
                              shorthandAllowed: Bool) throws(FolioError) -> (String, BSON?) {
        switch argument {
        case .string(let s)? where shorthandAllowed:
            return (s, context.current)
        case .document(let spec)?:
            guard case .string(let field)? = spec["field"] else {
                throw FolioError(ErrorCode(rawValue: 3041704), "\(op) requires 'field' to evaluate to type String")
            }
            if spec.index(forKey: "input") == nil && shorthandAllowed { return (field, context.current) }
            return (field, spec["input"])
        default:
            throw FolioError(ErrorCode(rawValue: 3041704), "\(op) requires 'field' to evaluate to type String")
        }
    }
}
