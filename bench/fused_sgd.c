/* Would fusing LeNet-300-100's SGD update into the weight-gradient GEMM's epilogue pay? (issue 18)
   The first layer's weight gradient (300×784 from a batch of 100) and its momentum-SGD update, as
   prunelab's CPU backend does them today (one 2-thread dnnl_sgemm writing g, then one 2-thread pass
   over w, g, v and the mask), against a fused kernel: each OpenMP thread takes row blocks of W,
   computes the block's gradient with a single-threaded dnnl_sgemm into a scratch that stays in
   L1/L2, and updates the block's w and v from it at once (g never goes to memory). Each variant
   runs alternately, with and without a 64 MiB pass that evicts the L3 before every step (what
   neighbours on the host do in the "slow mode"), and prints the median µs per step over rounds.
   Build: gcc -O3 -march=native -fopenmp fused_sgd.c -o fused_sgd -ldnnl
   Run:   OMP_NUM_THREADS=2 GOMP_SPINCOUNT=1000 ./fused_sgd [block rows, default 16] */
#include <dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { R = 100, O = 300, I = 784, STEPS = 200, ROUNDS = 7 };
static float *dY, *X, *W, *G, *V, *M, *evict;
static const size_t evictBytes = 64u << 20;
static int blockRows = 16;
static float *scratch[64];
static const float lr = 0.01f, momentum = 0.9f, decay = 5e-4f;

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static void evictL3(void) { for (size_t i = 0; i < evictBytes / 4; i += 16) evict[i] += 1.0f; }

static inline void update(float *w, float *v, const float *g, const float *m, int n, int masked) {
  for (int i = 0; i < n; i++) {
    float grad = g[i] + decay * w[i];
    if (masked) grad *= m[i];
    float vel = momentum * v[i] + grad;
    v[i] = vel;
    float next = w[i] - lr * vel;
    w[i] = masked ? m[i] * next : next;
  }
}

static void unfused(int masked) {
  dnnl_sgemm('T', 'N', O, I, R, 1.f, dY, O, X, I, 0.f, G, I);
#pragma omp parallel
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads(), n = O * I, per = (n + T - 1) / T;
    int start = t * per, end = start + per < n ? start + per : n;
    if (start < end) update(W + start, V + start, G + start, M + start, end - start, masked);
  }
}

static void fused(int masked) {
  int blocks = (O + blockRows - 1) / blockRows;
#pragma omp parallel
  {
    int t = omp_get_thread_num(), T = omp_get_num_threads(), per = (blocks + T - 1) / T;
    for (int b = t * per; b < (t + 1) * per && b < blocks; b++) {
      int r0 = b * blockRows, rows = r0 + blockRows <= O ? blockRows : O - r0;
      dnnl_sgemm('T', 'N', rows, I, R, 1.f, dY + r0, O, X, I, 0.f, scratch[t], I);
      size_t at = (size_t)r0 * I;
      update(W + at, V + at, scratch[t], M + at, rows * I, masked);
    }
  }
}

static int byValue(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

int main(int argc, char **argv) {
  if (argc > 1) blockRows = atoi(argv[1]);
  if (blockRows < 1 || blockRows > O) { fprintf(stderr, "block rows must be 1…%d\n", O); return 2; }
  dY = aligned_alloc(64, 4 * R * O); X = aligned_alloc(64, 4 * R * I);
  W = aligned_alloc(64, 4 * O * I); G = aligned_alloc(64, 4 * O * I); V = aligned_alloc(64, 4 * O * I); M = aligned_alloc(64, 4 * O * I);
  evict = aligned_alloc(64, evictBytes);
  for (int t = 0; t < 64; t++) scratch[t] = aligned_alloc(64, 4 * (size_t)blockRows * I);
  for (int i = 0; i < R * O; i++) dY[i] = (float)(i % 7 - 3) * 0.01f;
  for (int i = 0; i < R * I; i++) X[i] = (float)(i % 5 - 2) * 0.1f;
  for (int i = 0; i < O * I; i++) { W[i] = (float)(i % 11 - 5) * 0.01f; V[i] = 0; M[i] = i % 10 != 0; }
  memset(evict, 0, evictBytes);
  printf("threads %d, block rows %d, %d steps per round, median of %d rounds (µs per step)\n", omp_get_max_threads(), blockRows, STEPS, ROUNDS);
  for (int evicted = 0; evicted < 2; evicted++)
    for (int masked = 0; masked < 2; masked++) {
      double u[ROUNDS], f[ROUNDS];
      for (int round = 0; round < ROUNDS; round++) {
        double tu = 0, tf = 0;
        for (int s = 0; s < STEPS; s++) {
          if (evicted) evictL3();
          double t0 = now(); unfused(masked); tu += now() - t0;
          if (evicted) evictL3();
          t0 = now(); fused(masked); tf += now() - t0;
        }
        u[round] = tu / STEPS * 1e6; f[round] = tf / STEPS * 1e6;
      }
      qsort(u, ROUNDS, sizeof(double), byValue); qsort(f, ROUNDS, sizeof(double), byValue);
      printf("L3 %-8s %-8s unfused %6.1f  fused %6.1f  fused/unfused %.2f\n", evicted ? "evicted" : "warm",
             masked ? "masked" : "dense", u[ROUNDS / 2], f[ROUNDS / 2], f[ROUNDS / 2] / u[ROUNDS / 2]);
    }
  return 0;
}
