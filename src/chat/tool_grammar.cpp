#include "chat/tool_grammar.h"

#include "chat/special_tokens.h"
#include "core/error.h"
#include "sampling/json_schema.h"

namespace r1::chat {

std::shared_ptr<const Grammar> tool_call_grammar(const std::vector<Tool>& tools, bool parallel) {
  using B = GrammarBuilder;
  if (tools.empty()) throw Error("a forced tool call needs at least one tool");
  GrammarBuilder b;
  std::vector<B::Seq> calls;
  for (size_t i = 0; i < tools.size(); ++i) {
    const Tool& t = tools[i];
    const std::string where = "tools[" + std::to_string(i) + "].function.parameters";
    const uint32_t args = t.parameters.is_null()
                              ? json_grammar::any_object(b)
                              : json_grammar::schema_value(b, t.parameters, where);
    const std::string type = t.type.empty() ? "function" : t.type;
    calls.push_back(B::cat({B::lit(tokens::kCallBegin),
                            B::lit(type + std::string(tokens::kSep) + t.name + "\n```json\n"),
                            B::ref(args), B::lit("\n```"), B::lit(tokens::kCallEnd)}));
  }
  const uint32_t call = b.rule("call", calls);
  const uint32_t lead = b.rep(B::lit("\n"), 0, 4, "lead");  // the parser trims these
  const uint32_t more =
      parallel ? b.star(B::cat({B::ref(b.opt(B::lit("\n"), "gap")), B::ref(call)}), "more-calls")
               : b.rule("no-more-calls", {B::Seq{}});
  return b.build(b.rule("root", {B::cat({B::ref(lead), B::lit(tokens::kCallsBegin), B::ref(call),
                                         B::ref(more), B::lit(tokens::kCallsEnd)})}));
}

}  // namespace r1::chat
