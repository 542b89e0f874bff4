#include "csupport.h"
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
int prunelab_flush_denormals(void) {
    _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ (bit 15) | DAZ (bit 6) */
    return 1;
}
#else
int prunelab_flush_denormals(void) { return 0; }
#endif
