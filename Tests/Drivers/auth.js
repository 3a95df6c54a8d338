// Node driver against `folio serve --auth`: the first user through the localhost exception,
// then SCRAM-SHA-256 and SCRAM-SHA-1 logins, a wrong password (18) and a refused command (13).
// Usage: node auth.js <port>. Exits non-zero on the first mismatch.
const { MongoClient } = require("mongodb");
const assert = require("assert");

async function connect(port, credentials, mechanism) {
  const auth = credentials ? `${credentials}@` : "";
  const extra = mechanism ? `&authMechanism=${mechanism}` : "";
  const client = new MongoClient(`mongodb://${auth}127.0.0.1:${port}/?directConnection=true&authSource=admin${extra}`,
                                 { useUnifiedTopology: true, serverSelectionTimeoutMS: 5000 });
  await client.connect();
  return client;
}

async function main() {
  const port = process.argv[2];
  const bare = await connect(port);
  await assert.rejects(bare.db("app").collection("c").findOne({}), (e) => e.code === 13);
  await bare.db("admin").command({ createUser: "root", pwd: "node-secret", roles: ["root"] });
  // The localhost exception closed with the first user.
  await assert.rejects(bare.db("admin").command({ createUser: "other", pwd: "x", roles: [] }), (e) => e.code === 13);
  await bare.close();
  for (const mechanism of ["SCRAM-SHA-256", "SCRAM-SHA-1"]) {
    const client = await connect(port, "root:node-secret", mechanism);
    await client.db("app").collection("c").insertOne({ mechanism });
    if (mechanism === "SCRAM-SHA-256") {
      await client.db("admin").command({ createUser: "reader", pwd: "read-only", roles: [{ role: "read", db: "app" }] });
    }
    const status = await client.db("admin").command({ connectionStatus: 1 });
    assert.deepStrictEqual(status.authInfo.authenticatedUsers, [{ user: "root", db: "admin" }]);
    await client.close();
  }
  const reader = await connect(port, "reader:read-only");
  assert.strictEqual(await reader.db("app").collection("c").countDocuments({}), 2);
  await assert.rejects(reader.db("app").collection("c").insertOne({}), (e) => e.code === 13);
  await reader.close();
  await assert.rejects(connect(port, "root:wrong"), (e) => e.code === 18 || /Authentication failed/.test(String(e)));
  console.log("node auth: ok");
}

main().catch((e) => { console.error("node auth test failed:", e); process.exit(1); });
