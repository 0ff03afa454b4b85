// Side by side: `r1 bench` and llama.cpp (the prebuilt CPU build shipped by the npm package
// node-llama-cpp) on the same GGUF file, same thread count, in one run; prints tokens/s of both
// and the ratio. Install the peer first: bench/peer/setup.sh.
//
//   node bench/compare_peer.mjs build/r1 MODEL.gguf [--threads 2] [--pp 512] [--tg 128]
//        [--reps 3] [--peer amx|noamx]
//
// --peer noamx uses the copy without llama.cpp's AMX library (needed for DeepSeek files, which
// the AMX build aborts on).
import { execFileSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const [r1, model] = args;
if (!r1 || !model) {
  console.error("usage: node bench/compare_peer.mjs R1_BINARY MODEL.gguf [--threads N] [--pp N] [--tg N] [--reps N] [--peer amx|noamx]");
  process.exit(2);
}
const threads = Number(opt("--threads", "2"));
const pp = Number(opt("--pp", "512"));
const tg = Number(opt("--tg", "128"));
const reps = Number(opt("--reps", "3"));
const peer = opt("--peer", "amx");
const here = path.dirname(fileURLToPath(import.meta.url));
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// r1 first (its own process), then the peer in this process.
const r1json = JSON.parse(execFileSync(r1, ["bench", model, "-p", String(pp), "-n", String(tg),
  "-r", String(reps), "-t", String(threads), "--json"], { encoding: "utf8", maxBuffer: 1 << 26 }));
const r1res = Object.fromEntries(r1json.map((r) => [r.test, r]));

const lib = pathToFileURL(path.join(here, "peer", peer, "node_modules", "node-llama-cpp", "dist", "index.js")).href;
const { getLlama } = await import(lib);
const llama = await getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: "error" });
const m = await llama.loadModel({ modelPath: model });
const ctx = await m.createContext({ contextSize: pp + tg + 16, batchSize: pp, threads, sequences: 1 });
const seq = ctx.getSequence();
// Token ids: a fixed pseudo-random sequence over the vocabulary (speed does not depend on them).
const nVocab = m.tokens?.vocabularySize ?? 1000;
let state = 12345;
const ids = (n) => Array.from({ length: n }, () => (state = (state * 1103515245 + 12345) % 2147483648) % Math.max(2, nVocab - 1));
const peerPp = [], peerTg = [];
for (let r = 0; r < reps; ++r) {
  await seq.clearHistory();
  let t0 = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(ids(pp));
  peerPp.push(pp / ((performance.now() - t0) / 1000));
  await seq.clearHistory();
  let n = 0;
  t0 = performance.now();
  for await (const _ of seq.evaluate(ids(1), { temperature: 0 })) if (++n >= tg) break;
  peerTg.push(tg / ((performance.now() - t0) / 1000));
}
await ctx.dispose();
await m.dispose();

const rows = [
  [`pp${pp}`, r1res[`pp${pp}`]?.tokens_per_second, median(peerPp), r1res[`pp${pp}`]?.roofline_fraction],
  [`tg${tg}`, r1res[`tg${tg}`]?.tokens_per_second, median(peerTg), r1res[`tg${tg}`]?.roofline_fraction],
];
console.log(`model ${model}, ${threads} threads, peer: llama.cpp via node-llama-cpp (${peer})`);
console.log("| test | r1 tok/s | r1 roofline | llama.cpp tok/s | r1 / llama.cpp |");
console.log("|---|---:|---:|---:|---:|");
for (const [t, a, b, f] of rows)
  console.log(`| ${t} | ${a?.toFixed(2)} | ${f !== undefined ? (100 * f).toFixed(0) + "%" : "-"} | ${b.toFixed(2)} | ${(a / b).toFixed(2)}x |`);
