/*
 * gemm.cl - deterministic matrix multiply, two variants, one k order.
 *
 * C[m][n] = epilogue(init + sum_k A(m,k) * B(k,n)) where the sum runs
 * k = 0, 1, ..., K-1 in order, one fma() per term:
 *     acc = init;  for k: acc = fma(A(m,k), B(k,n), acc);
 * so every output element has one fixed rounding sequence, whatever the
 * tiling, vector width or work-group size. A is addressed with two strides
 * (A(m,k) = A[a_off + m*sam + k*sak], so A may be transposed for free);
 * B is row-major (B(k,n) = B[b_off + k*ldb + n]) and C is row-major.
 *
 * mode bits: GEMM_INIT_BIAS (init = bias[n]), GEMM_INIT_C (init = C[m][n]),
 * else init = 0; GEMM_ADD_BIAS (C = acc + bias[n]) and GEMM_ADD_C
 * (C = C + acc; ignored when GEMM_ADD_BIAS is set) are applied after the
 * sum, in separate statements.
 *
 * gemm_rb: barrier-free, register-blocked, for CPUs: one work-item
 * computes GEMM_RM rows x 16 columns as 16-wide vectors. Launched as a 2-D
 * range (ceil(N/16), ceil(M/GEMM_RM)), any local size; items past the
 * edge return. Tiles that cross the edge take a scalar path with the same
 * k order.
 *
 * gemm_tiled: local-memory tiles of GEMM_TS x GEMM_TS for GPUs; the local
 * size is fixed (GEMM_TS, GEMM_TS) and the global size rounded up to whole
 * groups, so no group is partial; every item runs the same number of
 * barriers.
 */
#pragma OPENCL FP_CONTRACT OFF

#define GEMM_INIT_BIAS 1
#define GEMM_INIT_C 2
#define GEMM_ADD_BIAS 4
#define GEMM_ADD_C 8
#define GEMM_RM 16
#define GEMM_TS 16

static float gemm_init(int mode, __global const float *bias, __global const float *C,
		       int ci, int n)
{
	if (mode & GEMM_INIT_BIAS)
		return bias[n];
	if (mode & GEMM_INIT_C)
		return C[ci];
	return 0.0f;
}

static void gemm_store(int mode, __global const float *bias, __global float *C, int ci,
		       int n, float acc)
{
	float out = acc;

	if (mode & GEMM_ADD_BIAS)
		out = acc + bias[n];
	else if (mode & GEMM_ADD_C)
		out = C[ci] + acc;
	C[ci] = out;
}

/* One output element, the reference order: used on ragged edges. */
static void gemm_one(int m, int n, int K, __global const float *A, int a_off, int sam,
		     int sak, __global const float *B, int b_off, int ldb, __global float *C,
		     int c_off, int ldc, __global const float *bias, int mode)
{
	int ci = c_off + m * ldc + n;
	float acc = gemm_init(mode, bias, C, ci, n);
	__global const float *a = A + a_off + m * sam;
	__global const float *b = B + b_off + n;

	for (int k = 0; k < K; k++)
		acc = fma(a[k * sak], b[k * ldb], acc);
	gemm_store(mode, bias, C, ci, n, acc);
}

__kernel void gemm_rb(int M, int N, int K, __global const float *A, int a_off, int sam,
		      int sak, __global const float *B, int b_off, int ldb, __global float *C,
		      int c_off, int ldc, __global const float *bias, int mode)
{
	int n0 = (int)get_global_id(0) * 16;
	int m0 = (int)get_global_id(1) * GEMM_RM;
	float16 acc[GEMM_RM];

	if (n0 >= N || m0 >= M)
		return;
	if (n0 + 16 > N || m0 + GEMM_RM > M) {
		for (int m = m0; m < min(m0 + GEMM_RM, M); m++)
			for (int n = n0; n < min(n0 + 16, N); n++)
				gemm_one(m, n, K, A, a_off, sam, sak, B, b_off, ldb, C, c_off,
					 ldc, bias, mode);
		return;
	}
	__global const float *a = A + a_off + m0 * sam;
	__global const float *b = B + b_off + n0;
	__global float *c = C + c_off + m0 * ldc + n0;
	float16 init = (float16)(0.0f);
	if (mode & GEMM_INIT_BIAS)
		init = vload16(0, bias + n0);
#pragma unroll
	for (int r = 0; r < GEMM_RM; r++)
		acc[r] = (mode & GEMM_INIT_C) ? vload16(0, c + r * ldc) : init;
	for (int k = 0; k < K; k++) {
		float16 bv = vload16(0, b + k * ldb);
		__global const float *ak = a + k * sak;
#pragma unroll
		for (int r = 0; r < GEMM_RM; r++)
			acc[r] = fma((float16)(ak[r * sam]), bv, acc[r]);
	}
	float16 post = (float16)(0.0f);
	if (mode & GEMM_ADD_BIAS)
		post = vload16(0, bias + n0);
#pragma unroll
	for (int r = 0; r < GEMM_RM; r++) {
		float16 out = acc[r];
		if (mode & GEMM_ADD_BIAS)
			out = acc[r] + post;
		else if (mode & GEMM_ADD_C)
			out = vload16(0, c + r * ldc) + acc[r];
		vstore16(out, 0, c + r * ldc);
	}
}

__kernel __attribute__((reqd_work_group_size(GEMM_TS, GEMM_TS, 1))) void
gemm_tiled(int M, int N, int K, __global const float *A, int a_off, int sam, int sak,
	   __global const float *B, int b_off, int ldb, __global float *C, int c_off, int ldc,
	   __global const float *bias, int mode)
{
	__local float as[GEMM_TS][GEMM_TS + 1];
	__local float bs[GEMM_TS][GEMM_TS + 1];
	int tx = (int)get_local_id(0), ty = (int)get_local_id(1);
	int n = (int)get_group_id(0) * GEMM_TS + tx;
	int m = (int)get_group_id(1) * GEMM_TS + ty;
	int ci = c_off + m * ldc + n;
	int live = m < M && n < N;
	float acc = live ? gemm_init(mode, bias, C, ci, n) : 0.0f;
	int tiles = (K + GEMM_TS - 1) / GEMM_TS;

	for (int t = 0; t < tiles; t++) {
		int ka = t * GEMM_TS + tx, kb = t * GEMM_TS + ty;
		/* as[ty][tx] = A(m, ka); bs[ty][tx] = B(kb, n) */
		as[ty][tx] = (m < M && ka < K) ? A[a_off + m * sam + ka * sak] : 0.0f;
		bs[ty][tx] = (kb < K && n < N) ? B[b_off + kb * ldb + n] : 0.0f;
		barrier(CLK_LOCAL_MEM_FENCE);
		int kend = min(GEMM_TS, K - t * GEMM_TS);
		for (int kk = 0; kk < kend; kk++)
			acc = fma(as[ty][kk], bs[kk][tx], acc);
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	if (live)
		gemm_store(mode, bias, C, ci, n, acc);
}

/* dst (cols x rows) = transpose of src (rows x cols); exact data moves. */
__kernel void transpose(int rows, int cols, __global const float *src, int s_off,
			__global float *dst, int d_off)
{
	int c = (int)get_global_id(0), r = (int)get_global_id(1);

	if (r < rows && c < cols)
		dst[d_off + c * rows + r] = src[s_off + r * cols + c];
}
