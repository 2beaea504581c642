// rnnbench's native CPU kernel for h_t = a_t * h_{t-1} + b_t (rnnbench.ops.linear_recurrence, form "native"),
// built at first use by rnnbench/ops/native.py. One sequential pass over time per lane, the lanes (batch x
// blocks of features) in parallel: the forward reads a and b and writes h once, the op's minimum traffic.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/util/complex.h>
#include <cmath>
#include <torch/library.h>

#if defined(__x86_64__) && defined(__GLIBC__)
// glibc's vector exp (libmvec, linked by native.py): declared as SIMD-callable so that GCC vectorises the
// gate loops without -ffast-math (glibc's own declarations need __FAST_MATH__); ~4 ulp, as Sleef's in ATen
extern "C" {
__attribute__((simd("notinbranch"))) float expf(float) noexcept;
__attribute__((simd("notinbranch"))) double exp(double) noexcept;
}
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
  static void step(const S* __restrict__ k, const S* __restrict__ v, const S* __restrict__, S* __restrict__ cur,
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
  static void back(const S* __restrict__ gp, const S* __restrict__ k, const S* __restrict__ v, const S* __restrict__,
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
  static void step(const S* __restrict__ kf, const S* __restrict__ ki, const S* __restrict__ v, S* __restrict__ cur,
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
  static void back(const S* __restrict__ gp, const S* __restrict__ kf, const S* __restrict__ ki, const S* __restrict__ v,
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

}  // namespace

TORCH_LIBRARY(RNNBENCH_NS, m) {
  m.def("linear_recurrence_forward(Tensor a, Tensor b, Tensor? h0) -> Tensor");
  m.def("linear_recurrence_backward(Tensor g, Tensor a, Tensor h, Tensor? h0, bool need_a) -> (Tensor, Tensor, Tensor)");
  m.def("mingru_forward(Tensor u, Tensor? h0) -> Tensor");
  m.def("mingru_backward(Tensor g, Tensor u, Tensor h, Tensor? h0) -> (Tensor, Tensor)");
  m.def("minlstm_forward(Tensor u, Tensor? h0) -> Tensor");
  m.def("minlstm_backward(Tensor g, Tensor u, Tensor h, Tensor? h0) -> (Tensor, Tensor)");
}

TORCH_LIBRARY_IMPL(RNNBENCH_NS, CPU, m) {
  m.impl("linear_recurrence_forward", &forward);
  m.impl("linear_recurrence_backward", &backward);
  m.impl("mingru_forward", &gated_forward<MinGRU>);
  m.impl("mingru_backward", &gated_backward<MinGRU>);
  m.impl("minlstm_forward", &gated_forward<MinLSTM>);
  m.impl("minlstm_backward", &gated_backward<MinLSTM>);
}
