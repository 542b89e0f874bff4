#ifndef PRUNELAB_CSUPPORT_H
#define PRUNELAB_CSUPPORT_H

/// Sets flush-to-zero and denormals-are-zero in this thread's SSE control register (MXCSR).
/// Denormal floats cost ~100 cycles per operation on x86; TensorFlow and PyTorch's oneDNN paths
/// flush them too. Returns 1 where supported (x86-64), 0 elsewhere.
int prunelab_flush_denormals(void);

#endif
