/// The CUDA C source of every kernel the backend launches, compiled once per device with NVRTC.
///
/// Written so that results do not depend on scheduling: no atomics, every reduction is a fixed
/// tree over a fixed partition, and gradients of gathers (col2im, pooling) are computed by the
/// input element that receives them rather than scattered. The same source also compiles as C++
/// for the CPU under a small emulation header (tests), so only `blockIdx`/`threadIdx`/`blockDim`/
/// `gridDim`, `__shared__` arrays of fixed size and `__syncthreads` are used.
enum CUDAKernelSource {
    /// Threads per block of the reduction kernels (a power of two; their shared arrays have this size).
    static let reductionThreads = 256
    /// Threads per block of the element-wise kernels.
    static let elementwiseThreads = 256

    /// Every kernel in `source`, by name.
    static let names = [
        "fill_value", "relu_forward", "relu_backward", "add_tensors", "accumulate", "mask_multiply", "binarize",
        "add_bias_rows", "sum_rows", "sgd_step", "softmax_cross_entropy",
        "bn_statistics", "bn_forward", "bn_backward_reduce", "bn_backward_data", "bn_running_update",
        "pool_max_forward", "pool_avg_forward", "pool_backward",
        "im2col", "col2im", "channel_major_to_nchw", "nchw_to_channel_major", "sum_channel_rows",
        "add_channel_bias", "sum_channels", "pad_planes", "crop_planes",
    ]

    static let source = #"""
#define KERNEL extern "C" __global__ void
#define RTHREADS \#(reductionThreads)
typedef long long i64;
#ifndef INFINITY
#define INFINITY __int_as_float(0x7f800000)
#endif
// Grid-stride loop: any grid size covers any n.
#define FOR_EACH(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

// Sums `value` over the block (RTHREADS threads) in a fixed tree; every thread gets the total.
__device__ float block_sum(float value, float* shared) {
    unsigned t = threadIdx.x;
    shared[t] = value;
    __syncthreads();
    for (unsigned half = RTHREADS / 2; half > 0; half /= 2) {
        if (t < half) shared[t] += shared[t + half];
        __syncthreads();
    }
    float total = shared[0];
    __syncthreads();
    return total;
}

KERNEL fill_value(float* x, i64 n, float value) { FOR_EACH(i, n) x[i] = value; }

KERNEL relu_forward(const float* x, float* y, i64 n, float ceiling) {
    FOR_EACH(i, n) {
        float v = x[i] > 0.0f ? x[i] : 0.0f;
        y[i] = v < ceiling ? v : ceiling;
    }
}

KERNEL relu_backward(const float* y, const float* dy, float* dx, i64 n, float ceiling) {
    FOR_EACH(i, n) { float v = y[i]; dx[i] = (v > 0.0f && v < ceiling) ? dy[i] : 0.0f; }
}

KERNEL add_tensors(const float* a, const float* b, float* out, i64 n) { FOR_EACH(i, n) out[i] = a[i] + b[i]; }
KERNEL accumulate(const float* source, float* target, i64 n) { FOR_EACH(i, n) target[i] += source[i]; }
KERNEL mask_multiply(const float* mask, float* x, i64 n) { FOR_EACH(i, n) x[i] *= mask[i]; }
KERNEL binarize(float* x, i64 n) { FOR_EACH(i, n) x[i] = x[i] > 0.0f ? 1.0f : 0.0f; }

KERNEL add_bias_rows(const float* bias, float* y, i64 rows, i64 columns) {
    FOR_EACH(i, rows * columns) y[i] += bias[i % columns];
}

// Column sums, one thread per column, rows in order (the CPU's order).
KERNEL sum_rows(const float* x, float* out, i64 rows, i64 columns) {
    FOR_EACH(j, columns) {
        float s = 0.0f;
        for (i64 r = 0; r < rows; ++r) s += x[r * columns + j];
        out[j] = s;
    }
}

// PyTorch's SGD: g = m·(g + wd·w); v = momentum·v + g; w = m·(w − lr·v). mask may be null.
KERNEL sgd_step(float* w, const float* g, float* v, const float* mask, i64 n, float lr, float momentum, float wd) {
    FOR_EACH(i, n) {
        if (mask) {
            float m = mask[i];
            float grad = m * (g[i] + wd * w[i]);
            float vel = momentum * v[i] + grad;
            v[i] = vel;
            w[i] = m * (w[i] - lr * vel);
        } else {
            float vel = momentum * v[i] + (g[i] + wd * w[i]);
            v[i] = vel;
            w[i] -= lr * vel;
        }
    }
}

// One thread per row: loss and correctness per row (summed on the host in row order, in double);
// the gradient (softmax − onehot) / gradientRows when `gradient` is not null.
KERNEL softmax_cross_entropy(const float* logits, const int* labels, float* gradient, float* loss, float* correct,
                             i64 rows, i64 classes, float scale) {
    FOR_EACH(r, rows) {
        const float* z = logits + r * classes;
        int best = 0; float maximum = z[0];
        for (i64 j = 1; j < classes; ++j) if (z[j] > maximum) { maximum = z[j]; best = (int)j; }
        float sum = 0.0f;
        for (i64 j = 0; j < classes; ++j) sum += expf(z[j] - maximum);
        int label = labels[r];
        loss[r] = logf(sum) - (z[label] - maximum);
        correct[r] = best == label ? 1.0f : 0.0f;
        if (gradient) {
            float* d = gradient + r * classes;
            float inverse = 1.0f / sum;
            for (i64 j = 0; j < classes; ++j) d[j] = expf(z[j] - maximum) * inverse * scale;
            d[label] -= scale;
        }
    }
}

// Batch statistics of channel blockIdx.x over N × HW: mean, then the biased variance around it
// (two passes, as accurate as the CPU's).
KERNEL bn_statistics(const float* x, float* mean, float* variance, i64 batch, i64 channels, i64 plane) {
    __shared__ float shared[RTHREADS];
    i64 c = blockIdx.x, count = batch * plane;
    float s = 0.0f;
    for (i64 k = threadIdx.x; k < count; k += RTHREADS) { i64 n = k / plane, p = k % plane; s += x[(n * channels + c) * plane + p]; }
    float m = block_sum(s, shared) / (float)count;
    float q = 0.0f;
    for (i64 k = threadIdx.x; k < count; k += RTHREADS) {
        i64 n = k / plane, p = k % plane;
        float d = x[(n * channels + c) * plane + p] - m;
        q += d * d;
    }
    float v = block_sum(q, shared) / (float)count;
    if (threadIdx.x == 0) { mean[c] = m; variance[c] = v; }
}

KERNEL bn_forward(const float* x, float* y, const float* mean, const float* variance, const float* scale, const float* shift,
                  i64 n, i64 channels, i64 plane, float epsilon) {
    FOR_EACH(i, n) {
        i64 c = (i / plane) % channels;
        float inverse = 1.0f / sqrtf(variance[c] + epsilon);
        y[i] = scale[c] * (x[i] - mean[c]) * inverse + shift[c];
    }
}

// Per channel: shiftGradient = Σ dy, scaleGradient = Σ dy · x̂.
KERNEL bn_backward_reduce(const float* x, const float* dy, const float* mean, const float* variance,
                          float* scaleGradient, float* shiftGradient, i64 batch, i64 channels, i64 plane, float epsilon) {
    __shared__ float shared[RTHREADS];
    i64 c = blockIdx.x, count = batch * plane;
    float m = mean[c], inverse = 1.0f / sqrtf(variance[c] + epsilon);
    float sdy = 0.0f, sdyx = 0.0f;
    for (i64 k = threadIdx.x; k < count; k += RTHREADS) {
        i64 n = k / plane, p = k % plane, i = (n * channels + c) * plane + p;
        sdy += dy[i];
        sdyx += dy[i] * (x[i] - m);
    }
    float total = block_sum(sdy, shared);
    float totalX = block_sum(sdyx, shared);
    if (threadIdx.x == 0) { shiftGradient[c] = total; scaleGradient[c] = totalX * inverse; }
}

// dx = scale · invstd · (dy − Σdy / M − x̂ · Σ(dy·x̂) / M), M = N × HW.
KERNEL bn_backward_data(const float* x, const float* dy, float* dx, const float* mean, const float* variance, const float* scale,
                        const float* scaleGradient, const float* shiftGradient, i64 n, i64 channels, i64 plane, float epsilon,
                        float inverseCount) {
    FOR_EACH(i, n) {
        i64 c = (i / plane) % channels;
        float inverse = 1.0f / sqrtf(variance[c] + epsilon);
        float xhat = (x[i] - mean[c]) * inverse;
        dx[i] = scale[c] * inverse * (dy[i] - shiftGradient[c] * inverseCount - xhat * scaleGradient[c] * inverseCount);
    }
}

KERNEL bn_running_update(float* runningMean, float* runningVariance, const float* mean, const float* variance,
                         i64 channels, float momentum, float correction) {
    FOR_EACH(c, channels) {
        runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * mean[c];
        runningVariance[c] = (1.0f - momentum) * runningVariance[c] + momentum * variance[c] * correction;
    }
}

// Pooling over planes (N·C of them) of H × W; windows clipped to the input (padding never counts).
#define POOL_ARGS i64 planes, i64 h, i64 w, i64 oh, i64 ow, i64 kh, i64 kw, i64 sh, i64 sw, i64 pt, i64 pl

// The input rows [y0, y1) and columns [x0, x1) of output (oy, ox)'s window, clipped to the input.
__device__ void window(i64 oy, i64 ox, i64 h, i64 w, i64 kh, i64 kw, i64 sh, i64 sw, i64 pt, i64 pl,
                       i64* y0, i64* y1, i64* x0, i64* x1) {
    i64 top = oy * sh - pt, left = ox * sw - pl;
    *y0 = top > 0 ? top : 0; *y1 = top + kh < h ? top + kh : h;
    *x0 = left > 0 ? left : 0; *x1 = left + kw < w ? left + kw : w;
}

KERNEL pool_max_forward(const float* x, float* y, int* argmax, POOL_ARGS) {
    FOR_EACH(o, planes * oh * ow) {
        i64 plane = o / (oh * ow), y0, y1, x0, x1;
        window((o / ow) % oh, o % ow, h, w, kh, kw, sh, sw, pt, pl, &y0, &y1, &x0, &x1);
        const float* p = x + plane * h * w;
        float best = -INFINITY; i64 index = y0 * w + x0;
        for (i64 yy = y0; yy < y1; ++yy)
            for (i64 xx = x0; xx < x1; ++xx)
                if (p[yy * w + xx] > best) { best = p[yy * w + xx]; index = yy * w + xx; }
        y[o] = best;
        argmax[o] = (int)index;
    }
}

// Output rows whose window covers input row `y`: [first, last] (empty when first > last).
__device__ void covering(i64 y, i64 pad, i64 k, i64 s, i64 out, i64* first, i64* last) {
    i64 a = y + pad - k + 1;
    *first = a <= 0 ? 0 : (a + s - 1) / s;
    i64 b = (y + pad) / s;
    *last = b < out - 1 ? b : out - 1;
}

__device__ float window_count(i64 oy, i64 ox, i64 h, i64 w, i64 kh, i64 kw, i64 sh, i64 sw, i64 pt, i64 pl) {
    i64 y0, y1, x0, x1;
    window(oy, ox, h, w, kh, kw, sh, sw, pt, pl, &y0, &y1, &x0, &x1);
    return (float)((y1 - y0) * (x1 - x0));
}

KERNEL pool_avg_forward(const float* x, float* y, POOL_ARGS) {
    FOR_EACH(o, planes * oh * ow) {
        i64 plane = o / (oh * ow), y0, y1, x0, x1;
        window((o / ow) % oh, o % ow, h, w, kh, kw, sh, sw, pt, pl, &y0, &y1, &x0, &x1);
        const float* p = x + plane * h * w;
        float s = 0.0f;
        for (i64 yy = y0; yy < y1; ++yy)
            for (i64 xx = x0; xx < x1; ++xx) s += p[yy * w + xx];
        y[o] = s / (float)((y1 - y0) * (x1 - x0));
    }
}

// Gradients of both poolings, gathered by each input element from the windows that cover it:
// max pooling (argmax given) takes dy where it won, average pooling (argmax null) dy / window size.
KERNEL pool_backward(const float* dy, const int* argmax, float* dx, POOL_ARGS) {
    FOR_EACH(i, planes * h * w) {
        i64 plane = i / (h * w), yy = (i / w) % h, xx = i % w;
        i64 oy0, oy1, ox0, ox1;
        covering(yy, pt, kh, sh, oh, &oy0, &oy1);
        covering(xx, pl, kw, sw, ow, &ox0, &ox1);
        float s = 0.0f;
        for (i64 oy = oy0; oy <= oy1; ++oy)
            for (i64 ox = ox0; ox <= ox1; ++ox) {
                i64 o = (plane * oh + oy) * ow + ox;
                if (argmax) {
                    if (argmax[o] == yy * w + xx) s += dy[o];
                } else {
                    s += dy[o] / window_count(oy, ox, h, w, kh, kw, sh, sw, pt, pl);
                }
            }
        dx[i] = s;
    }
}

// Convolution as GEMM over a chunk of `samples` images starting at `first`. The column matrix has
// K = C·kh·kw rows (row (c·kh + i)·kw + j) and samples·P columns (P = oh·ow, column s·P + oy·ow + ox).
#define CONV_ARGS i64 channels, i64 h, i64 w, i64 kh, i64 kw, i64 sh, i64 sw, i64 pt, i64 pl, i64 oh, i64 ow, i64 first, i64 samples

KERNEL im2col(const float* x, float* col, CONV_ARGS) {
    i64 plane = oh * ow, columns = samples * plane;
    FOR_EACH(e, channels * kh * kw * columns) {
        i64 row = e / columns, column = e % columns;
        i64 c = row / (kh * kw), i = (row / kw) % kh, j = row % kw;
        i64 s = column / plane, oy = (column / ow) % oh, ox = column % ow;
        i64 yy = oy * sh - pt + i, xx = ox * sw - pl + j;
        col[e] = (yy >= 0 && yy < h && xx >= 0 && xx < w) ? x[(((first + s) * channels + c) * h + yy) * w + xx] : 0.0f;
    }
}

// The transpose of im2col: every input element of the chunk sums the column entries that read it.
KERNEL col2im(const float* col, float* dx, CONV_ARGS) {
    i64 plane = oh * ow, columns = samples * plane;
    FOR_EACH(e, samples * channels * h * w) {
        i64 s = e / (channels * h * w), c = (e / (h * w)) % channels, yy = (e / w) % h, xx = e % w;
        float total = 0.0f;
        for (i64 i = 0; i < kh; ++i) {
            i64 ty = yy + pt - i;
            if (ty < 0 || ty % sh != 0) continue;
            i64 oy = ty / sh;
            if (oy >= oh) continue;
            for (i64 j = 0; j < kw; ++j) {
                i64 tx = xx + pl - j;
                if (tx < 0 || tx % sw != 0) continue;
                i64 ox = tx / sw;
                if (ox >= ow) continue;
                total += col[((c * kh + i) * kw + j) * columns + s * plane + oy * ow + ox];
            }
        }
        dx[(first + s) * channels * h * w + (c * h + yy) * w + xx] = total;
    }
}

// [C][samples·P] (GEMM output) → NCHW rows of the chunk, adding the bias when not null.
KERNEL channel_major_to_nchw(const float* source, float* destination, const float* bias, i64 channels, i64 plane,
                             i64 first, i64 samples) {
    FOR_EACH(e, samples * channels * plane) {
        i64 s = e / (channels * plane), c = (e / plane) % channels, p = e % plane;
        float v = source[c * samples * plane + s * plane + p];
        destination[(first + s) * channels * plane + c * plane + p] = bias ? v + bias[c] : v;
    }
}

KERNEL nchw_to_channel_major(const float* source, float* destination, i64 channels, i64 plane, i64 first, i64 samples) {
    FOR_EACH(e, samples * channels * plane) {
        i64 s = e / (channels * plane), c = (e / plane) % channels, p = e % plane;
        destination[c * samples * plane + s * plane + p] = source[(first + s) * channels * plane + c * plane + p];
    }
}

// Row sums of a [rows][length] matrix, one block per row; added to `out` when `accumulateInto` is set.
KERNEL sum_channel_rows(const float* x, float* out, i64 length, int accumulateInto) {
    __shared__ float shared[RTHREADS];
    i64 r = blockIdx.x;
    float s = 0.0f;
    for (i64 k = threadIdx.x; k < length; k += RTHREADS) s += x[r * length + k];
    float total = block_sum(s, shared);
    if (threadIdx.x == 0) out[r] = accumulateInto ? out[r] + total : total;
}

// y[n][c][p] += bias[c] over the n elements of an NCHW tensor (after a library convolution).
KERNEL add_channel_bias(const float* bias, float* y, i64 channels, i64 plane, i64 n) {
    FOR_EACH(e, n) y[e] += bias[(e / plane) % channels];
}

// Per-channel sums of an NCHW tensor over N and HW (a bias gradient), one block per channel.
KERNEL sum_channels(const float* x, float* out, i64 batch, i64 channels, i64 plane) {
    __shared__ float shared[RTHREADS];
    i64 c = blockIdx.x, count = batch * plane;
    float s = 0.0f;
    for (i64 k = threadIdx.x; k < count; k += RTHREADS) { i64 n = k / plane, p = k % plane; s += x[(n * channels + c) * plane + p]; }
    float total = block_sum(s, shared);
    if (threadIdx.x == 0) out[c] = total;
}

// `planes` planes of h × w into planes of hp × wp with the plane at (top, left) and zeros around it
// (explicit padding for a library convolution that pads symmetrically only).
KERNEL pad_planes(const float* source, float* padded, i64 planes, i64 h, i64 w, i64 top, i64 left, i64 hp, i64 wp) {
    FOR_EACH(e, planes * hp * wp) {
        i64 q = e / (hp * wp), r = e % (hp * wp), y = r / wp - top, x = r % wp - left;
        padded[e] = (y >= 0 && y < h && x >= 0 && x < w) ? source[(q * h + y) * w + x] : 0.0f;
    }
}

// The inverse: the h × w plane at (top, left) of each padded plane (a padded input's gradient, cropped).
KERNEL crop_planes(const float* padded, float* destination, i64 planes, i64 h, i64 w, i64 top, i64 left, i64 hp, i64 wp) {
    FOR_EACH(e, planes * h * w) {
        i64 q = e / (h * w), r = e % (h * w);
        destination[e] = padded[(q * hp + r / w + top) * wp + r % w + left];
    }
}
"""#
}
