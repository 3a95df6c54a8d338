import Foundation
import Testing
import Folio

/// TypedQueries.swift: filters, sorts and updates from key paths, encoded as inserts store
/// the values, with an unlisted key path refused.
@Suite struct TypedQueriesTests {
    enum Kind: String, Codable, Sendable { case text, image }

    struct Message: Codable, Sendable, Equatable, FolioFields {
        var _id: Int
        var room: String
        var kind: Kind
        var sentAt: Date
        var likes: Int
        var tags: [String]
        var editedBy: String?
        var note: String = ""

        enum CodingKeys: String, CodingKey { case _id, room, kind, sentAt = "sent_at", likes, tags, editedBy, note }
        // `note` is left out on purpose: a query on it is refused.
        static let fields: FieldNames<Message> = [\._id: "_id", \.room: "room", \.kind: "kind", \.sentAt: "sent_at",
                                                  \.likes: "likes", \.tags: "tags", \.editedBy: "editedBy"]
    }

    static let start = Date(timeIntervalSince1970: 1_700_000_000)

    static func message(_ i: Int) -> Message {
        let room = i % 2 == 0 ? "even" : "odd"
        let kind: Kind = i % 3 == 0 ? .image : .text
        return Message(_id: i, room: room, kind: kind, sentAt: start.addingTimeInterval(Double(i) * 60), likes: i, tags: [], editedBy: nil)
    }

    func seeded() async throws -> (FolioClient, FolioCollection<Message>) {
        let folio = try FolioClient.inMemory()
        let messages = folio.database("chat").collection("messages", as: Message.self)
        try await messages.insertMany((0..<10).map(Self.message))
        return (folio, messages)
    }

    @Test func filtersAndSortsFromKeyPaths() async throws {
        let (folio, messages) = try await seeded()
        defer { folio.close() }
        let cutoff = Self.start.addingTimeInterval(3 * 60)
        // A renamed field (sent_at), a date, an enum and a combination.
        let recentEven = try await messages.find(\.room == "even" && \.sentAt > cutoff, sort: [.descending(\.sentAt)]).toArray()
        #expect(recentEven.map(\._id) == [8, 6, 4])
        #expect(try await messages.countDocuments(\.kind == .image) == 4)
        #expect(try await messages.countDocuments(\.kind != .image || \.likes >= 9) == 7)
        #expect(try await messages.find(.field(\.likes, in: [1, 2, 42]), sort: [.ascending(\.likes)]).toArray().map(\._id) == [1, 2])
        #expect(try await messages.find(\.likes <= 1, sort: [.ascending(\.room), .descending(\._id)], limit: 1).toArray().map(\._id) == [0])
        #expect(try await messages.findOne(\.likes < 3, sort: [.descending(\.likes)])?._id == 2)
        // A nil optional is not stored (as a driver's Codable encoding leaves it out).
        #expect(try await messages.countDocuments(.field(\.editedBy, exists: false)) == 10)
        // The documents the filter builds are the ones a driver would send.
        let filter = try (\Message.room == "odd" && \Message.sentAt >= Self.start).document()
        #expect(filter == ["$and": [["room": "odd"], ["sent_at": ["$gte": .datetime(1_700_000_000_000)]]]])
    }

    @Test func updatesFromKeyPaths() async throws {
        let (folio, messages) = try await seeded()
        defer { folio.close() }
        let update: Update<Message> = .inc(\.likes, 100) + .set(\.editedBy, "ada") + .push(\.tags, "pinned") + .set(\.kind, .text)
        #expect(try update.document() == ["$inc": ["likes": 100], "$set": ["editedBy": "ada", "kind": "text"], "$push": ["tags": "pinned"]])
        let outcome = try await messages.updateOne(\._id == 3, update)
        #expect(outcome.modifiedCount == 1)
        let edited = try #require(try await messages.findOne(\._id == 3))
        #expect(edited.likes == 103 && edited.editedBy == "ada" && edited.tags == ["pinned"] && edited.kind == .text)
        #expect(try await messages.updateMany(\.room == "odd", .unset(\.editedBy)).matchedCount == 5)
        #expect(try await messages.findOne(\._id == 3)?.editedBy == nil)
        #expect(try await messages.deleteMany(\.likes < 5) == 4)  // 3 has 103 likes now
        #expect(try await messages.countDocuments(.all) == 6)
    }

    @Test func aKeyPathNotListedIsRefused() async throws {
        let (folio, messages) = try await seeded()
        defer { folio.close() }
        await #expect { _ = try await messages.countDocuments(\.note == "") } throws: {
            ($0 as? FolioError)?.code == .badValue && ($0 as? FolioError)?.message.contains("fields") == true
        }
        await #expect { _ = try await messages.find(.all, sort: [.ascending(\.note)]).toArray() } throws: {
            ($0 as? FolioError)?.code == .badValue
        }
        await #expect { _ = try await messages.updateOne(.all, .set(\.note, "x")) } throws: { ($0 as? FolioError)?.code == .badValue }
        #expect(try await messages.countDocuments(.all) == 10)
    }
}
