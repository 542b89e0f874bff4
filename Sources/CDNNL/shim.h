#include <dnnl.h>

/* oneDNN here runs on GNU OpenMP. The engine's own elementwise loops run on the same thread team
   through libgomp's entry points, so the two never compete for the cores (a second pool would
   fight oneDNN's spinning OpenMP workers). These are libgomp's stable ABI (GOMP_1.0 / GOMP_4.0). */
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
int omp_get_thread_num(void);
int omp_get_num_threads(void);
int omp_get_max_threads(void);
