// Load test for `r1 serve` (not run in CI): concurrent streaming clients on loopback against a
// server with N slots and a bounded queue. Bounded and self-stopping: each client makes a fixed
// number of requests; a 429 is counted (with its latency) and retried after Retry-After (with
// jitter, as the official clients do), or after --retry-ms for a retry storm. Prints time-to-first-token and per-stream tokens/s percentiles, the
// aggregate throughput against a single stream, and the number of lost requests and 5xx
// answers (both must be zero; the exit status says so).
//
//   node bench/load_server.mjs R1_BINARY [MODEL] [--clients 64] [--parallel 8] [--queue 16]
//        [--requests 2] [--max-tokens 128] [--ctx 1024] [--retry-ms N (default: Retry-After)]
//        [--probe-ms 25 (0: no overload probe)] [-- more r1 serve flags]
//
// Without MODEL it makes a tiny random-weight test model.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const argv = process.argv.slice(2);
const opt = { clients: 64, parallel: 8, queue: 16, requests: 2, "max-tokens": 128, ctx: 1024, "retry-ms": -1, "probe-ms": 25 };
const pos = [];
const dd = argv.indexOf("--");
const serveExtra = dd >= 0 ? argv.splice(dd).slice(1) : [];  // after "--": more `r1 serve` flags
for (let i = 0; i < argv.length; i++) {
  if (argv[i].startsWith("--")) opt[argv[i].slice(2)] = Number(argv[++i]);
  else pos.push(argv[i]);
}
const [r1, modelArg] = pos;
if (!r1) {
  console.error("usage: node bench/load_server.mjs R1_BINARY [MODEL] [--clients N] [--parallel N] [--queue N]");
  process.exit(2);
}
let model = modelArg, tmp = null;
if (!model) {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "r1-load-"));
  model = path.join(tmp, "tiny.gguf");
  const r = spawnSync(r1, ["make-test-model", "-q", "--arch", "deepseek_v3", "--type", "Q8_0", model]);
  if (r.status !== 0) throw new Error("make-test-model failed");
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

const proc = spawn(r1, ["serve", model, "--port", "0", "--parallel", String(opt.parallel), "--queue", String(opt.queue),
  "-c", String(opt.ctx), "--http-threads", String(opt.clients + 16), ...serveExtra], { stdio: ["ignore", "ignore", "pipe"] });
let log = "";
const port = await new Promise((res, rej) => {
  const t = setTimeout(() => rej(new Error("no start:\n" + log)), 120000);
  proc.stderr.on("data", (d) => {
    log += d;
    const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
    if (m) {
      clearTimeout(t);
      res(Number(m[1]));
    }
  });
});
const url = `http://127.0.0.1:${port}/v1/chat/completions`;

// One streaming request: { status, ttft, tokens, seconds, done }.
async function stream(i) {
  const t0 = performance.now();
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content: `Question ${i}: tell me a story.` }],
      max_tokens: opt["max-tokens"], ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) {
    await res.text();
    return { status: res.status, ms: performance.now() - t0, retryAfter: Number(res.headers.get("retry-after")) };
  }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "", ttft = null, tokens = 0, done = false, error = null;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    buf += dec.decode(value, { stream: true });
    let k;
    while ((k = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, k);
      buf = buf.slice(k + 2);
      if (!ev.startsWith("data: ")) continue;
      const data = ev.slice(6);
      if (data === "[DONE]") {
        done = true;
        continue;
      }
      const j = JSON.parse(data);
      if (j.error) error = j.error;
      if (j.usage) tokens = j.usage.completion_tokens;
      const d = j.choices?.[0]?.delta;
      if (ttft === null && d && (d.content || d.reasoning_content)) ttft = (performance.now() - t0) / 1000;
    }
  }
  return { status: 200, ttft, tokens, seconds: (performance.now() - t0) / 1000, done, error };
}

// Warm-up, then one stream alone for the single-stream speed.
await stream(-1);
const single = await stream(-2);
const singleTps = (single.tokens - 1) / (single.seconds - single.ttft);

// An overload probe in its own process (its own event loop and heap, idle but for the probe,
// unlike the main loop reading up to 64 streams): one request every --probe-ms while the load
// runs, so the 429 latency it sees is the server's, not the load client's backlog. The server
// checks for overload before it parses a body, so the probe sends one it would refuse (no
// messages): a full server answers 429, one with room a 400, and the probe never takes a place
// in the queue or a slot from the load. It stops when its standard input closes and prints its
// samples as JSON.
const probeCode = `
  const lat = { 429: [], other: [] };
  let stop = false;
  process.stdin.on("data", () => {}).on("end", () => { stop = true; });
  (async () => {
    const url = process.env.PROBE_URL, every = Number(process.env.PROBE_MS);
    // Warm the fetch machinery first (the first fetch loads and compiles the HTTP client).
    await (await fetch(url.replace("/v1/chat/completions", "/health"))).text();
    while (!stop) {
      const t0 = performance.now();
      try {
        const res = await fetch(url, { method: "POST",
          headers: { "Content-Type": "application/json", Connection: "close" },
          body: JSON.stringify({ messages: [], max_tokens: 1 }) });
        await res.text();
        const ms = performance.now() - t0;
        if (res.status === 429) {
          lat[429].push(ms);
          if (ms > 50) console.error("probe: slow 429 (" + ms.toFixed(1) + " ms) at sample " + lat[429].length);
        } else {
          lat.other.push(res.status);
        }
      } catch (e) {}
      await new Promise((r) => setTimeout(r, every));
    }
    process.stdout.write(JSON.stringify(lat));
  })();
`;
const probe = opt["probe-ms"] <= 0 ? null : spawn(process.execPath, ["-e", probeCode], {
  stdio: ["pipe", "pipe", "inherit"], env: { ...process.env, PROBE_URL: url, PROBE_MS: String(opt["probe-ms"]) } });
let probeOut = "";
probe?.stdout.on("data", (d) => { probeOut += d; });
const probeResult = probe ? new Promise((r) => probe.on("exit", () => r(JSON.parse(probeOut)))) : Promise.resolve({ 429: [], other: [] });

const results = [], rejects = [];
let lost = 0, fivexx = 0, gaveUp = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: opt.clients }, async (_, c) => {
  for (let r = 0; r < opt.requests; r++) {
    let served = false;
    for (let attempt = 0; attempt < 1000 && !served; attempt++) {
      let out;
      try {
        out = await stream(c * 1000 + r);
      } catch (e) {
        lost++;
        break;
      }
      if (out.status === 429) {
        rejects.push(out.ms);
        // As the official clients do: wait what Retry-After says (with jitter), or --retry-ms.
        const wait = opt["retry-ms"] >= 0 ? opt["retry-ms"] : (out.retryAfter || 1) * 1000;
        await sleep(wait * (0.5 + Math.random()));
        continue;
      }
      served = true;
      if (out.status >= 500) fivexx++;
      else if (out.status !== 200 || !out.done || out.error) lost++;
      else results.push(out);
    }
    if (!served) gaveUp++;
  }
}));
const wall = (performance.now() - t0) / 1000;
probe?.stdin.end();
const probed = await probeResult;
// (A stream whose tokens never formed printable text has no time to first token.)
const timed = results.filter((r) => r.ttft !== null && r.tokens > 1);
const ttfts = timed.map((r) => r.ttft);
const tps = timed.map((r) => (r.tokens - 1) / (r.seconds - r.ttft));
const total = results.reduce((a, r) => a + r.tokens, 0);
const f = (x, d = 3) => Number(x).toFixed(d);
console.log(`r1 serve load test: ${opt.clients} clients x ${opt.requests} streaming requests, --parallel ${opt.parallel}, queue ${opt.queue}, ${opt["max-tokens"]} tokens each`);
console.log(`completed ${results.length}, lost ${lost}, 5xx ${fivexx}, gave up after 1000 429s ${gaveUp}, 429 answers to the load clients ${rejects.length} (as their busy event loop sees them: p50 ${f(pct(rejects, 50), 1)} ms, p99 ${f(pct(rejects, 99), 1)} ms, max ${f(Math.max(0, ...rejects), 1)} ms)`);
console.log(`overload probe (own process, every ${opt["probe-ms"]} ms): 429 answers ${probed[429].length} (p50 ${f(pct(probed[429], 50), 1)} ms, p90 ${f(pct(probed[429], 90), 1)} ms, p99 ${f(pct(probed[429], 99), 1)} ms, max ${f(Math.max(0, ...probed[429]), 1)} ms), ${probed.other.length} with room (${probed.other.filter((x) => x === 400).length} of them the expected 400)`);
console.log(`time to first token (s): p50 ${f(pct(ttfts, 50))}  p90 ${f(pct(ttfts, 90))}  p99 ${f(pct(ttfts, 99))}`);
console.log(`tokens/s per stream:     p50 ${f(pct(tps, 50), 1)}  p90 ${f(pct(tps, 90), 1)}  p99 ${f(pct(tps, 99), 1)}`);
console.log(`aggregate ${f(total / wall, 1)} tokens/s over ${f(wall, 1)} s; a single stream alone: ${f(singleTps, 1)} tokens/s`);
proc.kill("SIGTERM");
await new Promise((r) => proc.on("exit", r));
if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
process.exit(lost === 0 && fivexx === 0 && gaveUp === 0 && results.length === opt.clients * opt.requests ? 0 : 1);
