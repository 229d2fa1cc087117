// The official OpenAI Node SDK against llmq's Batch API: upload, create,
// poll, download the output and error files, a chat completions batch,
// list, cancel, and a second key's view. It prints what it saw as one JSON object; TestNodeSDK
// checks it.
import fs from "node:fs";
import OpenAI from "openai";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const baseURL = env("LLMQ_BASE_URL") + "/v1";
const client = new OpenAI({ baseURL, apiKey: env("LLMQ_KEY_A"), maxRetries: 0, timeout: 30_000 });
const other = new OpenAI({ baseURL, apiKey: env("LLMQ_KEY_B"), maxRetries: 0, timeout: 30_000 });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function poll(id, statuses, seconds = 60) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const b = await client.batches.retrieve(id);
    if (statuses.includes(b.status)) return b;
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${b.status}`);
    await sleep(100);
  }
}

async function lines(fileId) {
  const res = await client.files.content(fileId);
  return (await res.text()).split("\n").filter((l) => l).map((l) => JSON.parse(l));
}

async function statusOf(p) {
  try {
    await p;
    return 200;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e.status;
    throw e;
  }
}

const out = {};
const file = await client.files.create({ file: fs.createReadStream(env("LLMQ_INPUT")), purpose: "batch" });
out.file = { id: file.id, purpose: file.purpose, bytes: file.bytes };
let batch = await client.batches.create({
  input_file_id: file.id, endpoint: "/v1/embeddings", completion_window: "24h", metadata: { sdk: "node" },
});
out.created = batch.status;
batch = await poll(batch.id, ["completed", "failed", "expired", "cancelled"]);
out.batch = { id: batch.id, status: batch.status, counts: batch.request_counts, metadata: batch.metadata };
const results = await lines(batch.output_file_id);
out.output = results.map((l) => l.custom_id);
out.firstVector = results[0].response.body.data[0].embedding;
out.errors = (await lines(batch.error_file_id)).map((l) => [l.custom_id, l.response.status_code]);

const chatFile = await client.files.create({ file: fs.createReadStream(env("LLMQ_CHAT_INPUT")), purpose: "batch" });
let chat = await client.batches.create({ input_file_id: chatFile.id, endpoint: "/v1/chat/completions", completion_window: "1h" });
chat = await poll(chat.id, ["completed", "failed", "expired", "cancelled"]);
out.chat = {
  status: chat.status, counts: chat.request_counts, usage: chat.usage,
  answers: (await lines(chat.output_file_id)).map((l) => [l.custom_id, l.response.body.choices[0].message.content]),
};

const slow = await client.files.create({ file: fs.createReadStream(env("LLMQ_SLOW_INPUT")), purpose: "batch" });
let cb = await client.batches.create({ input_file_id: slow.id, endpoint: "/v1/embeddings", completion_window: "24h" });
await poll(cb.id, ["in_progress"]);
await sleep(300);
cb = await client.batches.cancel(cb.id);
out.cancelStatus = cb.status;
cb = await poll(cb.id, ["cancelled"]);
const cancelled = (await lines(cb.error_file_id)).filter((l) => l.error && l.error.code === "batch_cancelled");
out.cancel = { status: cb.status, counts: cb.request_counts, cancelledLines: cancelled.length };

out.list = [];
for await (const b of client.batches.list({ limit: 1 })) out.list.push(b.id);
out.files = [];
for await (const f of client.files.list({ limit: 2 })) out.files.push(f.id);

out.isolation = {
  get: await statusOf(other.batches.retrieve(batch.id)),
  content: await statusOf(other.files.content(batch.output_file_id)),
  cancel: await statusOf(other.batches.cancel(cb.id)),
  list: (await other.batches.list()).data.length,
  badKey: await statusOf(new OpenAI({ baseURL, apiKey: "sk-not-a-key-of-this-server", maxRetries: 0 }).batches.list()),
};
console.log(JSON.stringify(out));
