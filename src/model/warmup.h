// Loading feedback: reads every tensor's pages once, so the first answer does not wait on the
// disk, with a progress bar (bytes, rate, ETA) while it does.
#pragma once

#include <cstdint>

#include "model/source.h"

namespace r1 {

// Touches the mapped bytes of every tensor of `src` (a no-op for unmapped checkpoints); shows a
// progress bar on standard error when `progress`. Returns the bytes touched.
uint64_t warm_up(const ModelSource& src, bool progress);

}  // namespace r1
