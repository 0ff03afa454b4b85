// Process-wide allocator settings for the forward pass. No model knowledge.
#pragma once

namespace r1 {

// The forward pass allocates and frees activation buffers of up to tens of MB for every layer
// (a 512-token prefill: 18 MB per MLP product). glibc serves such blocks with fresh mmaps and
// returns them at free, so every layer page-faulted and zeroed new memory: 60 % of a prefill's
// time on a 2-core VM. This keeps blocks up to 32 MiB (glibc's maximum threshold) in the heap
// and freed memory in the process, so later layers reuse it. Idempotent; a no-op off glibc.
void keep_freed_memory_for_reuse();

}  // namespace r1
