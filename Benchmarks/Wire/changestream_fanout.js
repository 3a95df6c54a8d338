// Chat fan-out through the Node.js driver (Debian's node-mongodb): W change streams on one
// collection in this process, and in a child process 8 writers inserting messages as fast as
// they can for S seconds. Prints the insert rate, the events delivered, and p50/p99 of the
// time from a write's acknowledgement to the event's arrival at each watcher (negative when
// the event came first; both processes read the same wall clock with sub-ms precision).
//
//   NODE_PATH=/usr/share/nodejs node Benchmarks/Wire/changestream_fanout.js <port> [watchers] [writers] [seconds] [rate]
// `rate`: messages per second per writer (0, the default: as fast as it can).
// Python's threads could not drive this (the client, not the server, was the limit).
const { MongoClient } = require("mongodb");
const { fork } = require("child_process");
const { performance } = require("perf_hooks");

const now = () => performance.timeOrigin + performance.now();
const [port, watchers = "100", writers = "8", seconds = "10", rate = "0"] = process.argv.slice(2);
const url = `mongodb://127.0.0.1:${port}/?directConnection=true`;

async function writer() {
  const client = new MongoClient(url, { useUnifiedTopology: true, poolSize: Number(writers) + 2 });
  await client.connect();
  const coll = client.db("chat").collection("messages");
  const acks = {};
  const end = now() + Number(seconds) * 1000;
  let count = 0;
  await Promise.all(Array.from({ length: Number(writers) }, async (_, w) => {
    const start = now();
    for (let k = 0; now() < end; k++) {
      if (Number(rate) > 0) {
        const due = start + (k * 1000) / Number(rate);
        if (due > now()) await new Promise((r) => setTimeout(r, due - now()));
      }
      const id = `${w}-${k}`;
      await coll.insertOne({ _id: id, conversation: k % 50, from: w, text: "x".repeat(80) });
      acks[id] = now();
      count++;
    }
  }));
  await client.close();
  process.send({ acks, count, seconds: Number(seconds) });
}

async function main() {
  const client = new MongoClient(url, { useUnifiedTopology: true, poolSize: Number(watchers) + 5 });
  await client.connect();
  const coll = client.db("chat").collection("messages");
  await coll.insertOne({ warm: true });
  const arrivals = [];
  const streams = [];
  const { operationTime } = await client.db("chat").command({ ping: 1 });
  for (let i = 0; i < Number(watchers); i++) {
    const stream = coll.watch([], { startAtOperationTime: operationTime, maxAwaitTimeMS: 500 });
    stream.on("change", (e) => { if (typeof e.documentKey._id === "string") arrivals.push([e.documentKey._id, now()]); });
    streams.push(stream);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const child = fork(__filename, [port, watchers, writers, seconds, rate, "--writer"]);
  const result = await new Promise((r) => child.on("message", r));
  await new Promise((r) => setTimeout(r, 2000));
  const delays = arrivals.filter(([id]) => id in result.acks).map(([id, t]) => t - result.acks[id]).sort((a, b) => a - b);
  const at = (q) => delays[Math.min(delays.length - 1, Math.floor(delays.length * q))];
  console.log(JSON.stringify({
    watchers: Number(watchers), writers: Number(writers), rate: Number(rate) || "max", "inserts/s": Math.round(result.count / result.seconds),
    events: delays.length, "expected events": result.count * Number(watchers),
    "p50 ms": +at(0.5).toFixed(2), "p99 ms": +at(0.99).toFixed(2), "max ms": +delays[delays.length - 1].toFixed(2),
  }));
  for (const s of streams) await s.close();
  await client.close();
}

if (process.argv.includes("--writer")) writer().catch((e) => { console.error(e); process.exit(1); });
else main().catch((e) => { console.error(e); process.exit(1); });
