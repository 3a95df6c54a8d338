// A small multi-tenant chat store on the embedded Folio library.
//
//     swift run ChatStore [data-directory]
//
// Workspaces (tenants) hold conversations; a message is posted in a transaction that also
// bumps its conversation; a live query prints each new message of one conversation as it
// arrives; a text index finds messages by words, scoped to one workspace.
import Folio
import Foundation

struct Conversation: Codable, Sendable, FolioFields {
    var _id: String
    var workspace: String
    var title: String
    var messageCount: Int
    var lastMessageAt: Date?

    // What typed filters and updates may name, and the field each is stored under.
    static let fields: FieldNames<Conversation> = [\._id: "_id", \.workspace: "workspace", \.title: "title",
                                                   \.messageCount: "messageCount", \.lastMessageAt: "lastMessageAt"]
}

struct Message: Codable, Sendable {
    var _id: ObjectID
    var workspace: String
    var conversation: String
    var author: String
    var text: String
    var at: Date
}

let directory = CommandLine.arguments.dropFirst().first
    ?? FileManager.default.temporaryDirectory.appendingPathComponent("chatstore-\(UUID().uuidString)").path
let folio: FolioClient
do {
    folio = try FolioClient.open(directory: directory)
} catch {
    // For instance: the directory is in use by another Folio process (a server on it).
    FileHandle.standardError.write(Data("ChatStore: \(error.message)\n".utf8))
    exit(1)
}
let db = folio.database("chat")
let conversations = db.collection("conversations", as: Conversation.self)
let messages = db.collection("messages", as: Message.self)

// Indexes: a conversation's messages in time order, and words in messages.
try await messages.createIndex(["workspace": 1, "conversation": 1, "at": 1])
try await messages.createIndex(["text": "text"])

for (id, workspace, title) in [("acme/general", "acme", "General"), ("acme/launch", "acme", "Launch"),
                               ("globex/general", "globex", "General")] {
    // Created when missing; a second run keeps the conversations and their counts.
    try await conversations.updateOne(["_id": .string(id)], ["$setOnInsert": ["workspace": .string(workspace), "title": .string(title),
                                                                           "messageCount": 0]], upsert: true)
}

/// Posts a message and bumps its conversation, both or neither.
func post(_ workspace: String, _ conversation: String, _ author: String, _ text: String) async throws {
    try await folio.withTransaction { txn in
        let db = txn.database("chat")
        let now = Date()
        try await db.collection("messages", as: Message.self).insertOne(
            Message(_id: ObjectID(), workspace: workspace, conversation: conversation, author: author, text: text, at: now))
        let bumped = try await db.collection("conversations", as: Conversation.self).updateOne(
            \._id == conversation && \.workspace == workspace,
            .inc(\.messageCount, 1) + .set(\.lastMessageAt, now))
        guard bumped.matchedCount == 1 else {
            throw FolioError(.namespaceNotFound, "no conversation \(conversation) in workspace \(workspace)")
        }
    }
}

// Follow #launch live while others post, until it ships.
let follower = Task {
    var seen = 0
    for try await latest in messages.liveQuery(["workspace": "acme", "conversation": "acme/launch"], sort: ["at": 1]) {
        for m in latest.dropFirst(seen) { print("  [live #launch] \(m.author): \(m.text)") }
        seen = latest.count
        if latest.last?.text == "Shipped!" { break }
    }
}

let script: [(String, String, String, String)] = [
    ("acme", "acme/launch", "ada", "The release candidate is up for review"),
    ("acme", "acme/general", "bob", "Lunch at noon?"),
    ("globex", "globex/general", "eve", "Our release is on Friday"),
    ("acme", "acme/launch", "bob", "Reviewing the release notes now"),
    ("acme", "acme/launch", "ada", "Shipped!"),
]
for (workspace, conversation, author, text) in script {
    try await post(workspace, conversation, author, text)
    try await Task.sleep(for: .milliseconds(50))
}
do {
    try await post("globex", "acme/launch", "mallory", "crossing tenants")
} catch {
    print("refused: \(error)")
}
// The follower stops by itself after "Shipped!"; give up on it after 10 s.
let watchdog = Task {
    try await Task.sleep(for: .seconds(10))
    follower.cancel()
}
_ = try? await follower.value
watchdog.cancel()

print("\nConversations:")
for try await c in conversations.find(sort: ["_id": 1]) {
    print("  \(c._id): \(c.messageCount) message(s)")
}

print("\nacme messages about \"release\", best first:")
let hits = try await db.collection("messages").aggregate([
    ["$match": ["$text": ["$search": "release"], "workspace": "acme"]],
    ["$sort": ["score": ["$meta": "textScore"]]],
    ["$project": ["_id": 0, "author": 1, "text": 1]],
]).toArray()
for hit in hits { print("  \(hit["author"]?.stringValue ?? ""): \(hit["text"]?.stringValue ?? "")") }

// Anything the typed API does not cover goes through the server's own commands.
let stats = try await db.runCommand(["collStats": "messages"])
print("\nmessages: \(stats["count"]?.exactInt64 ?? 0) stored in \(stats["size"]?.exactInt64 ?? 0) bytes")

folio.close()
print("\ndata in \(directory)")
