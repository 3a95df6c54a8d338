// Node driver smoke test (Debian's node-mongodb): insert, find, update, delete, aggregate.
// Usage: node smoke.js <port>. Exits non-zero on the first mismatch.
const { MongoClient } = require("mongodb");
const assert = require("assert");

async function main() {
  const port = process.argv[2];
  const client = new MongoClient(`mongodb://127.0.0.1:${port}/?directConnection=true`, { useUnifiedTopology: true });
  await client.connect();
  const db = client.db("drivers_node");
  const c = db.collection("items");
  await c.deleteMany({});
  const ins = await c.insertMany([{ _id: 1, k: "a", n: 1 }, { _id: 2, k: "b", n: 2 }, { _id: 3, k: "a", n: 3 }]);
  assert.strictEqual(ins.insertedCount, 3);
  const found = await c.find({ k: "a" }).sort({ n: -1 }).toArray();
  assert.deepStrictEqual(found.map((d) => d._id), [3, 1]);
  const upd = await c.updateOne({ _id: 2 }, { $inc: { n: 10 }, $set: { tag: "x" } });
  assert.strictEqual(upd.modifiedCount, 1);
  assert.deepStrictEqual(await c.findOne({ _id: 2 }), { _id: 2, k: "b", n: 12, tag: "x" });
  const agg = await c.aggregate([{ $group: { _id: "$k", total: { $sum: "$n" } } }, { $sort: { _id: 1 } }]).toArray();
  assert.deepStrictEqual(agg, [{ _id: "a", total: 4 }, { _id: "b", total: 12 }]);
  assert.strictEqual(await c.countDocuments({ n: { $gt: 1 } }), 2);
  const del = await c.deleteMany({ k: "a" });
  assert.strictEqual(del.deletedCount, 2);
  await assert.rejects(c.insertOne({ _id: 2 }), (e) => e.code === 11000);
  // A cursor across several batches.
  await c.insertMany(Array.from({ length: 250 }, (_, i) => ({ _id: 100 + i })));
  assert.strictEqual((await c.find({ _id: { $gte: 100 } }).batchSize(30).toArray()).length, 250);
  // A transaction commits both writes at once; an aborted one leaves nothing.
  const accounts = db.collection("accounts");
  await accounts.insertMany([{ _id: "a", balance: 100 }, { _id: "b", balance: 0 }]);
  const session = client.startSession();
  await session.withTransaction(async () => {
    await accounts.updateOne({ _id: "a" }, { $inc: { balance: -30 } }, { session });
    await accounts.updateOne({ _id: "b" }, { $inc: { balance: 30 } }, { session });
  });
  session.startTransaction();
  await accounts.updateOne({ _id: "a" }, { $inc: { balance: -1000 } }, { session });
  await session.abortTransaction();
  await session.endSession();
  assert.deepStrictEqual(await accounts.find().sort({ _id: 1 }).toArray(), [{ _id: "a", balance: 70 }, { _id: "b", balance: 30 }]);
  // (Debian's driver, 3.6, predates snapshot sessions: pymongo's tests cover them.)
  await accounts.updateOne({ _id: "a" }, { $inc: { balance: 5 } });
  // A view reads through its pipeline; writes to it are refused with 166.
  await db.createCollection("rich", { viewOn: "accounts", pipeline: [{ $match: { balance: { $gte: 50 } } }] });
  assert.deepStrictEqual(await db.collection("rich").find().toArray(), [{ _id: "a", balance: 75 }]);
  await assert.rejects(db.collection("rich").insertOne({ _id: "c" }), (e) => e.code === 166);
  // A change stream from a point in time sees an insert, an update with its description
  // and a delete, and a stream resumed from the first event's token sees the rest.
  const messages = db.collection("messages");
  const { operationTime } = await db.command({ ping: 1 });
  const stream = messages.watch([], { startAtOperationTime: operationTime, fullDocument: "updateLookup" });
  await messages.insertOne({ _id: 1, text: "hi" });
  await messages.updateOne({ _id: 1 }, { $set: { text: "hello" } });
  await messages.deleteOne({ _id: 1 });
  const inserted = await stream.next();
  assert.strictEqual(inserted.operationType, "insert");
  assert.deepStrictEqual(inserted.fullDocument, { _id: 1, text: "hi" });
  const updated = await stream.next();
  assert.deepStrictEqual(updated.updateDescription.updatedFields, { text: "hello" });
  assert.strictEqual((await stream.next()).operationType, "delete");
  await stream.close();
  const resumed = messages.watch([], { resumeAfter: inserted._id });
  assert.strictEqual((await resumed.next()).operationType, "update");
  await resumed.close();
  await db.dropDatabase();
  await client.close();
  console.log("node driver: insert/find/update/delete/aggregate/cursor/transaction/view/change stream ok");
}

main().catch((e) => { console.error("node driver smoke test failed:", e); process.exit(1); });
