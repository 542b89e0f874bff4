/// C++ that lets CUDA C kernel source compile and run on the CPU: `__global__`/`__device__` vanish,
/// `__shared__` arrays become statics (blocks run one at a time), the CUDA thread coordinates are
/// globals set before each thread runs, and kernels that use shared memory run their block's
/// threads as fibers that `__syncthreads` switches between, so barrier semantics hold.
/// `EMU_EXPORT(name, barriers)` exports `emu_name(grid…, block…, void** arguments)`, which unpacks
/// the arguments exactly as `cuLaunchKernel` does (an array of pointers to each value).
enum EmulatorPrelude {
    static let prelude = #"""
#include <cmath>
#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>
#include <ucontext.h>

struct dim3 { unsigned x, y, z; };
static dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __shared__ static
static inline float __int_as_float(int v) { float f; std::memcpy(&f, &v, 4); return f; }

namespace emu {
// Fibers: created once per launch (ucontext gives each its stack), switched with _setjmp/_longjmp,
// which unlike swapcontext make no system call. Each fiber is one CUDA thread and runs the
// kernel for every block in turn; the scheduler runs them round-robin between barriers.
struct Fiber { jmp_buf jump; ucontext_t context; dim3 index; bool started, blockDone; };
static jmp_buf schedulerJump;
static ucontext_t schedulerContext;
static Fiber* fibers = nullptr;
static char* stacks = nullptr;
static unsigned capacity = 0, current = 0;
static bool fiberMode = false, launchFinished = false;
static const size_t stackSize = 128 * 1024;
static void (*body)(void*) = nullptr;
static void* bodyArgument = nullptr;

static void yieldToScheduler() {
    unsigned me = current;
    if (_setjmp(fibers[me].jump) == 0) _longjmp(schedulerJump, 1);
    threadIdx = fibers[me].index;
}

static void trampoline() {
    unsigned me = current;
    for (;;) {
        threadIdx = fibers[me].index;
        body(bodyArgument);
        fibers[me].blockDone = true;
        yieldToScheduler();
        if (launchFinished) break;
    }
    _longjmp(schedulerJump, 1);
}

static void resume(unsigned t) {
    current = t;
    if (_setjmp(schedulerJump) == 0) {
        if (!fibers[t].started) {
            fibers[t].started = true;
            swapcontext(&schedulerContext, &fibers[t].context);
        } else {
            _longjmp(fibers[t].jump, 1);
        }
    }
}

template <typename... A, size_t... I>
static void invoke(void (*f)(A...), void** p, std::index_sequence<I...>) {
    f(*static_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(p[I])...);
}

template <typename... A>
static void launch(void (*f)(A...), bool barriers, unsigned gx, unsigned gy, unsigned gz,
                   unsigned bx, unsigned by, unsigned bz, void** p) {
    struct Call { void (*f)(A...); void** p; } call{f, p};
    body = [](void* c) { auto* k = static_cast<Call*>(c); invoke(k->f, k->p, std::index_sequence_for<A...>{}); };
    bodyArgument = &call;
    gridDim = {gx, gy, gz};
    blockDim = {bx, by, bz};
    unsigned threads = bx * by * bz;
    if (!barriers) {
        for (unsigned z = 0; z < gz; ++z) for (unsigned y = 0; y < gy; ++y) for (unsigned x = 0; x < gx; ++x) {
            blockIdx = {x, y, z};
            for (unsigned tz = 0; tz < bz; ++tz) for (unsigned ty = 0; ty < by; ++ty) for (unsigned tx = 0; tx < bx; ++tx) {
                threadIdx = {tx, ty, tz};
                body(bodyArgument);
            }
        }
        return;
    }
    if (threads > capacity) {
        free(fibers); free(stacks);
        fibers = static_cast<Fiber*>(calloc(threads, sizeof(Fiber)));
        stacks = static_cast<char*>(malloc(threads * stackSize));
        capacity = threads;
    }
    unsigned t = 0;
    for (unsigned tz = 0; tz < bz; ++tz) for (unsigned ty = 0; ty < by; ++ty) for (unsigned tx = 0; tx < bx; ++tx, ++t) {
        Fiber& fiber = fibers[t];
        getcontext(&fiber.context);
        fiber.context.uc_stack.ss_sp = stacks + t * stackSize;
        fiber.context.uc_stack.ss_size = stackSize;
        fiber.context.uc_link = nullptr;
        makecontext(&fiber.context, trampoline, 0);
        fiber.index = {tx, ty, tz};
        fiber.started = false;
    }
    fiberMode = true;
    launchFinished = false;
    for (unsigned z = 0; z < gz; ++z) for (unsigned y = 0; y < gy; ++y) for (unsigned x = 0; x < gx; ++x) {
        blockIdx = {x, y, z};
        for (unsigned i = 0; i < threads; ++i) fibers[i].blockDone = false;
        bool running = true;
        while (running) {
            running = false;
            for (unsigned i = 0; i < threads; ++i) {
                if (fibers[i].blockDone) continue;
                resume(i);
                if (!fibers[i].blockDone) running = true;
            }
        }
    }
    launchFinished = true;
    for (unsigned i = 0; i < threads; ++i) if (fibers[i].started) resume(i);
    fiberMode = false;
}
}  // namespace emu

static inline void __syncthreads() {
    if (!emu::fiberMode) { fprintf(stderr, "emulator: __syncthreads in a kernel exported without barriers\n"); abort(); }
    emu::yieldToScheduler();
}

#define EMU_EXPORT(name, barriers) \
    extern "C" void emu_##name(unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, void** p) { \
        emu::launch(name, barriers, gx, gy, gz, bx, by, bz, p); }
"""#
}
