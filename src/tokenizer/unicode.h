// UTF-8 decoding and validation, NFC normalization and the GPT-2 byte-level alphabet.
// Internal to the tokenizer library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace r1::tok {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Result of decoding one UTF-8 sequence.
struct Utf8Step {
  uint32_t cp;     // the code point, or kReplacementChar when the bytes are not valid UTF-8
  uint32_t len;    // bytes consumed (>= 1)
  bool valid;      // a well-formed UTF-8 sequence
  bool surrogate;  // an encoded UTF-16 surrogate (ED A0..BF 80..BF): cp holds the surrogate
  bool truncated;  // invalid only because the input ends inside the sequence
};

// Decodes the sequence at s[0..n) (n >= 1). Invalid input is consumed one maximal subpart at a
// time (the WHATWG / Unicode "substitution of maximal subparts" rule that TextDecoder uses),
// With `whole_surrogates`, a 3-byte encoded surrogate is consumed whole and reported as such
// (otherwise it is three invalid bytes, as in TextDecoder).
Utf8Step utf8_decode(const uint8_t* s, size_t n, bool whole_surrogates = false);

// Length of the longest prefix of s that is well-formed UTF-8.
size_t utf8_valid_prefix(std::string_view s);
inline bool utf8_is_valid(std::string_view s) {
  return utf8_valid_prefix(s) == s.size();
}

void utf8_append(std::string& out, uint32_t cp);

// True when the text (valid UTF-8) is certainly in NFC (the quick check answers yes).
bool nfc_quick_check(std::string_view s);
// NFC of valid UTF-8 text (lone surrogates must have been replaced before).
std::string nfc(std::string_view s);
// Writes NFC(s) to `out` and returns true, or returns false when s is already in NFC. Only the
// runs between normalization boundaries that hold a character which may change are normalized.
bool nfc_if_needed(std::string_view s, std::string& out);

// GPT-2 byte-level alphabet: byte b is written as the code point byte_to_cp(b).
uint32_t byte_to_cp(uint8_t b);
// The byte a code point of the alphabet stands for, or -1 if it is not in the alphabet.
int cp_to_byte(uint32_t cp);

}  // namespace r1::tok
