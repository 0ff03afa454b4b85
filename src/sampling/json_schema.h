// Grammars for JSON text: any JSON value, or a value valid for a JSON schema (the subset listed
// in docs/SERVER.md, "Constrained output"). Used for `response_format` and for the arguments of
// forced tool calls. Whitespace between tokens is bounded (at most 16 bytes in a row), and so
// are numbers (20 integer digits, 20 fraction digits, 2 exponent digits: always within a double),
// so a model cannot stall inside filler; strings are free text of valid UTF-8 with JSON's escapes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "sampling/grammar.h"

namespace r1::json_grammar {

// Optional whitespace between JSON tokens.
uint32_t whitespace(GrammarBuilder& b);
// Any JSON value / any JSON object.
uint32_t any_value(GrammarBuilder& b);
uint32_t any_object(GrammarBuilder& b);
// JSON text valid for `schema` (an object or a boolean schema). Keywords outside the subset
// are not enforced; a schema that cannot be compiled (`false`, a $ref that does not resolve,
// a keyword of the wrong type, allOf of several schemas) throws r1::Error naming its path,
// starting with `where`.
uint32_t schema_value(GrammarBuilder& b, const nlohmann::json& schema,
                      const std::string& where = "schema");

// The whole text is one JSON value for `schema` (null: any object), with optional whitespace
// around it.
std::shared_ptr<const Grammar> document_grammar(const nlohmann::json* schema);

}  // namespace r1::json_grammar
