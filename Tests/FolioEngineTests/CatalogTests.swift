import Testing
import FolioBSON
@testable import FolioEngine

/// The catalog's entries and its in-memory mirror (Catalog.swift): entries keep value
/// semantics though their fields are shared, and a batch's publish reports exactly the
/// collections it changed.
@Suite struct CatalogTests {
    static func entry(_ collection: String) throws -> CollectionEntry {
        try CollectionEntry(namespace: Namespace(database: "app", collection: collection), uuid: CollectionEntry.newUUID(), options: [:])
    }

    @Test func anEntryChangedThroughACopyLeavesTheOriginal() throws {
        let original = try Self.entry("a")
        var copy = original
        #expect(copy == original)
        copy.indexes.append(try IndexDescriptor(specification: ["key": ["x": 1], "name": "x_1"], store: "i.x"))
        copy.namespace = try Namespace(database: "app", collection: "b")
        try copy.setOptions(["validator": ["x": ["$type": "int"]]], command: "collMod")
        #expect(original.indexes.isEmpty && original.namespace.collection == "a" && original.options.isEmpty && original.validator == nil)
        #expect(copy.indexes.count == 1 && copy.namespace.collection == "b" && copy.validator != nil)
        #expect(copy != original)
        // Equal fields in separate storage are equal.
        var back = copy
        back.namespace = original.namespace
        back.indexes = []
        try back.setOptions([:], command: "collMod")
        #expect(back == original)
    }

    @Test func publishReportsWhatTheBatchChanged() throws {
        let a = try Self.entry("a"), b = try Self.entry("b"), c = try Self.entry("c")
        let box = CatalogBox(CatalogState(collections: [a.namespace: a, b.namespace: b]))
        let published = box.batch { () -> [Namespace] in
            box.withLock { s in
                s.set(a.namespace, a)            // the same entry: no change
                s.set(b.namespace, nil)
                s.set(c.namespace, c)
                s.generation += 1
            }
            // A failed request's changes are undone and not reported.
            let mark = box.mark()
            box.withLock { s in
                var changed = a
                changed.indexes = [try! IndexDescriptor(specification: ["key": ["y": 1], "name": "y_1"], store: "i.y")]
                s.set(a.namespace, changed)
                s.generation += 1
            }
            box.restore(mark)
            return box.publish()
        }
        #expect(Set(published) == [b.namespace, c.namespace])
        #expect(box.withLock { $0.collections.keys.map(\.collection).sorted() } == ["a", "c"])
        // The next batch starts with no changes of its own.
        #expect(box.batch { box.withLock { $0.generation += 1 }; return box.publish() }.isEmpty)
    }
}
