#include "tokenizer/unicode.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

namespace r1::tok {
namespace {

struct CccRange {
  uint32_t first, last;
  uint8_t ccc;
};
struct Decomposition {
  uint32_t cp, first, second;  // second == 0: a singleton
};
struct Composition {
  uint32_t first, second, composite;
};
struct CpRange {
  uint32_t first, last;
};

#include "tokenizer/unicode_nfc_data.inc"

constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

// Code points below this have combining class 0, no decomposition and are NFC-stable.
constexpr uint32_t kFirstInteresting = 0x300;

uint8_t combining_class(uint32_t cp) {
  if (cp < kFirstInteresting) return 0;
  auto it = std::upper_bound(std::begin(kCombiningClass), std::end(kCombiningClass), cp,
                             [](uint32_t c, const CccRange& r) { return c < r.first; });
  if (it == std::begin(kCombiningClass)) return 0;
  --it;
  return cp <= it->last ? it->ccc : 0;
}

bool nfc_unsafe(uint32_t cp) {
  if (cp < kFirstInteresting) return false;
  auto it = std::upper_bound(std::begin(kNfcUnsafe), std::end(kNfcUnsafe), cp,
                             [](uint32_t c, const CpRange& r) { return c < r.first; });
  if (it == std::begin(kNfcUnsafe)) return false;
  --it;
  return cp <= it->last;
}

const Decomposition* find_decomposition(uint32_t cp) {
  if (cp < 0xC0) return nullptr;
  auto it = std::lower_bound(std::begin(kDecomposition), std::end(kDecomposition), cp,
                             [](const Decomposition& d, uint32_t c) { return d.cp < c; });
  if (it == std::end(kDecomposition) || it->cp != cp) return nullptr;
  return it;
}

uint32_t find_composition(uint32_t a, uint32_t b) {
  // Hangul LV and LVT.
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  auto it =
      std::lower_bound(std::begin(kComposition), std::end(kComposition), std::pair{a, b},
                       [](const Composition& c, const std::pair<uint32_t, uint32_t>& k) {
                         return c.first < k.first || (c.first == k.first && c.second < k.second);
                       });
  if (it == std::end(kComposition) || it->first != a || it->second != b) return 0;
  return it->composite;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* d = find_decomposition(cp);
  if (d == nullptr) {
    out.push_back(cp);
    return;
  }
  decompose(d->first, out);
  if (d->second != 0) decompose(d->second, out);
}

constexpr std::array<uint32_t, 256> make_byte_to_cp() {
  std::array<uint32_t, 256> t{};
  uint32_t n = 0;
  for (uint32_t b = 0; b < 256; ++b) {
    bool self = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    t[b] = self ? b : 256 + n++;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kByteToCp = make_byte_to_cp();

}  // namespace

Utf8Step utf8_decode(const uint8_t* s, size_t n, bool whole_surrogates) {
  uint8_t b0 = s[0];
  if (b0 < 0x80) return {b0, 1, true, false, false};
  uint32_t need;
  uint8_t lo = 0x80, hi = 0xBF;
  uint32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) {
      if (whole_surrogates && n >= 3 && s[1] >= 0xA0 && s[1] <= 0xBF && s[2] >= 0x80 &&
          s[2] <= 0xBF) {
        uint32_t sur = 0xD000 | (uint32_t(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return {sur, 3, false, true, false};
      }
      hi = 0x9F;
    }
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {kReplacementChar, 1, false, false, false};
  }
  for (uint32_t i = 1; i <= need; ++i) {
    if (i >= n) return {kReplacementChar, i, false, false, true};
    uint8_t c = s[i];
    if (c < lo || c > hi) return {kReplacementChar, i, false, false, false};
    lo = 0x80;
    hi = 0xBF;
    cp = (cp << 6) | (c & 0x3F);
  }
  return {cp, need + 1, true, false, false};
}

size_t utf8_valid_prefix(std::string_view sv) {
  const auto* s = reinterpret_cast<const uint8_t*>(sv.data());
  size_t n = sv.size(), i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    if (s[i] < 0x80) {
      ++i;
      continue;
    }
    Utf8Step st = utf8_decode(s + i, n - i);
    if (!st.valid) return i;
    i += st.len;
  }
  return n;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool nfc_quick_check(std::string_view sv) {
  const auto* s = reinterpret_cast<const uint8_t*>(sv.data());
  size_t n = sv.size(), i = 0;
  while (i < n) {
    // Bytes below 0xCC start code points below U+0300, which are always safe.
    if (s[i] < 0xCC) {
      ++i;
      continue;
    }
    Utf8Step st = utf8_decode(s + i, n - i);
    if (nfc_unsafe(st.cp)) return false;
    i += st.len;
  }
  return true;
}

std::string nfc(std::string_view sv) {
  const auto* s = reinterpret_cast<const uint8_t*>(sv.data());
  size_t n = sv.size();
  std::vector<uint32_t> d;
  d.reserve(n + 8);
  for (size_t i = 0; i < n;) {
    Utf8Step st = utf8_decode(s + i, n - i);
    decompose(st.cp, d);
    i += st.len;
  }
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j, [](uint32_t a, uint32_t b) {
      return combining_class(a) < combining_class(b);
    });
    i = j;
  }
  // Canonical composition.
  std::vector<uint32_t> out;
  out.reserve(d.size());
  long starter = -1;
  uint8_t last_cc = 0;
  for (uint32_t c : d) {
    uint8_t cc = combining_class(c);
    if (starter >= 0) {
      bool adjacent = static_cast<size_t>(starter) + 1 == out.size();
      bool blocked = !adjacent && (last_cc == 0 || last_cc >= cc);
      if (!blocked) {
        uint32_t comp = find_composition(out[static_cast<size_t>(starter)], c);
        if (comp != 0) {
          out[static_cast<size_t>(starter)] = comp;
          continue;
        }
      }
    }
    if (cc == 0) starter = static_cast<long>(out.size());
    last_cc = cc;
    out.push_back(c);
  }
  std::string r;
  r.reserve(n);
  for (uint32_t c : out) utf8_append(r, c);
  return r;
}

bool nfc_if_needed(std::string_view sv, std::string& out) {
  const auto* s = reinterpret_cast<const uint8_t*>(sv.data());
  const size_t n = sv.size();
  // A character with combining class 0 and NFC_Quick_Check=Yes is a boundary: NFC of the text
  // is the concatenation of NFC of the runs between boundaries.
  auto safe_at = [&](size_t i, uint32_t* len) {
    uint8_t b = s[i];
    if (b < 0x80 || (b >= 0xC0 && b < 0xCC)) {  // below U+0300
      *len = b < 0x80 ? 1 : 2;
      return true;
    }
    Utf8Step st = utf8_decode(s + i, n - i);
    *len = st.len;
    return !nfc_unsafe(st.cp);
  };
  size_t copied = 0, boundary = 0;
  bool changed = false;
  for (size_t i = 0; i < n;) {
    if (s[i] < 0x80) {
      boundary = i++;
      continue;
    }
    uint32_t len;
    if (safe_at(i, &len)) {
      boundary = i;
      i += len;
      continue;
    }
    size_t j = i + len;
    while (j < n && !safe_at(j, &len)) j += len;
    if (!changed) {
      out.clear();
      out.reserve(n + 16);
      changed = true;
    }
    out.append(sv.substr(copied, boundary - copied));
    out += nfc(sv.substr(boundary, j - boundary));
    copied = boundary = i = j;
  }
  if (changed) out.append(sv.substr(copied));
  return changed;
}

uint32_t byte_to_cp(uint8_t b) {
  return kByteToCp[b];
}

int cp_to_byte(uint32_t cp) {
  static const std::array<int16_t, 512> table = [] {
    std::array<int16_t, 512> t{};
    t.fill(-1);
    for (int b = 0; b < 256; ++b) t[kByteToCp[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
    return t;
  }();
  return cp < 512 ? table[cp] : -1;
}

}  // namespace r1::tok
