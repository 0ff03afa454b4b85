// `r1 serve` driven by the official `openai` npm client, with a tiny random-weight model:
//
//   node tests/npm/test_server_openai.mjs PATH_TO_R1
//
// models.list; chat completions whole and streamed (reasoning_content read from the message and
// from the deltas; at temperature 0 the concatenated stream equals the whole answer; usage with
// reasoning tokens); text completions; a tool round trip (tools offered, then the assistant's
// tool call and the tool's result sent back in the history); the client's typed errors for a
// wrong key (401), a bad parameter (400) and a full queue (429); 50 streaming clients that
// disconnect mid-generation, a fifth of them non-streaming (the slots and queue empty within a second, memory back near its
// baseline); and SIGTERM (exit status 0). Exits non-zero on any failure.
import OpenAI from "openai";
import fs from "node:fs";
import { makeTestModel, metric, startServer } from "./server_util.mjs";

const r1 = process.argv[2];
if (!r1) {
  console.error("usage: node test_server_openai.mjs PATH_TO_R1");
  process.exit(2);
}
let failures = 0;
const check = (ok, msg) => {
  if (!ok) {
    failures++;
    console.error("FAIL: " + msg);
  }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const KEY = "npm-test-key-123456";
const { dir, model } = makeTestModel(r1);
const server = await startServer(r1, model, [
  "--api-key", KEY, "--parallel", "8", "--queue", "64", "-c", "1024", "--temp", "0",
  "--model-name", "tiny-r1",
]);
const client = new OpenAI({ baseURL: server.baseURL + "/v1", apiKey: KEY, maxRetries: 0, timeout: 60000 });
const rss = () => {
  const m = fs.readFileSync(`/proc/${server.proc.pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) * 1024 : NaN;
};
const metrics = async () => (await fetch(server.baseURL + "/metrics", { headers: { Authorization: "Bearer " + KEY } })).text();

try {
  // Models.
  const models = await client.models.list();
  check(models.data.length === 1 && models.data[0].id === "tiny-r1", "models.list: " + JSON.stringify(models.data));

  // Whole and streamed chat at temperature 0.
  const params = {
    model: "tiny-r1",
    messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "What is 2 + 2?" }],
    max_tokens: 40,
    temperature: 0,
  };
  const whole = await client.chat.completions.create(params);
  const msg = whole.choices[0].message;
  check(typeof msg.content === "string", "message.content is a string");
  check(typeof msg.reasoning_content === "string", "message.reasoning_content is a string");
  check(whole.usage.completion_tokens > 0 && whole.usage.prompt_tokens > 0, "usage counts");
  check(Number.isInteger(whole.usage.completion_tokens_details?.reasoning_tokens), "usage.reasoning_tokens");
  check(["stop", "length"].includes(whole.choices[0].finish_reason), "finish_reason " + whole.choices[0].finish_reason);

  const stream = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  let reasoning = "", content = "", finish = null, usage = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    if (c.delta.reasoning_content) reasoning += c.delta.reasoning_content;
    if (c.delta.content) content += c.delta.content;
    if (c.finish_reason) finish = c.finish_reason;
  }
  check(chunks > 2, "several chunks");
  check(reasoning === (msg.reasoning_content ?? ""), "streamed reasoning == whole reasoning");
  check(content === (msg.content ?? ""), "streamed content == whole content");
  check(finish === whole.choices[0].finish_reason, "same finish_reason");
  check(usage && usage.completion_tokens === whole.usage.completion_tokens, "same usage");

  // Text completions.
  const comp = await client.completions.create({ model: "tiny-r1", prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
  check(typeof comp.choices[0].text === "string" && comp.usage.completion_tokens <= 8, "completions");
  let ctext = "";
  for await (const c of await client.completions.create({ model: "tiny-r1", prompt: "Once upon a time", max_tokens: 8, temperature: 0, stream: true }))
    ctext += c.choices[0]?.text ?? "";
  check(ctext === comp.choices[0].text, "streamed completion == whole completion");

  // Tools, a real round trip: tool_choice "required" makes the (random) model call get_weather
  // (constrained decoding), the call goes back with the tool's result, and the model answers.
  const tools = [{
    type: "function",
    function: { name: "get_weather", description: "Weather in a city",
      parameters: { type: "object", properties: { city: { enum: ["Paris", "Rome"] }, unit: { enum: ["c", "f"] } }, required: ["city", "unit"] } },
  }];
  const ask = [{ role: "user", content: "Weather in Paris?" }];
  // The random model fills JSON's whitespace gaps up to the grammar's bound (16 bytes each, e.g.
  // 446 tokens for this call with today's kernels), so the budget leaves room for that.
  const forced = { model: "tiny-r1", messages: ask, tools, tool_choice: "required", max_tokens: 800, think_budget: 8, temperature: 0 };
  const t1 = await client.chat.completions.create(forced);
  const m1 = t1.choices[0].message;
  check(t1.choices[0].finish_reason === "tool_calls", "forced call: finish_reason " + t1.choices[0].finish_reason);
  check(m1.content === null, "forced call: content null, got " + JSON.stringify(m1.content));
  check(typeof m1.reasoning_content === "string" && m1.reasoning_content.length > 0, "forced call: reasoning first");
  check(m1.tool_calls?.length >= 1 && m1.tool_calls[0].type === "function" && m1.tool_calls[0].function.name === "get_weather", "forced call: get_weather");
  const args = JSON.parse(m1.tool_calls[0].function.arguments);
  check(["Paris", "Rome"].includes(args.city) && ["c", "f"].includes(args.unit), "forced call: arguments from the schema " + m1.tool_calls[0].function.arguments);
  // The same call streamed (a named function this time), reassembled from the deltas.
  const calls = [];
  let sfinish = null;
  for await (const c of await client.chat.completions.create({ ...forced, tool_choice: { type: "function", function: { name: "get_weather" } }, stream: true })) {
    const ch = c.choices[0];
    if (!ch) continue;
    if (ch.finish_reason) sfinish = ch.finish_reason;
    for (const d of ch.delta?.tool_calls ?? []) {
      calls[d.index] ??= { name: "", arguments: "" };
      if (d.function?.name) calls[d.index].name += d.function.name;
      if (d.function?.arguments) calls[d.index].arguments += d.function.arguments;
    }
  }
  check(sfinish === "tool_calls" && calls.length === 1, "streamed forced call: " + sfinish + " " + calls.length);
  check(calls[0]?.name === "get_weather" && calls[0]?.arguments === m1.tool_calls[0].function.arguments, "streamed call == whole call");
  const t2 = await client.chat.completions.create({
    model: "tiny-r1",
    tools,
    max_tokens: 16,
    messages: [
      ...ask,
      { role: "assistant", content: null, reasoning_content: m1.reasoning_content, tool_calls: [m1.tool_calls[0]] },
      { role: "tool", tool_call_id: m1.tool_calls[0].id, content: '{"temp_c": 21}' },
    ],
  });
  check(typeof t2.choices[0].message.content === "string", "tools: answer after the tool result");
  // JSON answers from a schema.
  const j1 = await client.chat.completions.create({
    model: "tiny-r1", messages: [{ role: "user", content: "2+2? Answer in JSON." }], max_tokens: 200, think_budget: 4, temperature: 0.7, seed: 3,
    response_format: { type: "json_schema", json_schema: { name: "sum", strict: true,
      schema: { type: "object", properties: { answer: { type: "integer" }, sure: { type: "boolean" } }, required: ["answer", "sure"], additionalProperties: false } } },
  });
  const jv = JSON.parse(j1.choices[0].message.content);
  check(Number.isInteger(jv.answer) && typeof jv.sure === "boolean", "json_schema answer " + j1.choices[0].message.content);
  let t3 = "";
  for await (const c of await client.chat.completions.create({ model: "tiny-r1", messages: [{ role: "user", content: "Weather?" }], tools, max_tokens: 8, stream: true }))
    t3 += c.choices[0]?.delta?.content ?? "";
  check(typeof t3 === "string", "tools: streamed");

  // Typed errors.
  const expectError = async (fn, Type, status, what) => {
    try {
      await fn();
      check(false, what + ": no error");
    } catch (e) {
      check(e instanceof Type && e.status === status, `${what}: ${e.constructor.name} ${e.status} ${e.message}`);
      return e;
    }
  };
  const bad = new OpenAI({ baseURL: server.baseURL + "/v1", apiKey: "wrong-key-0000", maxRetries: 0 });
  await expectError(() => bad.models.list(), OpenAI.AuthenticationError, 401, "wrong key");
  const e400 = await expectError(() => client.chat.completions.create({ ...params, temperature: 7 }), OpenAI.BadRequestError, 400, "temperature 7");
  check(e400?.param === "temperature", "400 names the field: " + e400?.param);

  // 50 clients (40 streaming, 10 waiting for a whole answer) drop mid-generation, twice: the second round measures against the
  // memory after the first (allocator arenas and thread stacks are warm by then).
  const dropRound = async () => {
    const controllers = [];
    const started = [];
    const reading = [];
    for (let i = 0; i < 50; i++) {
      const ac = new AbortController();
      controllers.push(ac);
      let onFirst;
      started.push(new Promise((res) => (onFirst = res)));
      reading.push((async () => {
        try {
          const stream = i % 5 !== 4; // every fifth waits for a whole answer instead
          const body = { model: "tiny-r1", messages: [{ role: "user", content: "Tell me a long story " + i }], max_tokens: 900, ignore_eos: true, stream };
          if (!stream) {
            onFirst();
            await client.chat.completions.create(body, { signal: ac.signal });
            return;
          }
          const s = await client.chat.completions.create(body, { signal: ac.signal });
          for await (const _ of s) onFirst(); // reads on until the abort
        } catch (e) {
          if (!(e instanceof OpenAI.APIUserAbortError) && e.name !== "AbortError") throw e;
        } finally {
          onFirst();
        }
      })());
    }
    await Promise.all(started);
    const first = await Promise.race([Promise.allSettled(reading), sleep(50).then(() => [])]);
    check(first.every((r) => r.status === "fulfilled"), "all 50 streams started: " + JSON.stringify(first.filter((r) => r.status !== "fulfilled").map((r) => String(r.reason)).slice(0, 3)));
    await sleep(100);
    const busyBefore = metric(await metrics(), "r1_busy_slots");
    check(busyBefore > 0, "slots busy before the disconnect: " + busyBefore);
    const t0 = Date.now();
    for (const ac of controllers) ac.abort();
    const ended = await Promise.allSettled(reading);
    check(ended.every((r) => r.status === "fulfilled"), "clients ended cleanly: " + JSON.stringify(ended.filter((r) => r.status !== "fulfilled").map((r) => String(r.reason)).slice(0, 3)));
    let busy = NaN, queued = NaN;
    while (Date.now() - t0 < 3000) {
      const m = await metrics();
      busy = metric(m, "r1_busy_slots");
      queued = metric(m, "r1_queue_length");
      if (busy === 0 && queued === 0) break;
      await sleep(10);
    }
    const freedMs = Date.now() - t0;
    check(busy === 0 && queued === 0, `busy ${busy} queued ${queued} after the disconnects`);
    check(freedMs < 1000, `slots freed in ${freedMs} ms (limit 1000)`);
    await sleep(300);
    return freedMs;
  };
  const rss0 = rss();
  await dropRound();
  await dropRound();
  const baseline = rss();
  const freedMs = await dropRound();
  const after = rss();
  check(after <= baseline * 1.2 + 16 * 1024 * 1024, `memory back near baseline: ${baseline} -> ${after} bytes`);
  console.log(`disconnect: 50 clients, slots free after ${freedMs} ms; RSS ${(rss0 / 1e6).toFixed(1)} MB at start, ${(baseline / 1e6).toFixed(1)} MB after two rounds, ${(after / 1e6).toFixed(1)} MB after a third`);

  // A full queue: 429 (the client's RateLimitError), fast.
  const small = await startServer(r1, model, ["--api-key", KEY, "--parallel", "1", "--queue", "0", "-c", "1024"]);
  const sc = new OpenAI({ baseURL: small.baseURL + "/v1", apiKey: KEY, maxRetries: 0 });
  const ac = new AbortController();
  const longOne = sc.chat.completions.create({ model: "x", messages: [{ role: "user", content: "hi" }], max_tokens: 1000, ignore_eos: true, stream: true }, { signal: ac.signal });
  const s1 = await longOne;
  const it = s1[Symbol.asyncIterator]();
  await it.next();
  const q0 = Date.now();
  await expectError(() => sc.chat.completions.create({ model: "x", messages: [{ role: "user", content: "hi" }], max_tokens: 4 }), OpenAI.RateLimitError, 429, "full queue");
  const qms = Date.now() - q0;
  check(qms < 200, `429 in ${qms} ms`);
  ac.abort();
  check((await small.stop()) === 0, "small server exits 0 on SIGTERM");
} catch (e) {
  failures++;
  console.error("FAIL: exception " + (e.stack || e));
}
const code = await server.stop();
check(code === 0, "server exits 0 on SIGTERM, got " + code + "\n" + server.log());
fs.rmSync(dir, { recursive: true, force: true });
if (failures) {
  console.error(`${failures} failure(s)`);
  process.exit(1);
}
console.log("server + openai client: all checks passed");
