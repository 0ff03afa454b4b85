// Deterministic multilingual corpus for the tokenizer comparisons (test_tokenizer_reference.mjs)
// and the speed benchmark (bench_tokenizer.mjs). Strings are JavaScript strings: some hold lone
// surrogates; "bytes" entries are raw byte strings that need not be valid UTF-8.
//
// Only characters assigned before Unicode 14 are used, so the engine's PCRE2 tables and the
// JavaScript engine's agree on their properties.

export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ENGLISH = [
  "The quick brown fox jumps over the lazy dog.",
  "Hello world", " Hello world", "Hello World", " Hello World!", "Hello, world!",
  "I've been waiting for you. You're late, aren't you? We'll see; they'd know.",
  "IT'S SHOUTING TIME, ISN'T IT? I'M SURE WE'LL MANAGE, WE'VE DONE IT BEFORE.",
  "Mr. O'Neil's co-operative e-mail (re: the 3rd quarter) was well-received...",
  "Please reason step by step, and put your final answer within \\boxed{}.",
  "What is 2+2? Let me think about this carefully before answering.",
  "Wait, that doesn't seem right. Let me re-check: 17 * 23 = 391.",
  "A 'quoted' word, a \"double-quoted\" one, and `backticks` too.",
  "e.g. i.e. etc. vs. U.S.A. Ph.D. 3.14159 -42 +7 1,000,000 $19.99 50% #1 @user",
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
  "Don't stop believing; hold on to that feeling!!!",
];
const WORDS = ("the of and to in is that for it as was with be by on not he this are or his from at " +
  "which but have an they you were her all she there would their we him been has when who will more no " +
  "if out so said what up its about into than them can only other new some could time these two may then " +
  "do first any my now such like our over man me even most made after also did many before must through " +
  "reasoning model token inference quantization attention transformer gradient tensor kernel matrix").split(" ");
const CHINESE = [
  "你好，世界！", "我们今天去公园散步吧。", "深度求索发布了新的推理模型，性能非常出色。",
  "机器学习是人工智能的一个分支。", "请一步一步地推理，并把最终答案放在方框内。",
  "中华人民共和国成立于一九四九年。", "他说：“这是一个测试。”", "繁體中文也要測試一下，例如：臺灣、香港。",
];
const JAPANESE = [
  "こんにちは、世界！", "今日はいい天気ですね。", "カタカナとひらがなと漢字を混ぜた文章です。",
  "東京タワーに行きたいです。", "ありがとうございます。", "コンピューターサイエンスを勉強しています。",
  "ｶﾀｶﾅ（半角）も試す。", "ー・ヽヾゝゞ〃々〆〇",
];
const KOREAN = ["안녕하세요, 세계!", "오늘 날씨가 좋네요.", "인공지능 모델을 학습시키고 있습니다.", "한국어 토크나이저 테스트입니다."];
const ARABIC = ["مرحبا بالعالم", "الذكاء الاصطناعي يغير العالم.", "السلام عليكم ورحمة الله", "١٢٣٤٥٦٧٨٩٠ أرقام عربية"];
const HINDI = ["नमस्ते दुनिया", "कृत्रिम बुद्धिमत्ता भविष्य है।", "मैं हिंदी बोलता हूँ।", "१२३४५ संख्या"];
const CYRILLIC = ["Привет, мир!", "Съешь же ещё этих мягких французских булок, да выпей чаю.", "Україна, Беларусь, Србија", "ЁЛКА ёлка"];
const OTHER = [
  "Γειά σου Κόσμε! αβγδε ΑΒΓΔΕ", "שלום עולם", "สวัสดีชาวโลก", "Xin chào thế giới, Tiếng Việt có dấu.",
  "Ärger über Öl, süße Grüße, Straße", "français: déjà vu, naïve, œuvre, Noël", "español: ¿Qué tal? ¡Olé! año",
  "ខ្មែរ ភាសា", "ქართული ენა", "Հայերեն", "አማርኛ", "Türkçe ığüşöç İI", "polski: zażółć gęślą jaźń",
  "ℕ ℤ ℚ ℝ ℂ ∀x∈ℝ: x²≥0 ∑∫∂√∞ ≠ ≤ ≥ → ⇒ ⟨ψ|φ⟩", "①②③ ⅠⅡⅢ ½ ¾ ² ³ µ Ω K Å",
  "─│┌┐└┘├┤┬┴┼ ░▒▓█", "™ © ® § ¶ † ‡ • … ‰ ′ ″ ‹ › « » ¡ ¿", "ｆｕｌｌｗｉｄｔｈ　ＡＢＣ　１２３！？",
];
const EMOJI = [
  "😀", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸🇯🇵🇨🇳", "❤️", "✋🏿", "🧑🏻‍🤝‍🧑🏾", "🤖 robots 🚀 rockets",
  "I love it 😍😍😍!!!", "👋 hi", "🔥🔥", "1️⃣ #️⃣ *️⃣", "🦙 llama", "🐳 whale", "☕️ coffee",
];
const CODE = [
  "int main(int argc, char** argv) {\n    printf(\"Hello, world!\\n\");\n    return 0;\n}\n",
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "const x = arr.map((v, i) => v * 2).filter(Boolean); // comment\n",
  "for (size_t i = 0; i < n; ++i) { sum += a[i] * b[i]; }\n",
  "{\"name\": \"r1\", \"version\": \"0.1.0\", \"tags\": [\"a\", \"b\"], \"n\": 12345}\n",
  "#!/usr/bin/env bash\nset -euo pipefail\ncd \"$(dirname \"$0\")/..\" && make -j$(nproc)\n",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name DESC LIMIT 10;",
  "<div class=\"container\"><p>Hello &amp; welcome</p></div>",
  "template <typename T>\nstd::vector<T> f(const std::vector<T>& v) { return {v.rbegin(), v.rend()}; }\n",
  "fn main() {\n\tlet v: Vec<i32> = (0..10).collect();\n\tprintln!(\"{:?}\", v);\n}\n",
  "x = 0x1F; y = 0b1010; z = 1e-9; w = 3.0f; s = 'c'; t = \"\\t\\r\\n\";",
  "    indented with spaces\n\tindented with a tab\n        \n",
  "a += b; a -= b; a *= b; a /= b; a %= b; a <<= 2; a >>= 2; a &&= b; a ||= c; a ??= d;",
  "https://example.com/path?query=1&other=two#frag user@example.org C:\\Users\\me\\file.txt",
];
const SPECIAL = [
  "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<think>", "</think>",
  "<｜tool▁calls▁begin｜>", "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>",
  "<｜tool▁calls▁end｜>", "<｜tool▁outputs▁begin｜>", "<｜tool▁output▁begin｜>", "<｜tool▁output▁end｜>",
  "<｜tool▁outputs▁end｜>", "<|EOT|>", "<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>", "<｜▁pad▁｜>",
  "<｜place▁holder▁no▁5｜>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>", "</tool_call>",
  "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>",
  "<|reserved_special_token_5|>", "<|fim_prefix|>", "<|vision_start|>",
  // near misses
  "<｜User", "｜User｜>", "<think", "think>", "</think", "<<think>>", "<|im_start", "<|EOT||>", "< think >",
];
const WHITESPACE_CHARS = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u00A0", "\u3000", "\u2028", "\u2029", "\u0085",
  "\uFEFF", "\u180E", "\u200B", "\u2009", "\u202F", "\u205F", "\u000B", "\u000C", "\u001C", "\u001F"];
// NFD / non-canonical sequences (Qwen2 normalizes to NFC).
const COMBINING = [
  "e\u0301", "a\u0308", "Cafe\u0301 na\u0131\u0308ve", "o\u0302\u0323", "o\u0323\u0302", "A\u030A", "\u212B",
  "\u1100\u1161\u11A8", "\u1112\u1161\u11AB\u1100\u1173\u11AF", "n\u0303o\u0303", "Vie\u0323\u0302t Nam",
  "\u0915\u093C", "\u0041\u0300\u0316", "\u0041\u0316\u0300", "x\u0301\u0301\u0301\u0301", "\u0301start",
  "\u00C5\u0301", "\u1E9B\u0323", "\u0627\u0653", "\u09C7\u09BE", "\u0B47\u0B3E", "\u304B\u3099", "\u30CF\u309A",
];

const BLOCKS = [
  [0x20, 0x7e], [0xa0, 0xff], [0x100, 0x17f], [0x180, 0x24f], [0x370, 0x3ff], [0x400, 0x4ff],
  [0x5d0, 0x5ea], [0x620, 0x64a], [0x660, 0x669], [0x900, 0x97f], [0xe01, 0xe3a], [0x1100, 0x1112],
  [0x1e00, 0x1eff], [0x2000, 0x206f], [0x2070, 0x209c], [0x20a0, 0x20bf], [0x2100, 0x214f],
  [0x2190, 0x21ff], [0x2200, 0x22ff], [0x2500, 0x257f], [0x2600, 0x26ff], [0x3000, 0x303f],
  [0x3041, 0x3096], [0x30a0, 0x30ff], [0x4e00, 0x9fa5], [0xac00, 0xd7a3], [0xff01, 0xff9f],
  [0x1f300, 0x1f5ff], [0x1f600, 0x1f64f], [0x1f900, 0x1f9ff], [0x0300, 0x036f], [0x1d400, 0x1d7ff],
];

function pick(r, a) {
  return a[Math.floor(r() * a.length)];
}

function randomChars(r, n) {
  let s = "";
  for (let i = 0; i < n; ++i) {
    const [lo, hi] = pick(r, BLOCKS);
    s += String.fromCodePoint(lo + Math.floor(r() * (hi - lo + 1)));
  }
  return s;
}

function randomDigits(r, n) {
  let s = "";
  for (let i = 0; i < n; ++i) s += String(Math.floor(r() * 10));
  return s;
}

function randomWords(r, n) {
  const w = [];
  for (let i = 0; i < n; ++i) {
    let x = pick(r, WORDS);
    if (r() < 0.1) x = x[0].toUpperCase() + x.slice(1);
    if (r() < 0.05) x = x.toUpperCase();
    w.push(x);
  }
  return w.join(" ");
}

function randomWhitespace(r, n) {
  let s = "";
  for (let i = 0; i < n; ++i) s += pick(r, WHITESPACE_CHARS);
  return s;
}

const POOLS = [ENGLISH, CHINESE, JAPANESE, KOREAN, ARABIC, HINDI, CYRILLIC, OTHER, EMOJI, CODE, SPECIAL, COMBINING];

function fragment(r) {
  const k = r();
  if (k < 0.45) return pick(r, pick(r, POOLS));
  if (k < 0.6) return randomWords(r, 1 + Math.floor(r() * 8));
  if (k < 0.7) return randomDigits(r, 1 + Math.floor(r() * 12));
  if (k < 0.82) return randomWhitespace(r, 1 + Math.floor(r() * 4));
  return randomChars(r, 1 + Math.floor(r() * 10));
}

// Returns [{text}] and [{bytes: Uint8Array}] entries; `text` may contain lone surrogates.
export function makeCorpus(seed = 20250101) {
  const r = rng(seed);
  const out = [];
  const add = (text) => out.push({ text });
  for (const pool of POOLS) for (const s of pool) add(s);
  // Digit runs of every length, bare and in context.
  for (let n = 1; n <= 40; ++n) {
    const d = randomDigits(r, n);
    add(d);
    add("x" + d + "y");
    add(" " + d + " ");
    add("3".repeat(n));
    add("价格" + d + "元");
  }
  add("1,234,567.89 and 0.000001 and 1e10 and ９９９ and ١٢٣ and ①②");
  // White-space runs.
  for (const c of [" ", "\t", "\n", "\r\n", "\r", "\u00A0", "\u3000"]) {
    for (const n of [1, 2, 3, 4, 7, 8, 15, 16, 33, 100]) {
      add(c.repeat(n));
      add("a" + c.repeat(n) + "b");
      add(c.repeat(n) + "word");
      add("word" + c.repeat(n));
    }
  }
  for (let i = 0; i < 60; ++i) add(randomWhitespace(r, 1 + Math.floor(r() * 12)) + randomWords(r, 2) + randomWhitespace(r, 1 + Math.floor(r() * 6)));
  // Special-token strings in text.
  for (const sp of SPECIAL) {
    add(sp);
    add("Hello" + sp + "world");
    add(" " + sp + " ");
    add(sp + sp);
    add("a\n" + sp + "\nb");
  }
  add("<｜begin▁of▁sentence｜><｜User｜>What is 1+1?<｜Assistant｜><think>\nOkay, 1+1=2.\n</think>\n\nThe answer is 2.<｜end▁of▁sentence｜>");
  add("<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  add("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
  // Lone surrogates (JavaScript strings).
  for (const s of ["\uD800", "\uDFFF", "a\uD83Db", "\uDE00x", "x\uD83D", "\uD83D\uD83D", "\uDC00\uD800",
                   "abc \uD800 def", "\uD800\u0301", "日本\uDBFF語", "1\uD8002", "\uD800\uD800\uDC00"])
    add(s);
  // Invalid UTF-8 byte strings.
  const bytes = (...xs) => out.push({ bytes: Uint8Array.from(xs) });
  bytes(0xff);
  bytes(0x61, 0x80, 0x62);
  bytes(0xc3);
  bytes(0x61, 0xc3);
  bytes(0xe4, 0xbd);
  bytes(0xe4, 0xbd, 0x61);
  bytes(0xf0, 0x9f, 0x98);
  bytes(0xf0, 0x9f, 0x98, 0x20, 0x41);
  bytes(0xc0, 0xaf);
  bytes(0xe0, 0x80, 0xaf);
  bytes(0xed, 0xa0, 0x80, 0x41);
  bytes(0xf4, 0x90, 0x80, 0x80);
  bytes(0xf5, 0x61, 0xfe, 0xfd);
  bytes(0x48, 0x69, 0x20, 0xc3, 0x28, 0x20, 0xa0, 0xa1);
  bytes(0x31, 0x32, 0x33, 0xe2, 0x82, 0x34, 0x35);
  bytes(0xe3, 0x81, 0x82, 0xe3, 0x81, 0xe3, 0x81, 0x84);
  bytes(0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80);  // U+1F600 as a CESU-8 surrogate pair
  bytes(0x61, 0xed, 0xa0, 0x80, 0xed, 0xa0, 0x80, 0x62);
  bytes(0xed, 0xb0, 0x80, 0xed, 0xa0, 0x80);
  bytes(0xed, 0x9f, 0xbf, 0xed, 0xa0);
  for (let i = 0; i < 40; ++i) {
    const enc = new TextEncoder().encode(fragment(r) + fragment(r));
    const b = Array.from(enc);
    const k = 1 + Math.floor(r() * 3);
    for (let j = 0; j < k; ++j) {
      const pos = Math.floor(r() * (b.length + 1));
      const op = r();
      if (op < 0.4 && b.length) b.splice(Math.min(pos, b.length - 1), 1);
      else if (op < 0.8) b.splice(pos, 0, 0x80 + Math.floor(r() * 0x80));
      else b.splice(pos, 0, pick(r, [0xc0, 0xc1, 0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff]));
    }
    bytes(...b);
  }
  // Random mixtures, short and long.
  while (out.length < 2300) {
    const n = r() < 0.9 ? 1 + Math.floor(r() * 6) : 10 + Math.floor(r() * 60);
    let s = "";
    for (let i = 0; i < n; ++i) s += fragment(r);
    add(s);
  }
  // Long pieces (BPE heap path, regex on long runs).
  add("a".repeat(300));
  add("ab".repeat(200));
  add(" ".repeat(500) + "x");
  add("-".repeat(250) + "=".repeat(250));
  add("z" + "\u0301".repeat(120));
  add(randomDigits(r, 1000));
  add("Supercalifragilisticexpialidocious".repeat(12));
  add("漢字".repeat(150));
  add("😀".repeat(100));
  add(Array.from({ length: 400 }, () => pick(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")).join(""));
  return out;
}

// A long mixed multilingual text for the speed benchmark (valid UTF-8, no special tokens).
export function benchText(targetBytes = 1 << 20, seed = 7) {
  const r = rng(seed);
  const pools = [ENGLISH, ENGLISH, ENGLISH, CHINESE, JAPANESE, KOREAN, ARABIC, HINDI, CYRILLIC, OTHER, EMOJI, CODE, CODE];
  const parts = [];
  let bytes = 0;
  const enc = new TextEncoder();
  while (bytes < targetBytes) {
    let s;
    const k = r();
    if (k < 0.5) s = pick(r, pick(r, pools));
    else if (k < 0.8) s = randomWords(r, 5 + Math.floor(r() * 20)) + ".";
    else if (k < 0.9) s = randomDigits(r, 1 + Math.floor(r() * 8));
    else s = pick(r, ["\n", "\n\n", "  ", "\t"]);
    s += pick(r, [" ", " ", "\n", ""]);
    parts.push(s);
    bytes += enc.encode(s).length;
  }
  return parts.join("");
}

// WTF-8: UTF-8 in which a lone surrogate is written as its own 3-byte sequence.
export function wtf8(s) {
  const out = [];
  for (let i = 0; i < s.length; ++i) {
    let c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        ++i;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

// The JavaScript string r1 reads raw bytes as: well-formed UTF-8 as usual, every 3-byte encoded
// surrogate (ED A0..BF 80..BF, as WTF-8 writes one) as that UTF-16 code unit (so a high and a
// low one written separately pair up), and the other invalid bytes as TextDecoder replaces them.
export function bytesToJsString(u8) {
  const dec = new TextDecoder("utf-8");
  let s = "";
  let start = 0;
  for (let i = 0; i + 2 < u8.length; ++i) {
    if (u8[i] === 0xed && u8[i + 1] >= 0xa0 && u8[i + 1] <= 0xbf && u8[i + 2] >= 0x80 && u8[i + 2] <= 0xbf) {
      s += dec.decode(u8.subarray(start, i));
      s += String.fromCharCode(0xd000 | ((u8[i + 1] & 0x3f) << 6) | (u8[i + 2] & 0x3f));
      i += 2;
      start = i + 1;
    }
  }
  return s + dec.decode(u8.subarray(start));
}
