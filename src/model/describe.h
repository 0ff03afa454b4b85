// A description of an opened model for people (text) and scripts (JSON): `r1 inspect`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "model/source.h"

namespace r1 {

nlohmann::json describe_json(const ModelSource& m);
std::string describe_text(const ModelSource& m);

}  // namespace r1
