/*
 * elem_double.h - the double-precision twins (elemd_* functions) of the
 * per-element operations in elem_body.h, for gradient checks only.
 *
 * Same text, same order as the float versions, with EL_T = double and
 * libm's exp, log, sqrt and true division in place of the fmath functions.
 * C only; never part of a kernel.
 */
#ifndef AGORA_KERNELS_REF_ELEM_DOUBLE_H
#define AGORA_KERNELS_REF_ELEM_DOUBLE_H

#include <math.h>

#include "kernels/ref/elem.h"

#define EL_T      double
#define EL_(name) elemd_##name
#define EL_G
#define EL_FMA(a, b, c) fma(a, b, c)
#define EL_EXP(x)       exp(x)
#define EL_LOG(x)       log(x)
#define EL_RECIP(x)     (1.0 / (x))
#define EL_RSQRT(x)     (1.0 / sqrt(x))
#define EL_SQRT(x)      sqrt(x)
#define EL_DIV(a, b)    ((a) / (b))

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
