import Foundation
import Testing
@testable import CUDABackend

/// Stand-ins for libcuda, libcublas(Lt) and libnvrtc, compiled with `cc` into temporary directories, so
/// the loading, the C signatures and the error paths of the runtime run on machines without a GPU.
/// Device memory is host memory, kernels are host functions chosen by name, sgemm is the naive loop.
enum FakeCUDA {
    /// Variants of the fake driver, as C preprocessor definitions.
    struct Driver: Hashable {
        var initResult = 0
        var deviceCount = 1
        var omitsLaunch = false

        var defines: [String] {
            ["-DINIT_RESULT=\(initResult)", "-DDEVICE_COUNT=\(deviceCount)"] + (omitsLaunch ? ["-DOMIT_LAUNCH"] : [])
        }
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var built: [String: String] = [:]

    /// One directory per test process for everything the tests write, removed when the process exits.
    static let root: String = {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("prunelab-cudatests-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: FakeCUDA.root) }
        return root
    }()

    /// A directory holding the fake libraries asked for, built once per `name` in this process. Tests
    /// that read the fakes' counters use a name of their own: each directory's libraries are separate
    /// copies with separate globals.
    static func directory(_ name: String, driver: Driver? = Driver(), cublas: Bool = false, nvrtc: Bool = false,
                          cudnn: CuDNN? = nil) throws -> String {
        try lock.withLock {
            if let directory = built[name] { return directory }
            let directory = root + "/fake-" + name
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if let driver { try compile(driverSource, to: "\(directory)/libcuda.so.1", defines: driver.defines) }
            if cublas {
                try compile("int fake_cublas_lt_marker = 1;\n", to: "\(directory)/libcublasLt.so.12")
                try compile(cublasSource, to: "\(directory)/libcublas.so.12")
            }
            if nvrtc { try compile(nvrtcSource, to: "\(directory)/libnvrtc.so.12") }
            if let cudnn {
                // The shim and, as cuDNN 9 ships them, the sub-libraries it opens by soname.
                for sub in cudnn.subLibraries {
                    try compile("int fake_cudnn_\(sub)_marker = 1;\n", to: "\(directory)/libcudnn_\(sub).so.9",
                                flags: ["-Wl,-soname,libcudnn_\(sub).so.9"])
                }
                try compile(cudnnSource, to: "\(directory)/libcudnn.so.9", defines: cudnn.defines, flags: ["-O2"])
            }
            built[name] = directory
            return directory
        }
    }

    /// A search that sees only `directories`: no system paths, no wheels, no loader cache.
    static func search(_ directories: [String], environment: [String: String] = [:]) -> CUDALibrarySearch {
        var environment = environment
        environment["PRUNELAB_CUDA_LIBS"] = directories.joined(separator: ":")
        if environment["PRUNELAB_CACHE_DIR"] == nil { environment["PRUNELAB_CACHE_DIR"] = temporaryDirectory("kernels") }
        return CUDALibrarySearch(environment: environment, systemDirectories: [], sitePackagesPatterns: [],
                                 usesLoaderCache: false)
    }

    /// The value of the fake library's global `int` named `symbol` (its counters).
    static func counter(_ symbol: String, in path: String) -> Int32? {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD) else { return nil }
        defer { dlclose(handle) }
        return dlsym(handle, symbol)?.assumingMemoryBound(to: Int32.self).pointee
    }

    /// A fresh, empty temporary directory.
    static func temporaryDirectory(_ label: String) -> String {
        let path = root + "/\(label)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    private static func compile(_ source: String, to output: String, defines: [String] = [], flags: [String] = []) throws {
        let sourcePath = output + ".c"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["cc", "-shared", "-fPIC", "-O1"] + flags + ["-o", output, sourcePath] + defines
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BuildFailure(output: output) }
    }

    struct BuildFailure: Error { let output: String }

    /// Variants of the fake cuDNN.
    struct CuDNN: Hashable {
        /// Sub-libraries shipped beside the shim; `cudnnCreate` fails unless "cnn" is loaded (by soname).
        var subLibraries = ["graph", "ops", "cnn"]
        /// The workspace its preferred algorithms ask for, in bytes.
        var workspaceBytes = 4096

        var defines: [String] { ["-DWORKSPACE_BYTES=\(workspaceBytes)"] }
    }

    static let driverSource = #"""
    #include <stdint.h>
    #include <stdlib.h>
    #include <string.h>
    int fake_retained = 0, fake_modules = 0;
    static int context_token, module_token;
    int cuInit(unsigned flags) { return INIT_RESULT; }
    int cuDriverGetVersion(int *version) { *version = 12040; return 0; }
    int cuDeviceGetCount(int *count) { *count = DEVICE_COUNT; return 0; }
    int cuDeviceGet(int *device, int ordinal) { *device = ordinal + 10; return 0; }
    int cuDeviceGetName(char *name, int length, int device) {
        if (device != 10) return 101;
        strncpy(name, "Fake GPU", length); return 0;
    }
    int cuDeviceGetAttribute(int *value, int attribute, int device) {
        if (attribute == 75) { *value = 8; return 0; }
        if (attribute == 76) { *value = 0; return 0; }
        return 1;
    }
    int cuDeviceTotalMem_v2(size_t *bytes, int device) { *bytes = (size_t)16 << 30; return 0; }
    int cuDevicePrimaryCtxRetain(void **context, int device) { *context = &context_token; fake_retained++; return 0; }
    int cuDevicePrimaryCtxRelease_v2(int device) { fake_retained--; return 0; }
    int cuCtxSetCurrent(void *context) { return context == &context_token ? 0 : 201; }
    int cuCtxSynchronize(void) { return 0; }
    int cuMemAlloc_v2(uint64_t *pointer, size_t bytes) {
        if (bytes > ((size_t)1 << 40)) return 2;
        *pointer = (uint64_t)(uintptr_t)malloc(bytes); return *pointer ? 0 : 2;
    }
    int cuMemFree_v2(uint64_t pointer) { free((void *)(uintptr_t)pointer); return 0; }
    int cuMemcpyHtoD_v2(uint64_t d, const void *s, size_t n) { memcpy((void *)(uintptr_t)d, s, n); return 0; }
    int cuMemcpyDtoH_v2(void *d, uint64_t s, size_t n) { memcpy(d, (void *)(uintptr_t)s, n); return 0; }
    int cuMemcpyDtoD_v2(uint64_t d, uint64_t s, size_t n) { memmove((void *)(uintptr_t)d, (void *)(uintptr_t)s, n); return 0; }
    int cuMemsetD32_v2(uint64_t d, unsigned value, size_t n) {
        unsigned *p = (unsigned *)(uintptr_t)d; for (size_t i = 0; i < n; i++) p[i] = value; return 0;
    }
    /* Accepts what NVRTC makes: ELF (CUBIN) or NUL-terminated PTX text. */
    int cuModuleLoadData(void **module, const void *image) {
        const unsigned char *b = image;
        if (!(b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F') && !(b[0] == '/' && b[1] == '/')) return 200;
        *module = &module_token; fake_modules++; return 0;
    }
    int cuModuleUnload(void *module) { fake_modules--; return 0; }
    typedef void (*host_kernel)(unsigned threads, void **parameters);
    /* saxpy(int n, float a, const float *x, float *y) */
    static void saxpy(unsigned threads, void **p) {
        int n = *(int *)p[0]; float a = *(float *)p[1];
        const float *x = (const float *)(uintptr_t)*(uint64_t *)p[2]; float *y = (float *)(uintptr_t)*(uint64_t *)p[3];
        for (int i = 0; i < n && i < (int)threads; i++) y[i] = a * x[i] + y[i];
    }
    /* fill64(long long n, float value, float *out) */
    static void fill64(unsigned threads, void **p) {
        long long n = *(long long *)p[0]; float v = *(float *)p[1]; float *out = (float *)(uintptr_t)*(uint64_t *)p[2];
        for (long long i = 0; i < n && i < threads; i++) out[i] = v;
    }
    int cuModuleGetFunction(void **function, void *module, const char *name) {
        if (module != &module_token) return 400;
        if (!strcmp(name, "saxpy")) { *function = (void *)saxpy; return 0; }
        if (!strcmp(name, "fill64")) { *function = (void *)fill64; return 0; }
        return 500;
    }
    unsigned fake_last_launch[7];
    #ifndef OMIT_LAUNCH
    int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                       unsigned shared, void *stream, void **parameters, void **extra) {
        if (stream != 0 || extra != 0) return 400;
        unsigned values[7] = { gx, gy, gz, bx, by, bz, shared }; memcpy(fake_last_launch, values, sizeof values);
        ((host_kernel)f)(gx * gy * gz * bx * by * bz, parameters); return 0;
    }
    #endif
    int cuGetErrorName(int result, const char **name) {
        switch (result) {
        case 2: *name = "CUDA_ERROR_OUT_OF_MEMORY"; return 0;
        case 200: *name = "CUDA_ERROR_INVALID_IMAGE"; return 0;
        default: *name = 0; return 1;
        }
    }
    int cuGetErrorString(int result, const char **text) { *text = result == 2 ? "out of memory" : "fake error"; return 0; }
    """#

    static let cublasSource = #"""
    int fake_handles = 0, fake_math_mode = -1, fake_plain_calls = 0, fake_batched_calls = 0;
    static int handle_token;
    int cublasCreate_v2(void **handle) { *handle = &handle_token; fake_handles++; return 0; }
    int cublasDestroy_v2(void *handle) { fake_handles--; return 0; }
    int cublasGetVersion_v2(void *handle, int *version) { *version = 120400; return 0; }
    int cublasSetMathMode(void *handle, int mode) { fake_math_mode = mode; return 0; }
    static float at(const float *m, int ld, int transposed, int row, int column) {
        return transposed ? m[column + row * ld] : m[row + column * ld];
    }
    static int gemm(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
                    long long sa, const float *b, int ldb, long long sb, const float *beta, float *c, int ldc,
                    long long sc, int batch) {
        if (h != &handle_token || m < 0 || n < 0 || k < 0 || batch < 0 || ldc < m) return 7;
        for (int i = 0; i < batch; i++)
            for (int col = 0; col < n; col++)
                for (int row = 0; row < m; row++) {
                    float sum = 0;
                    for (int l = 0; l < k; l++) sum += at(a + i * sa, lda, ta, row, l) * at(b + i * sb, ldb, tb, l, col);
                    float *out = c + i * sc + row + col * ldc;
                    *out = *alpha * sum + *beta * *out;
                }
        return 0;
    }
    int cublasSgemm_v2(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *a, int lda,
                       const float *b, int ldb, const float *beta, float *c, int ldc) {
        fake_plain_calls++; return gemm(h, ta, tb, m, n, k, alpha, a, lda, 0, b, ldb, 0, beta, c, ldc, 0, 1);
    }
    int cublasSgemmStridedBatched(void *h, int ta, int tb, int m, int n, int k, const float *alpha, const float *a,
                                  int lda, long long sa, const float *b, int ldb, long long sb, const float *beta,
                                  float *c, int ldc, long long sc, int batch) {
        fake_batched_calls++; return gemm(h, ta, tb, m, n, k, alpha, a, lda, sa, b, ldb, sb, beta, c, ldc, sc, batch);
    }
    """#

    /// cuDNN's legacy convolution API over host memory: descriptors are tagged structs (a descriptor
    /// in the wrong role is CUDNN_STATUS_BAD_PARAM), the passes are the naive loops, and each algorithm
    /// query answers with a non-deterministic algorithm first, then a tensor-op one, then algorithm 1
    /// (deterministic, FMA) needing WORKSPACE_BYTES, then algorithm 2 (deterministic, no workspace). A
    /// batch of 13 makes the passes fail with CUDNN_STATUS_EXECUTION_FAILED, 7 groups the descriptor
    /// with CUDNN_STATUS_NOT_SUPPORTED.
    static let cudnnSource = #"""
    #include <dlfcn.h>
    #include <stdint.h>
    #include <stdlib.h>
    #include <string.h>
    int fake_cudnn_handles = 0, fake_cudnn_descriptors = 0, fake_math_type = -1, fake_group_count = -1;
    static int handle_token;
    typedef struct { char tag; int n, c, h, w, format, type; int ph, pw, sh, sw, dh, dw, mode, groups; } desc;
    size_t cudnnGetVersion(void) { return 90100; }
    const char *cudnnGetErrorString(int status) {
        switch (status) {
        case 0: return "CUDNN_STATUS_SUCCESS";
        case 2000: return "CUDNN_STATUS_BAD_PARAM";
        case 3000: return "CUDNN_STATUS_NOT_SUPPORTED";
        case 4002: return "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED";
        case 5000: return "CUDNN_STATUS_EXECUTION_FAILED";
        default: return "CUDNN_STATUS_UNKNOWN";
        }
    }
    int cudnnCreate(void **handle) {
        /* As the real shim: the sub-library by bare name, found only if already loaded. */
        if (!dlopen("libcudnn_cnn.so.9", RTLD_NOW | RTLD_NOLOAD)) return 4002;
        *handle = &handle_token; fake_cudnn_handles++; return 0;
    }
    int cudnnDestroy(void *handle) { if (handle != &handle_token) return 2000; fake_cudnn_handles--; return 0; }
    static int create(void **d, char tag) { desc *x = calloc(1, sizeof(desc)); x->tag = tag; *d = x; fake_cudnn_descriptors++; return 0; }
    static int destroy(void *d, char tag) { if (!d || ((desc *)d)->tag != tag) return 2000; free(d); fake_cudnn_descriptors--; return 0; }
    int cudnnCreateTensorDescriptor(void **d) { return create(d, 'T'); }
    int cudnnCreateFilterDescriptor(void **d) { return create(d, 'F'); }
    int cudnnCreateConvolutionDescriptor(void **d) { return create(d, 'C'); }
    int cudnnDestroyTensorDescriptor(void *d) { return destroy(d, 'T'); }
    int cudnnDestroyFilterDescriptor(void *d) { return destroy(d, 'F'); }
    int cudnnDestroyConvolutionDescriptor(void *d) { return destroy(d, 'C'); }
    static int is(const void *d, char tag) { return d && ((const desc *)d)->tag == tag; }
    int cudnnSetTensor4dDescriptor(desc *d, int format, int type, int n, int c, int h, int w) {
        if (!is(d, 'T') || format != 0 || type != 0 || n <= 0 || c <= 0 || h <= 0 || w <= 0) return 2000;
        d->n = n; d->c = c; d->h = h; d->w = w; return 0;
    }
    int cudnnSetFilter4dDescriptor(desc *d, int type, int format, int k, int c, int h, int w) {
        if (!is(d, 'F') || format != 0 || type != 0 || k <= 0 || c <= 0 || h <= 0 || w <= 0) return 2000;
        d->n = k; d->c = c; d->h = h; d->w = w; return 0;
    }
    int cudnnSetConvolution2dDescriptor(desc *d, int ph, int pw, int sh, int sw, int dh, int dw, int mode, int type) {
        if (!is(d, 'C') || ph < 0 || pw < 0 || sh <= 0 || sw <= 0 || dh != 1 || dw != 1 || mode != 1 || type != 0) return 2000;
        d->ph = ph; d->pw = pw; d->sh = sh; d->sw = sw; d->dh = dh; d->dw = dw; d->mode = mode; d->groups = 1; return 0;
    }
    int cudnnSetConvolutionGroupCount(desc *d, int groups) {
        if (!is(d, 'C') || groups <= 0) return 2000;
        if (groups == 7) return 3000;
        d->groups = groups; fake_group_count = groups; return 0;
    }
    int cudnnSetConvolutionMathType(desc *d, int math) { if (!is(d, 'C')) return 2000; fake_math_type = math; return 0; }
    int cudnnGetConvolution2dForwardOutputDim(const desc *conv, const desc *x, const desc *w, int *n, int *c, int *h, int *wo) {
        if (!is(conv, 'C') || !is(x, 'T') || !is(w, 'F') || x->c != w->c * conv->groups) return 2000;
        *n = x->n; *c = w->n;
        *h = (x->h + 2 * conv->ph - w->h) / conv->sh + 1; *wo = (x->w + 2 * conv->pw - w->w) / conv->sw + 1; return 0;
    }
    /* cudnnConvolution*AlgoPerf_t: algo, status, time, memory (size_t), determinism, mathType, reserved[3]. */
    typedef struct { int algo, status; float time; size_t memory; int determinism, mathType; int reserved[3]; } perf;
    static int answer(int requested, int *returned, perf *results) {
        perf list[4] = {
            { 0, 0, 1.0f, 0, 0, 0 },                       /* fastest, but non-deterministic */
            { 3, 0, 1.5f, 0, 1, 1 },                       /* deterministic, tensor-op math (TF32) */
            { 1, 0, 2.0f, WORKSPACE_BYTES, 1, 3 },         /* deterministic, FMA */
            { 2, 0, 3.0f, 0, 1, 0 },                       /* deterministic, default math, no workspace */
        };
        int count = requested < 4 ? requested : 4;
        memcpy(results, list, count * sizeof(perf)); *returned = count; return 0;
    }
    int cudnnGetConvolutionForwardAlgorithm_v7(void *h, desc *x, desc *w, desc *conv, desc *y, int requested, int *returned, perf *results) {
        if (h != &handle_token || !is(x, 'T') || !is(w, 'F') || !is(conv, 'C') || !is(y, 'T')) return 2000;
        return answer(requested, returned, results);
    }
    int cudnnGetConvolutionBackwardDataAlgorithm_v7(void *h, desc *w, desc *dy, desc *conv, desc *dx, int requested, int *returned, perf *results) {
        if (h != &handle_token || !is(w, 'F') || !is(dy, 'T') || !is(conv, 'C') || !is(dx, 'T')) return 2000;
        return answer(requested, returned, results);
    }
    int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void *h, desc *x, desc *dy, desc *conv, desc *dw, int requested, int *returned, perf *results) {
        if (h != &handle_token || !is(x, 'T') || !is(dy, 'T') || !is(conv, 'C') || !is(dw, 'F')) return 2000;
        return answer(requested, returned, results);
    }
    static size_t need(int algo) { return algo == 1 ? WORKSPACE_BYTES : 0; }
    int cudnnGetConvolutionForwardWorkspaceSize(void *h, desc *x, desc *w, desc *conv, desc *y, int algo, size_t *bytes) {
        if (!is(x, 'T') || !is(w, 'F') || !is(conv, 'C') || !is(y, 'T')) return 2000; *bytes = need(algo); return 0;
    }
    int cudnnGetConvolutionBackwardDataWorkspaceSize(void *h, desc *w, desc *dy, desc *conv, desc *dx, int algo, size_t *bytes) {
        if (!is(w, 'F') || !is(dy, 'T') || !is(conv, 'C') || !is(dx, 'T')) return 2000; *bytes = need(algo); return 0;
    }
    int cudnnGetConvolutionBackwardFilterWorkspaceSize(void *h, desc *x, desc *dy, desc *conv, desc *dw, int algo, size_t *bytes) {
        if (!is(x, 'T') || !is(dy, 'T') || !is(conv, 'C') || !is(dw, 'F')) return 2000; *bytes = need(algo); return 0;
    }
    /* Checks shared by the passes: roles, shapes agreeing, the workspace the algorithm needs. */
    static int valid(void *h, const desc *x, const desc *w, const desc *conv, const desc *y, int algo, void *ws, size_t bytes) {
        if (h != &handle_token || !is(x, 'T') || !is(w, 'F') || !is(conv, 'C') || !is(y, 'T')) return 2000;
        if (algo < 0 || algo > 3 || bytes < need(algo) || (need(algo) > 0 && !ws)) return 2000;
        int oh = (x->h + 2 * conv->ph - w->h) / conv->sh + 1, ow = (x->w + 2 * conv->pw - w->w) / conv->sw + 1;
        if (y->n != x->n || y->c != w->n || y->h != oh || y->w != ow || x->c != w->c * conv->groups || w->n % conv->groups) return 2000;
        return x->n == 13 ? 5000 : 0;
    }
    /* Calls body(x index, w index, y index) for every term of the convolution. */
    #define TERMS(XD, WD, CV, YD, BODY) \
        for (int n = 0; n < YD->n; n++) for (int k = 0; k < YD->c; k++) for (int oy = 0; oy < YD->h; oy++) for (int ox = 0; ox < YD->w; ox++) { \
            int g = k / (WD->n / CV->groups); \
            for (int c = 0; c < WD->c; c++) for (int i = 0; i < WD->h; i++) for (int j = 0; j < WD->w; j++) { \
                int iy = oy * CV->sh - CV->ph + i, ix = ox * CV->sw - CV->pw + j; \
                if (iy < 0 || iy >= XD->h || ix < 0 || ix >= XD->w) continue; \
                size_t xi = (((size_t)n * XD->c + g * WD->c + c) * XD->h + iy) * XD->w + ix; \
                size_t wi = (((size_t)k * WD->c + c) * WD->h + i) * WD->w + j; \
                size_t yi = (((size_t)n * YD->c + k) * YD->h + oy) * YD->w + ox; \
                BODY; \
            } }
    static void scale(float *out, size_t count, float beta) { for (size_t i = 0; i < count; i++) out[i] = beta == 0 ? 0 : beta * out[i]; }
    /* One pass: 0 forward (y from x, w), 1 backward data (dx from dy, w), 2 backward filter (dw from x, dy);
       `out` gets alpha times the pass plus beta times itself. */
    static int run(int mode, void *h, const float *alpha, desc *conv, int algo, void *ws, size_t bytes, const float *beta,
                   desc *xd, const float *x, desc *wd, const float *w, desc *yd, const float *y, float *out) {
        int status = valid(h, xd, wd, conv, yd, algo, ws, bytes); if (status) return status;
        desc *od = mode == 0 ? yd : mode == 1 ? xd : wd;
        size_t count = (size_t)od->n * od->c * od->h * od->w;
        float *sum = calloc(count, sizeof(float));
        if (mode == 0) { TERMS(xd, wd, conv, yd, sum[yi] += x[xi] * w[wi]) }
        else if (mode == 1) { TERMS(xd, wd, conv, yd, sum[xi] += y[yi] * w[wi]) }
        else { TERMS(xd, wd, conv, yd, sum[wi] += x[xi] * y[yi]) }
        scale(out, count, *beta); for (size_t i = 0; i < count; i++) out[i] += *alpha * sum[i];
        free(sum); return 0;
    }
    int cudnnConvolutionForward(void *h, const float *alpha, desc *xd, const float *x, desc *wd, const float *w, desc *conv, int algo,
                                void *ws, size_t bytes, const float *beta, desc *yd, float *y) {
        return run(0, h, alpha, conv, algo, ws, bytes, beta, xd, x, wd, w, yd, 0, y);
    }
    int cudnnConvolutionBackwardData(void *h, const float *alpha, desc *wd, const float *w, desc *dyd, const float *dy, desc *conv, int algo,
                                     void *ws, size_t bytes, const float *beta, desc *dxd, float *dx) {
        return run(1, h, alpha, conv, algo, ws, bytes, beta, dxd, 0, wd, w, dyd, dy, dx);
    }
    int cudnnConvolutionBackwardFilter(void *h, const float *alpha, desc *xd, const float *x, desc *dyd, const float *dy, desc *conv, int algo,
                                       void *ws, size_t bytes, const float *beta, desc *dwd, float *dw) {
        return run(2, h, alpha, conv, algo, ws, bytes, beta, xd, x, dwd, 0, dyd, dy, dw);
    }
    """#

    static let nvrtcSource = #"""
    #include <stdlib.h>
    #include <string.h>
    int fake_compiles = 0;
    char fake_last_options[1024];
    int nvrtcVersion(int *major, int *minor) { *major = 99; *minor = 1; return 0; }
    int nvrtcGetNumSupportedArchs(int *count) { *count = 2; return 0; }
    int nvrtcGetSupportedArchs(int *list) { list[0] = 80; list[1] = 90; return 0; }
    int nvrtcCreateProgram(void **program, const char *source, const char *name, int headers,
                           const char *const *h, const char *const *n) { *program = strdup(source); return 0; }
    int nvrtcCompileProgram(void *program, int count, const char *const *options) {
        fake_compiles++; fake_last_options[0] = 0;
        for (int i = 0; i < count; i++) { strcat(fake_last_options, options[i]); strcat(fake_last_options, " "); }
        return strstr(program, "#error") ? 6 : 0;
    }
    static const char *log_of(void *p) { return strstr(p, "#error") ? "prunelab.cu(1): error: fake failure\n" : ""; }
    int nvrtcGetProgramLogSize(void *p, size_t *size) { *size = strlen(log_of(p)) + 1; return 0; }
    int nvrtcGetProgramLog(void *p, char *log) { strcpy(log, log_of(p)); return 0; }
    static const char cubin[] = "\x7f" "ELF fake cubin";
    int nvrtcGetCUBINSize(void *p, size_t *size) { *size = sizeof cubin - 1; return 0; }
    int nvrtcGetCUBIN(void *p, char *out) { memcpy(out, cubin, sizeof cubin - 1); return 0; }
    static const char ptx[] = "// fake ptx\n";
    int nvrtcGetPTXSize(void *p, size_t *size) { *size = sizeof ptx; return 0; }
    int nvrtcGetPTX(void *p, char *out) { memcpy(out, ptx, sizeof ptx); return 0; }
    int nvrtcDestroyProgram(void **program) { free(*program); *program = 0; return 0; }
    const char *nvrtcGetErrorString(int result) { return result == 6 ? "NVRTC_ERROR_COMPILATION" : "NVRTC_ERROR_FAKE"; }
    """#
}
