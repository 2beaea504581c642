// rnnbench's native CPU kernel for h_t = a_t * h_{t-1} + b_t (rnnbench.ops.linear_recurrence, form "native"),
// built at first use by rnnbench/ops/native.py. One sequential pass over time per lane, the lanes (batch x
// blocks of features) in parallel: the forward reads a and b and writes h once, the op's minimum traffic.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/util/complex.h>
#include <cmath>
#include <vector>
#include <torch/library.h>

#if defined(__x86_64__) && defined(__GLIBC__)
// glibc's vector exp (libmvec, linked by native.py): declared as SIMD-callable so that GCC vectorises the
// gate loops without -ffast-math (glibc's own declarations need __FAST_MATH__); ~4 ulp, as Sleef's in ATen
extern "C" {
__attribute__((simd("notinbranch"))) float expf(float) noexcept;
__attribute__((simd("notinbranch"))) double exp(double) noexcept;
}
#endif

// The gate and scan steps are compiled twice, for AVX2 and for the baseline, and the loader picks by the CPU (GCC's
// function multiversioning): the exp-bound loops run 8 floats at a time where the CPU has AVX2.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RNNBENCH_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define RNNBENCH_CLONES
#endif

#ifndef RNNBENCH_NS  // the operator namespace (a test builds a planted copy under another)
#define RNNBENCH_NS rnnbench_native
#endif

namespace {

constexpr int64_t kBlock = 128;  // lanes of one task (their running state stays in L1)
constexpr int64_t kAhead = 16;   // rows prefetched ahead by the backward's descending walk

template <typename T> inline T conj_(T x) { return x; }
template <typename T> inline c10::complex<T> conj_(c10::complex<T> x) { return std::conj(x); }

// a: (Ba, Ta, F) contiguous, Ba in {1, B}, Ta in {1, T}; b: (B, T, F) contiguous; h0: (B, F) or undefined.
at::Tensor forward(const at::Tensor& a, const at::Tensor& b, const c10::optional<at::Tensor>& h0) {
  const int64_t B = b.size(0), T = b.size(1), F = b.size(2);
  const int64_t saB = a.size(0) == 1 ? 0 : a.size(1) * F, saT = a.size(1) == 1 ? 0 : F;
  at::Tensor h = at::empty_like(b);
  const int64_t nblk = (F + kBlock - 1) / kBlock;
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(b.scalar_type(), "linear_recurrence_native_forward", [&] {
    const scalar_t* A = a.const_data_ptr<scalar_t>();
    const scalar_t* X = b.const_data_ptr<scalar_t>();
    const scalar_t* H0 = h0.has_value() ? h0->const_data_ptr<scalar_t>() : nullptr;
    scalar_t* H = h.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B * nblk, 1, [&](int64_t lo, int64_t hi) {
      scalar_t cur[kBlock];
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t i = task / nblk, f0 = (task % nblk) * kBlock, w = std::min(kBlock, F - f0);
        for (int64_t f = 0; f < w; ++f) cur[f] = H0 ? H0[i * F + f0 + f] : scalar_t(0);
        const scalar_t* ap = A + i * saB + f0;
        const scalar_t* xp = X + i * T * F + f0;
        scalar_t* hp = H + i * T * F + f0;
        for (int64_t t = 0; t < T; ++t, ap += saT, xp += F, hp += F) {
          for (int64_t f = 0; f < w; ++f) {
            const scalar_t v = ap[f] * cur[f] + xp[f];
            cur[f] = v;
            hp[f] = v;
          }
        }
      }
    });
  });
  return h;
}

// The reverse scan: d_t = g_t + conj(a_{t+1}) d_{t+1}; db = d; da_t = d_t conj(h_{t-1}), summed over time
// where a is time-invariant; dh0 = conj(a_1) d_1. Returns (da (B, Ta, F), db, dh0); the caller sums da over
// the batch where a is shared by it.
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward(const at::Tensor& g, const at::Tensor& a, const at::Tensor& h,
                                                        const c10::optional<at::Tensor>& h0, bool need_a) {
  const int64_t B = g.size(0), T = g.size(1), F = g.size(2);
  const int64_t Ta = a.size(1);
  const int64_t saB = a.size(0) == 1 ? 0 : Ta * F, saT = Ta == 1 ? 0 : F;
  at::Tensor db = at::empty_like(g);
  at::Tensor da = need_a ? at::empty({B, Ta, F}, g.options()) : at::Tensor();
  at::Tensor dh0 = at::empty({B, F}, g.options());
  const int64_t nblk = (F + kBlock - 1) / kBlock;
  AT_DISPATCH_FLOATING_AND_COMPLEX_TYPES(g.scalar_type(), "linear_recurrence_native_backward", [&] {
    const scalar_t* G = g.const_data_ptr<scalar_t>();
    const scalar_t* A = a.const_data_ptr<scalar_t>();
    const scalar_t* Hs = h.const_data_ptr<scalar_t>();
    const scalar_t* H0 = h0.has_value() ? h0->const_data_ptr<scalar_t>() : nullptr;
    scalar_t* DB = db.mutable_data_ptr<scalar_t>();
    scalar_t* DA = need_a ? da.mutable_data_ptr<scalar_t>() : nullptr;
    scalar_t* DH0 = dh0.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B * nblk, 1, [&](int64_t lo, int64_t hi) {
      scalar_t d[kBlock], anext[kBlock], acc[kBlock];
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t i = task / nblk, f0 = (task % nblk) * kBlock, w = std::min(kBlock, F - f0);
        for (int64_t f = 0; f < w; ++f) { d[f] = scalar_t(0); anext[f] = scalar_t(0); acc[f] = scalar_t(0); }
        const int64_t o = i * T * F + f0;
        const scalar_t* gp = G + o + (T - 1) * F;
        const scalar_t* ap = A + i * saB + (T - 1) * saT + f0;
        const scalar_t* hp = Hs + o + (T - 2) * F;  // h_{t-1}
        scalar_t* dbp = DB + o + (T - 1) * F;
        scalar_t* dap = DA ? DA + (saT ? o + (T - 1) * F : i * F + f0) : nullptr;
        const int64_t daT = saT ? F : 0;
        // t = T-1 .. 1, where h_{t-1} is a state of this call
        for (int64_t t = T - 1; t >= 1; --t, gp -= F, ap -= saT, hp -= F, dbp -= F) {
          if (t >= kAhead) {  // descending streams: prefetched by hand (16x1024x64 float32: 4.0 -> 3.0 ms here)
            for (int64_t f = 0; f < w; f += int64_t(64 / sizeof(scalar_t))) {  // one per cache line
              __builtin_prefetch(gp - kAhead * F + f); __builtin_prefetch(ap - kAhead * saT + f);
              __builtin_prefetch(hp - kAhead * F + f); __builtin_prefetch(dbp - kAhead * F + f, 1);
              if (saT && DA) __builtin_prefetch(dap - kAhead * F + f, 1);
            }
          }
          if (!DA) {
            for (int64_t f = 0; f < w; ++f) {
              const scalar_t v = gp[f] + anext[f] * d[f];
              d[f] = v; anext[f] = conj_(ap[f]); dbp[f] = v;
            }
          } else if (saT) {
            for (int64_t f = 0; f < w; ++f) {
              const scalar_t v = gp[f] + anext[f] * d[f];
              d[f] = v; anext[f] = conj_(ap[f]); dbp[f] = v; dap[f] = v * conj_(hp[f]);
            }
            dap -= daT;
          } else {
            for (int64_t f = 0; f < w; ++f) {
              const scalar_t v = gp[f] + anext[f] * d[f];
              d[f] = v; anext[f] = conj_(ap[f]); dbp[f] = v; acc[f] += v * conj_(hp[f]);
            }
          }
        }
        // t = 0, whose previous state is h0 (zero when absent)
        const scalar_t* h0p = H0 ? H0 + i * F + f0 : nullptr;
        for (int64_t f = 0; f < w; ++f) {
          const scalar_t v = gp[f] + anext[f] * d[f];
          d[f] = v; anext[f] = conj_(ap[f]); dbp[f] = v;
          const scalar_t c = h0p ? v * conj_(h0p[f]) : scalar_t(0);
          if (DA) { if (saT) dap[f] = c; else acc[f] += c; }
          DH0[i * F + f0 + f] = anext[f] * d[f];
        }
        if (DA && !saT) for (int64_t f = 0; f < w; ++f) dap[f] = acc[f];
      }
    });
  });
  return {da, db, dh0};
}


// -- minGRU's and minLSTM's layers with their gates folded in (Feng et al. 2024, "Were RNNs All We Needed?") --
// u: the layer's projection (B, T, P*H), unit stride along its last axis, the P gate pre-activations side by side
// (minGRU: k, v; minLSTM: k_f, k_i, v); h0: (B, H) or undefined. One pass forward reads u and writes h; the
// backward recomputes the gates as it runs the reverse scan and writes du (B, T, P*H) in one piece.
// g(v) = v + 1/2 for v >= 0, sigma(v) otherwise (positive, so h stays positive from h0 = 0).
template <typename T> inline T sigmoid_(T x) { return T(1) / (T(1) + std::exp(-x)); }
template <typename T> inline T g_(T v) {
  const T s = sigmoid_(v);  // unconditionally: a call under a branch would keep the loop scalar
  return v >= T(0) ? v + T(0.5) : s;
}
// g(v) and g'(v) from one exp
template <typename T> inline void g_dg_(T v, T& g, T& dg) {
  const T s = sigmoid_(v);
  g = v >= T(0) ? v + T(0.5) : s;
  dg = v >= T(0) ? T(1) : s * (T(1) - s);
}

// The per-step loops live in these structs, outside the dispatch macro, whose arguments would drop the pragma
// (GCC moves a _Pragma out of macro arguments), so that GCC vectorises them with glibc's vector exp.
struct MinGRU {  // z = sigma(k), a = 1 - z, b = z g(v)
  static constexpr int P = 2;
  template <typename S>
  RNNBENCH_CLONES static void step(const S* __restrict__ k, const S* __restrict__ v, const S* __restrict__, S* __restrict__ cur,
                   S* __restrict__ hp, int64_t w) {
#pragma omp simd
    for (int64_t f = 0; f < w; ++f) {
      const S z = sigmoid_(k[f]);
      const S c = (S(1) - z) * cur[f] + z * g_(v[f]);  // the reference's a h + b
      cur[f] = c;
      hp[f] = c;
    }
  }
  // d_t = g_t + a_{t+1} d_{t+1}; dk = d (g(v) - h_{t-1}) z (1 - z); dv = d z g'(v)
  template <typename S>
  RNNBENCH_CLONES static void back(const S* __restrict__ gp, const S* __restrict__ k, const S* __restrict__ v, const S* __restrict__,
                   const S* __restrict__ hprev, S* __restrict__ d, S* __restrict__ anext, S* __restrict__ dk,
                   S* __restrict__ dv, S* __restrict__, int64_t w) {
#pragma omp simd
    for (int64_t f = 0; f < w; ++f) {
      const S z = sigmoid_(k[f]);
      S gv, dgv;
      g_dg_(v[f], gv, dgv);
      const S delta = gp[f] + anext[f] * d[f];
      d[f] = delta;
      anext[f] = S(1) - z;
      dk[f] = delta * (gv - hprev[f]) * z * (S(1) - z);
      dv[f] = delta * z * dgv;
    }
  }
};

struct MinLSTM {  // f = sigma(k_f), i = sigma(k_i), a = f / (f + i), b = i / (f + i) g(v)
  static constexpr int P = 3;
  template <typename S>
  RNNBENCH_CLONES static void step(const S* __restrict__ kf, const S* __restrict__ ki, const S* __restrict__ v, S* __restrict__ cur,
                   S* __restrict__ hp, int64_t w) {
#pragma omp simd
    for (int64_t f = 0; f < w; ++f) {
      const S fg = sigmoid_(kf[f]), ig = sigmoid_(ki[f]);
      const S total = fg + ig;
      const S c = (fg / total) * cur[f] + (ig / total) * g_(v[f]);  // the reference's a h + b
      cur[f] = c;
      hp[f] = c;
    }
  }
  // with s = f + i, da = d h_{t-1}, db = d: df = i (da - db g(v)) / s^2, di = f (db g(v) - da) / s^2,
  // dk_f = df f (1 - f), dk_i = di i (1 - i), dv = db (i / s) g'(v)
  template <typename S>
  RNNBENCH_CLONES static void back(const S* __restrict__ gp, const S* __restrict__ kf, const S* __restrict__ ki, const S* __restrict__ v,
                   const S* __restrict__ hprev, S* __restrict__ d, S* __restrict__ anext, S* __restrict__ dkf,
                   S* __restrict__ dki, S* __restrict__ dv, int64_t w) {
#pragma omp simd
    for (int64_t f = 0; f < w; ++f) {
      const S fg = sigmoid_(kf[f]), ig = sigmoid_(ki[f]);
      const S r = S(1) / (fg + ig);
      S gv, dgv;
      g_dg_(v[f], gv, dgv);
      const S delta = gp[f] + anext[f] * d[f];
      d[f] = delta;
      anext[f] = fg * r;
      const S e = (delta * hprev[f] - delta * gv) * r * r;  // (da - db g(v)) / s^2
      dkf[f] = ig * e * fg * (S(1) - fg);
      dki[f] = -fg * e * ig * (S(1) - ig);
      dv[f] = delta * ig * r * dgv;
    }
  }
};

template <typename Gate>
at::Tensor gated_forward(const at::Tensor& u, const c10::optional<at::Tensor>& h0) {
  TORCH_CHECK(u.dim() == 3 && u.stride(2) == 1 && u.size(2) % Gate::P == 0, "gated_forward: u must be (B, T, P*H), unit stride");
  const int64_t B = u.size(0), T = u.size(1), F = u.size(2) / Gate::P, suB = u.stride(0), suT = u.stride(1);
  at::Tensor h = at::empty({B, T, F}, u.options());
  const int64_t nblk = (F + kBlock - 1) / kBlock;
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "gated_native_forward", [&] {
    const scalar_t* U = u.const_data_ptr<scalar_t>();
    const scalar_t* H0 = h0.has_value() ? h0->const_data_ptr<scalar_t>() : nullptr;
    scalar_t* H = h.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B * nblk, 1, [&](int64_t lo, int64_t hi) {
      scalar_t cur[kBlock];
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t i = task / nblk, f0 = (task % nblk) * kBlock, w = std::min(kBlock, F - f0);
        for (int64_t f = 0; f < w; ++f) cur[f] = H0 ? H0[i * F + f0 + f] : scalar_t(0);
        const scalar_t* up = U + i * suB + f0;
        scalar_t* hp = H + i * T * F + f0;
        for (int64_t t = 0; t < T; ++t, up += suT, hp += F) {
          Gate::step(up, up + F, Gate::P > 2 ? up + 2 * F : nullptr, cur, hp, w);
        }
      }
    });
  });
  return h;
}

template <typename Gate>
std::tuple<at::Tensor, at::Tensor> gated_backward(const at::Tensor& g, const at::Tensor& u, const at::Tensor& h,
                                                  const c10::optional<at::Tensor>& h0) {
  const int64_t B = u.size(0), T = u.size(1), F = u.size(2) / Gate::P, suB = u.stride(0), suT = u.stride(1);
  const int64_t PF = Gate::P * F;
  at::Tensor du = at::empty({B, T, PF}, u.options());
  at::Tensor dh0 = at::empty({B, F}, u.options());
  const int64_t nblk = (F + kBlock - 1) / kBlock;
  AT_DISPATCH_FLOATING_TYPES(u.scalar_type(), "gated_native_backward", [&] {
    const scalar_t* G = g.const_data_ptr<scalar_t>();
    const scalar_t* U = u.const_data_ptr<scalar_t>();
    const scalar_t* Hs = h.const_data_ptr<scalar_t>();
    const scalar_t* H0 = h0.has_value() ? h0->const_data_ptr<scalar_t>() : nullptr;
    scalar_t* DU = du.mutable_data_ptr<scalar_t>();
    scalar_t* DH0 = dh0.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, B * nblk, 1, [&](int64_t lo, int64_t hi) {
      scalar_t d[kBlock], anext[kBlock], zero[kBlock];
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t i = task / nblk, f0 = (task % nblk) * kBlock, w = std::min(kBlock, F - f0);
        for (int64_t f = 0; f < w; ++f) { d[f] = scalar_t(0); anext[f] = scalar_t(0); zero[f] = scalar_t(0); }
        const int64_t o = i * T * F + f0;
        for (int64_t t = T - 1; t >= 0; --t) {
          const scalar_t* gp = G + o + t * F;
          const scalar_t* up = U + i * suB + t * suT + f0;
          const scalar_t* hp = t > 0 ? Hs + o + (t - 1) * F : (H0 ? H0 + i * F + f0 : zero);
          scalar_t* dup = DU + (i * T + t) * PF + f0;
          if (t >= kAhead) {  // descending streams, prefetched by hand as in the linear backward
            for (int64_t f = 0; f < w; f += int64_t(64 / sizeof(scalar_t))) {
              __builtin_prefetch(gp - kAhead * F + f); __builtin_prefetch(hp - kAhead * F + f);
              for (int p = 0; p < Gate::P; ++p) {
                __builtin_prefetch(up - kAhead * suT + p * F + f); __builtin_prefetch(dup - kAhead * PF + p * F + f, 1);
              }
            }
          }
          Gate::back(gp, up, up + F, Gate::P > 2 ? up + 2 * F : nullptr, hp, d, anext, dup, dup + F,
                     Gate::P > 2 ? dup + 2 * F : nullptr, w);
        }
        for (int64_t f = 0; f < w; ++f) DH0[i * F + f0 + f] = anext[f] * d[f];
      }
    });
  });
  return {du, dh0};
}

// -- Mamba-1's selective scan (Gu & Dao 2023; rnnbench.ops.selective_scan, form "native") --
// h_t = dA_t h_{t-1} + D_t x_t B_t (per channel d, N states), dA_t = exp(D_t A_d) (neg: 2 exp(D_t A_d) - 1), y_t = C_t . h_t
// (D_t: the step size delta). x, delta: (Bt, T, D); At: A transposed, (N, D); B, C: (Bt, T, N); h0: (Bt, N, D) or
// undefined; all contiguous, states held as (N, D) so that the loops run along the channels. The forward keeps only
// the state entering every kScanChunk steps; the backward reruns each chunk from it (its states and decays in a
// buffer) and walks it in reverse: what the CUDA kernel does in registers.
constexpr int64_t kScanChunk = 16;
constexpr int64_t kChannels = 64;  // channels of one task

// One step of w channels: h (N rows of w) in place from dt, x (w each) and the step's B and C (N each); writes y (w).
// Outside the dispatch macro, as the gated layers' loops are.
template <typename S>
RNNBENCH_CLONES void scan_step(const S* __restrict__ At, int64_t D, const S* __restrict__ b, const S* __restrict__ c,
                      const S* __restrict__ dt, const S* __restrict__ xv, S* __restrict__ h, S* __restrict__ y, int64_t N,
                      int64_t w, bool neg) {
  for (int64_t d = 0; d < w; ++d) y[d] = S(0);
  // neg: 2 exp - 1, else exp (times 1 plus 0, exact); a select on neg inside the loop would keep it scalar
  const S scale = neg ? S(2) : S(1), shift = neg ? S(-1) : S(0);
  for (int64_t n = 0; n < N; ++n) {
    const S* __restrict__ a = At + n * D;
    S* __restrict__ hn = h + n * w;
    const S bn = b[n], cn = c[n];
#pragma omp simd
    for (int64_t d = 0; d < w; ++d) {
      const S e = std::exp(dt[d] * a[d]);
      const S dA = e * scale + shift;
      const S v = dA * hn[d] + dt[d] * xv[d] * bn;
      hn[d] = v;
      y[d] += cn * v;
    }
  }
}

// The backward's rerun of one step: h_out and the decays dA_out (N rows of w each) from h_in; no output.
template <typename S>
RNNBENCH_CLONES void scan_rerun_step(const S* __restrict__ At, int64_t D, const S* __restrict__ b, const S* __restrict__ dt,
                            const S* __restrict__ xv, const S* __restrict__ h_in, S* __restrict__ h_out,
                            S* __restrict__ dA_out, int64_t N, int64_t w, bool neg) {
  const S scale = neg ? S(2) : S(1), shift = neg ? S(-1) : S(0);
  for (int64_t n = 0; n < N; ++n) {
    const S* __restrict__ a = At + n * D;
    const int64_t o = n * w;
    const S bn = b[n];
#pragma omp simd
    for (int64_t d = 0; d < w; ++d) {
      const S e = std::exp(dt[d] * a[d]);
      const S dA = e * scale + shift;
      h_out[o + d] = dA * h_in[o + d] + dt[d] * xv[d] * bn;
      dA_out[o + d] = dA;
    }
  }
}

// One reverse step of w channels: the adjoint dl (delta_t from delta_{t+1}, whose decay is dn), dC_t and dB_t (summed
// over the channels), dA (accumulated), and dx, dDelta for the step.
template <typename S>
RNNBENCH_CLONES void scan_back_step(const S* __restrict__ At, int64_t D, const S* __restrict__ b, const S* __restrict__ c,
                           const S* __restrict__ g, const S* __restrict__ dt, const S* __restrict__ xv,
                           const S* __restrict__ h, const S* __restrict__ hp, const S* __restrict__ dAt,
                           S* __restrict__ dl, const S* __restrict__ dn, S* __restrict__ dc, S* __restrict__ db,
                           S* __restrict__ da, int64_t dstride, S* __restrict__ sum_ax, S* __restrict__ sum_db,
                           int64_t N, int64_t w, bool neg) {
  for (int64_t d = 0; d < w; ++d) { sum_ax[d] = S(0); sum_db[d] = S(0); }
  for (int64_t n = 0; n < N; ++n) {
    const S* __restrict__ a = At + n * D;
    const int64_t o = n * w;
    S* __restrict__ dan = da + n * dstride;
    const S bn = b[n], cn = c[n];
    S acc_c = 0, acc_b = 0;
    const S plus = neg ? S(1) : S(0);  // d(2 exp - 1) = 2 exp = dA + 1; exact (+0) without neg
#pragma omp simd reduction(+ : acc_c, acc_b)
    for (int64_t d = 0; d < w; ++d) {
      const S dlt = cn * g[d] + dn[o + d] * dl[o + d];
      dl[o + d] = dlt;
      acc_c += h[o + d] * g[d];
      const S X = dlt * (dAt[o + d] + plus) * hp[o + d];
      sum_ax[d] += a[d] * X;
      sum_db[d] += dlt * bn;
      acc_b += dlt * dt[d] * xv[d];
      dan[d] += dt[d] * X;
    }
    dc[n] += acc_c;
    db[n] += acc_b;
  }
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> selective_forward(const at::Tensor& x, const at::Tensor& delta,
                                                                  const at::Tensor& At, const at::Tensor& Bm,
                                                                  const at::Tensor& Cm, const c10::optional<at::Tensor>& h0,
                                                                  bool neg) {
  const int64_t Bt = x.size(0), T = x.size(1), D = x.size(2), N = At.size(0);
  const int64_t nc = (T + kScanChunk - 1) / kScanChunk, nblk = (D + kChannels - 1) / kChannels;
  at::Tensor y = at::empty({Bt, T, D}, x.options());
  at::Tensor hT = at::empty({Bt, N, D}, x.options());
  at::Tensor entering = at::empty({Bt, nc, N, D}, x.options());  // the state entering each chunk
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "selective_native_forward", [&] {
    const scalar_t *X = x.const_data_ptr<scalar_t>(), *DL = delta.const_data_ptr<scalar_t>();
    const scalar_t *AT = At.const_data_ptr<scalar_t>(), *BB = Bm.const_data_ptr<scalar_t>(), *CC = Cm.const_data_ptr<scalar_t>();
    const scalar_t* H0 = h0.has_value() ? h0->const_data_ptr<scalar_t>() : nullptr;
    scalar_t *Y = y.mutable_data_ptr<scalar_t>(), *HT = hT.mutable_data_ptr<scalar_t>(), *E = entering.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, Bt * nblk, 1, [&](int64_t lo, int64_t hi) {
      std::vector<scalar_t> h(N * kChannels);
      for (int64_t task = lo; task < hi; ++task) {
        const int64_t i = task / nblk, d0 = (task % nblk) * kChannels, w = std::min(kChannels, D - d0);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t d = 0; d < w; ++d) h[n * w + d] = H0 ? H0[(i * N + n) * D + d0 + d] : scalar_t(0);
        for (int64_t t = 0; t < T; ++t) {
          if (t % kScanChunk == 0) {
            scalar_t* e = E + (i * nc + t / kScanChunk) * N * D + d0;
            for (int64_t n = 0; n < N; ++n) std::copy(h.data() + n * w, h.data() + (n + 1) * w, e + n * D);
          }
          const int64_t r = i * T + t;
          scan_step(AT + d0, D, BB + r * N, CC + r * N, DL + r * D + d0, X + r * D + d0, h.data(), Y + r * D + d0, N, w, neg);
        }
        for (int64_t n = 0; n < N; ++n) std::copy(h.data() + n * w, h.data() + (n + 1) * w, HT + (i * N + n) * D + d0);
      }
    });
  });
  return {y, hT, entering};
}

// With delta_t = dL/dh_t = C_t gy_t + dA_{t+1} delta_{t+1} and X_t = delta_t dA'_t h_{t-1} (dA' = exp(D_t A), or 2 exp(D_t A)
// with neg): dC_t = sum_d h_t gy_t, dDelta_t = sum_n A X_t + x_t (delta_t . B_t), dx_t = D_t (delta_t . B_t),
// dB_t = sum_d delta_t D_t x_t, dA = sum_t D_t X_t (per sequence, (Bt, N, D): the caller sums it), dh0 = dA_1 delta_1.
// One task per sequence, its channel blocks in turn, so that dB and dC (shared by the channels) need no atomics.
std::vector<at::Tensor> selective_backward(const at::Tensor& gy, const at::Tensor& ghT, const at::Tensor& x,
                                           const at::Tensor& delta, const at::Tensor& At, const at::Tensor& Bm,
                                           const at::Tensor& Cm, const at::Tensor& entering, bool neg) {
  const int64_t Bt = x.size(0), T = x.size(1), D = x.size(2), N = At.size(0);
  const int64_t nc = entering.size(1), nblk = (D + kChannels - 1) / kChannels;
  at::Tensor dx = at::empty_like(x), ddelta = at::empty_like(x), dA = at::zeros({Bt, N, D}, x.options());
  at::Tensor dB = at::zeros_like(Bm), dC = at::zeros_like(Cm), dh0 = at::empty({Bt, N, D}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "selective_native_backward", [&] {
    const scalar_t *GY = gy.const_data_ptr<scalar_t>(), *GH = ghT.const_data_ptr<scalar_t>();
    const scalar_t *X = x.const_data_ptr<scalar_t>(), *DL = delta.const_data_ptr<scalar_t>();
    const scalar_t *AT = At.const_data_ptr<scalar_t>(), *BB = Bm.const_data_ptr<scalar_t>(), *CC = Cm.const_data_ptr<scalar_t>();
    const scalar_t* E = entering.const_data_ptr<scalar_t>();
    scalar_t *DX = dx.mutable_data_ptr<scalar_t>(), *DDL = ddelta.mutable_data_ptr<scalar_t>(), *DA = dA.mutable_data_ptr<scalar_t>();
    scalar_t *DB = dB.mutable_data_ptr<scalar_t>(), *DC = dC.mutable_data_ptr<scalar_t>(), *DH0 = dh0.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, Bt, 1, [&](int64_t lo, int64_t hi) {
      const int64_t NW = N * kChannels;
      // per channel block: the adjoint and the decay of the step after (kept across chunks), the rerun chunk
      std::vector<scalar_t> adj(nblk * NW), dA_next(nblk * NW), hbuf((kScanChunk + 1) * NW), dAbuf(kScanChunk * NW);
      std::vector<scalar_t> sum_ax(kChannels), sum_db(kChannels);
      for (int64_t i = lo; i < hi; ++i) {
        for (int64_t k = 0; k < nblk; ++k) {
          const int64_t d0 = k * kChannels, w = std::min(kChannels, D - d0);
          for (int64_t n = 0; n < N; ++n)
            std::copy(GH + (i * N + n) * D + d0, GH + (i * N + n) * D + d0 + w, adj.data() + k * NW + n * w);
        }
        std::fill(dA_next.begin(), dA_next.end(), scalar_t(1));  // delta_{T-1} = C gy + 1 * dL/dh_T
        for (int64_t c = nc - 1; c >= 0; --c) {
          const int64_t t0 = c * kScanChunk, t1 = std::min(T, t0 + kScanChunk);
          for (int64_t k = 0; k < nblk; ++k) {
            const int64_t d0 = k * kChannels, w = std::min(kChannels, D - d0), nw = N * w;
            // rerun the chunk: hbuf row j = h_{t0 + j - 1}, dAbuf row j = dA_{t0 + j}
            const scalar_t* e = E + (i * nc + c) * N * D + d0;
            for (int64_t n = 0; n < N; ++n) std::copy(e + n * D, e + n * D + w, hbuf.data() + n * w);
            for (int64_t t = t0; t < t1; ++t) {
              const int64_t r = i * T + t, j = t - t0;
              scan_rerun_step(AT + d0, D, BB + r * N, DL + r * D + d0, X + r * D + d0, hbuf.data() + j * nw,
                              hbuf.data() + (j + 1) * nw, dAbuf.data() + j * nw, N, w, neg);
            }
            scalar_t* after = dA_next.data() + k * NW;  // dA of the step after this chunk (1 after the last)
            for (int64_t t = t1 - 1; t >= t0; --t) {
              const int64_t r = i * T + t, j = t - t0;
              scan_back_step(AT + d0, D, BB + r * N, CC + r * N, GY + r * D + d0, DL + r * D + d0, X + r * D + d0,
                             hbuf.data() + (j + 1) * nw, hbuf.data() + j * nw, dAbuf.data() + j * nw, adj.data() + k * NW,
                             t + 1 < t1 ? dAbuf.data() + (j + 1) * nw : after, DC + r * N, DB + r * N, DA + i * N * D + d0, D,
                             sum_ax.data(), sum_db.data(), N, w, neg);
              for (int64_t d = 0; d < w; ++d) {
                const scalar_t xv = X[r * D + d0 + d], dt = DL[r * D + d0 + d];
                DDL[r * D + d0 + d] = sum_ax[d] + xv * sum_db[d];
                DX[r * D + d0 + d] = dt * sum_db[d];
              }
            }
            std::copy(dAbuf.data(), dAbuf.data() + nw, after);  // for the previous chunk's last step
          }
        }
        for (int64_t k = 0; k < nblk; ++k) {
          const int64_t d0 = k * kChannels, w = std::min(kChannels, D - d0);
          for (int64_t n = 0; n < N; ++n)
            for (int64_t d = 0; d < w; ++d)
              DH0[(i * N + n) * D + d0 + d] = dA_next[k * NW + n * w + d] * adj[k * NW + n * w + d];
        }
      }
    });
  });
  return {dx, ddelta, dA, dB, dC, dh0};
}
}  // namespace

TORCH_LIBRARY(RNNBENCH_NS, m) {
  m.def("linear_recurrence_forward(Tensor a, Tensor b, Tensor? h0) -> Tensor");
  m.def("linear_recurrence_backward(Tensor g, Tensor a, Tensor h, Tensor? h0, bool need_a) -> (Tensor, Tensor, Tensor)");
  m.def("mingru_forward(Tensor u, Tensor? h0) -> Tensor");
  m.def("mingru_backward(Tensor g, Tensor u, Tensor h, Tensor? h0) -> (Tensor, Tensor)");
  m.def("minlstm_forward(Tensor u, Tensor? h0) -> Tensor");
  m.def("minlstm_backward(Tensor g, Tensor u, Tensor h, Tensor? h0) -> (Tensor, Tensor)");
  m.def("selective_forward(Tensor x, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? h0, bool neg) -> (Tensor, Tensor, Tensor)");
  m.def("selective_backward(Tensor gy, Tensor ghT, Tensor x, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor entering, bool neg) -> Tensor[]");
}

TORCH_LIBRARY_IMPL(RNNBENCH_NS, CPU, m) {
  m.impl("linear_recurrence_forward", &forward);
  m.impl("linear_recurrence_backward", &backward);
  m.impl("mingru_forward", &gated_forward<MinGRU>);
  m.impl("mingru_backward", &gated_backward<MinGRU>);
  m.impl("minlstm_forward", &gated_forward<MinLSTM>);
  m.impl("minlstm_backward", &gated_backward<MinLSTM>);
  m.impl("selective_forward", &selective_forward);
  m.impl("selective_backward", &selective_backward);
}
