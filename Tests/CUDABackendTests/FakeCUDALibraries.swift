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
    static func directory(_ name: String, driver: Driver? = Driver(), cublas: Bool = false, nvrtc: Bool = false) throws -> String {
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

    private static func compile(_ source: String, to output: String, defines: [String] = []) throws {
        let sourcePath = output + ".c"
        try source.write(toFile: sourcePath, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["cc", "-shared", "-fPIC", "-O1", "-o", output, sourcePath] + defines
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw BuildFailure(output: output) }
    }

    struct BuildFailure: Error { let output: String }

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
