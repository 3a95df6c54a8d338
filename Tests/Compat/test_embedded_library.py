"""One data directory, two processes in turn: what the embedded library (Examples/ChatStore,
`import Folio`) writes, `folio serve` reads with pymongo, and the other way round; while one
holds the directory, the other is refused with a message that says so."""
import datetime
import os
import pathlib
import subprocess

import pymongo

from conftest import running_server, scratch_directory

ROOT = pathlib.Path(__file__).resolve().parents[2]


def chatstore_binary() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("CHATSTORE_BINARY", ROOT / ".build/debug/ChatStore"))
    if not path.exists():
        subprocess.run(["swift", "build", "--product", "ChatStore"], cwd=ROOT, check=True)
    assert path.exists(), f"ChatStore not found at {path}"
    return path


def run_chatstore(directory):
    return subprocess.run([str(chatstore_binary()), directory], capture_output=True, text=True, timeout=120)


def test_library_and_server_share_a_directory(folio_binary):
    data = scratch_directory("folio-library-") + "/chat"
    first = run_chatstore(data)
    assert first.returncode == 0, first.stderr
    assert "acme/launch: 3 message(s)" in first.stdout

    with running_server(folio_binary, data=data) as s:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{s['port']}/?directConnection=true", serverSelectionTimeoutMS=5000)
        chat = client.chat
        launch = chat.conversations.find_one({"_id": "acme/launch"})
        assert launch["messageCount"] == 3 and type(launch["messageCount"]) is int
        # Set through the typed update builder: a BSON date, as a driver would store it.
        assert isinstance(launch["lastMessageAt"], datetime.datetime)
        assert chat.messages.count_documents({}) == 5
        names = [i["name"] for i in chat.messages.list_indexes()]
        assert names == ["_id_", "workspace_1_conversation_1_at_1", "text_text"]
        hits = list(chat.messages.find({"$text": {"$search": "shipped"}}, {"_id": 0, "author": 1}))
        assert hits == [{"author": "ada"}]
        # The library's typed values are what a driver reads: dates, ObjectIds, strings.
        m = chat.messages.find_one({"text": "Shipped!"})
        assert type(m["_id"]).__name__ == "ObjectId" and m["at"].year >= 2026

        # The server holds the directory: the library is refused, clearly.
        refused = run_chatstore(data)
        assert refused.returncode != 0
        assert "in use by another Folio process" in refused.stderr + refused.stdout

        chat.messages.insert_one({"workspace": "acme", "conversation": "acme/launch", "author": "pymongo",
                                  "text": "written by the server", "at": m["at"]})
        chat.conversations.update_one({"_id": "acme/launch"}, {"$inc": {"messageCount": 1}})
        client.close()

    # The server is gone: the library opens what the server wrote and goes on.
    again = run_chatstore(data)
    assert again.returncode == 0, again.stderr
    assert "acme/launch: 7 message(s)" in again.stdout
    assert "pymongo: written by the server" in again.stdout
