import FolioBSON
import FolioQuery
import FolioStorage

// `find({field: value}).limit(1)` when one plain index is the only access the planner could
// choose: the plan it would build (IXSCAN of that index within the value's point interval,
// FETCH with the whole filter) built directly, without parsing the filter from a document,
// the planner's tables or a cursor. That work was a third of a point lookup on an indexed
// field (BENCHMARKS.md, issue 28), where the seek itself is one B-tree descent.
//
// The stages are the planner's own, so the documents examined, the keys examined and the
// answer are the same; the finished plan is counted as a cursor counts it
// (`metrics.queryExecutor`) and the index's use as the planner notes it (`$indexStats`).

extension IndexDescriptor {
    /// Whether this is a plain ascending-or-descending index whose first field is `field`:
    /// not hashed, geo, wildcard or text, not partial or sparse, not hidden or building, without its own
    /// collation. A scan of such an index within one value's interval holds every document
    /// whose `field` equals the value (or is an array holding it), and only those.
    public func isPlain(leadingWith field: String) -> Bool {
        guard let first = fields.first, first.path.dotted == field, !first.hashed, !first.geo, !first.planar,
              wildcard == nil, text == nil else { return false }
        return partialFilter == nil && !sparse && !hidden && !building && options["collation"] == nil
    }
}

extension Engine {
    /// The document `find({field: value})` with `limit: 1` returns first, or `.some(nil)` when
    /// none matches; nil when the query must be planned: `field` is `_id` or an operator, the
    /// value is not an int, long, finite double, string or ObjectId, more than one index (or
    /// any wildcard index) could serve the equality, or the one that could is not plain
    /// (`isPlain(leadingWith:)`), and on the engine of a transaction or snapshot read.
    public func firstDocument(_ ns: Namespace, field: String, equalTo value: BSON) -> RawDocument?? {
        switch value {
        case .int32, .int64, .string, .objectID: break
        case .double(let d) where d.isFinite: break
        default: return nil
        }
        guard field != "_id", !field.hasPrefix("$"), snapshotCollections == nil, ns != oplogNamespace,
              entry(ns) != nil else { return nil }
        let snapshot: any StorageSnapshot
        do throws(StorageError) { snapshot = try storage.snapshot() } catch { return nil }
        defer { snapshot.close() }
        // The entry is read after the snapshot, as `find` reads it (a multikey flag the
        // snapshot's documents need is set in it).
        guard let entry = entry(ns) else { return nil }
        // The planner's candidates for the equality are among the usable indexes that lead with
        // the field, and wildcard indexes: one of them, and plain, or the planner decides.
        var only: IndexDescriptor?
        for index in entry.indexes where !index.hidden && !index.building && index.text == nil
            && (index.wildcard != nil || index.fields.first?.path.dotted == field) {
            guard only == nil else { return nil }
            only = index
        }
        guard let index = only, index.isPlain(leadingWith: field),
              let point = IndexBounds.intervals([.equality(value)], multikey: index.isMultikey) else { return nil }
        var perField = [[FieldInterval]?](repeating: nil, count: index.fields.count)
        perField[0] = point
        let scan = IndexScanStage(snapshot: snapshot, index: index, ranges: IndexBounds.ranges(index.fields, perField),
                                  printedBounds: { IndexBounds.printed(index.fields, perField) }, forward: true)
        let root = FetchStage(child: scan, snapshot: snapshot, store: entry.recordStore,
                              filter: Filter(.path(FieldPath(field), [.eq(value)])), deduplicate: index.isMultikey)
        var found: RawDocument?
        do throws(FolioError) {
            seek: while true {
                switch try root.work() {
                case .advanced(let row):
                    found = row.document
                    break seek
                case .needTime: continue
                case .eof: break seek
                }
            }
        } catch {
            return nil
        }
        queryStatistics.record(root, ns)
        indexAccesses.note(ns, [index.name])
        return .some(found)
    }
}
