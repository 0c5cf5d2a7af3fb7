/*
 * elem.h - the float per-element operations (elem_* functions) shared by
 * the C reference and the OpenCL kernels; the bodies are in elem_body.h.
 *
 * Compiles as C11 and as OpenCL C 1.2. In OpenCL, build the program with
 * the tree's top directory on the include path (or hand clCompileProgram
 * the headers "kernels/fmath.h", "kernels/ref/elem_body.h" and this one
 * as embedded headers under those names), then
 *   #include "kernels/ref/elem.h"
 * gives elem_matmul_fwd() and friends with __global pointer arguments.
 * docs/ENGINE.md is the prose version of the orders fixed here.
 */
#ifndef AGORA_KERNELS_REF_ELEM_H
#define AGORA_KERNELS_REF_ELEM_H

#ifndef AGORA_KERNELS_FMATH_H
#include "kernels/fmath.h"
#endif

/* Elements per chunk of the two-level gradient-norm reduction: a constant
 * of the format, never a device property. */
#ifndef ELEM_NORM_CHUNK
#define ELEM_NORM_CHUNK 4096
#endif

#define EL_T            float
#define EL_(name)       elem_##name
#define EL_G            AGORA_GLOBAL
#define EL_FMA(a, b, c) FMATH_FMA(a, b, c)
#define EL_EXP(x)       fmath_exp(x)
#define EL_LOG(x)       fmath_log(x)
#define EL_RECIP(x)     fmath_recip(x)
#define EL_RSQRT(x)     fmath_rsqrt(x)
#define EL_SQRT(x)      fmath_sqrt(x)
#define EL_DIV(a, b)    fmath_div(a, b)

#include "kernels/ref/elem_body.h"

#undef EL_T
#undef EL_
#undef EL_G
#undef EL_FMA
#undef EL_EXP
#undef EL_LOG
#undef EL_RECIP
#undef EL_RSQRT
#undef EL_SQRT
#undef EL_DIV

#endif
