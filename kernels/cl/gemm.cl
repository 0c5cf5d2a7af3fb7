/*
 * gemm.cl - deterministic matrix multiply, two variants, one k order.
 *
 * C[m][n] = epilogue(init + sum_k A(m,k) * B(k,n)) where the sum runs
 * k = 0, 1, ..., K-1 in order, one fma() per term:
 *     acc = init;  for k: acc = fma(A(m,k), B(k,n), acc);
 * so every output element has one fixed rounding sequence, whatever the
 * tiling, vector width or work-group size. A and B are addressed with two
 * strides each (A(m,k) = A[a_off + m*sam + k*sak], B(k,n) =
 * B[b_off + k*sbk + n*sbn]), so either may be transposed for free; C is
 * row-major with leading dimension ldc.
 *
 * mode bits: GEMM_INIT_BIAS (init = bias[n]), GEMM_INIT_C (init = C[m][n]),
 * else init = 0; GEMM_ADD_BIAS (C = acc + bias[n]) and GEMM_ADD_C
 * (C = C + acc; ignored when GEMM_ADD_BIAS is set) are applied after the
 * sum, in separate statements. bias[n] means bias[bias_off + n].
 *
 * gemm_rb: barrier-free, register-blocked, for CPUs. gemm_pack_a and
 * gemm_pack_b first copy A and B into zero-padded panels of rm rows / rn
 * columns laid out k-major (exact copies), so the multiply streams both
 * sequentially; then one work-item computes an 8 x 32 block in sixteen
 * 16-wide vector accumulators, each A value loaded once per k and
 * broadcast. Any local size; items past the edge return. (Measured on
 * AVX-512 PoCL: 8 x 32 beats 16 x 16, whose per-row lane broadcasts
 * compete with the fmas for the shuffle port.)
 *
 * gemm_rb_narrow: the same for 8-wide SIMD (AVX2: 16 vector registers,
 * where gemm_rb's 32 accumulator halves spill): a 6 x 16 block in six
 * 16-wide accumulators, i.e. twelve 8-wide registers, the classic AVX2
 * micro-kernel shape.
 *
 * gemm_tiled: for GPUs, local-memory tiles: a group of 16 x 16 items
 * computes a 64 x 64 block of C (4 x 4 outputs per item) through tiles of
 * 16 k; the local size is fixed and the global size rounded up to whole
 * groups, so no group is partial; every item runs the same number of
 * barriers.
 */
#pragma OPENCL FP_CONTRACT OFF

#define GEMM_INIT_BIAS 1
#define GEMM_INIT_C 2
#define GEMM_ADD_BIAS 4
#define GEMM_ADD_C 8
#define GEMM_RM 8 /* gemm_rb's block: rows (gemm_pack_a moves 8 with vload8) */
#define GEMM_RN 32 /* and columns */
#define GEMM_NM 6 /* gemm_rb_narrow's block: rows */
#define GEMM_NN 16 /* and columns */
#define GEMM_TS 16 /* gemm_tiled: items per side of a group, k per tile */
#define GEMM_TB 64 /* gemm_tiled: rows and columns of C per group */

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

/* Packs A into panels of rm rows, k-major: Ap[(p*K + k)*rm + r] =
 * A(p*rm + r, k), zero past row M (exact copies). Range (K, ceil(M/rm)):
 * one work-item moves one k of one panel, rm floats, k fastest across
 * items so that a row-major A (sak == 1) is read unit-stride; with A
 * stored transposed (sam == 1) a full panel of 8 moves as one vload8.
 * No division by the panel size (a kernel argument, so not a shift):
 * per element it cost as much as the copy. */
__kernel void gemm_pack_a(int M, int K, __global const float *A, int a_off, int sam, int sak,
			  __global float *Ap, int rm)
{
	int k = (int)get_global_id(0), p = (int)get_global_id(1), r0 = p * rm;

	if (k >= K)
		return;
	__global float *dst = Ap + ((size_t)p * K + k) * rm;
	__global const float *src = A + a_off + k * sak;
	if (rm == 8 && sam == 1 && r0 + 8 <= M) {
		vstore8(vload8(0, src + r0), 0, dst);
		return;
	}
	for (int i = 0; i < rm; i++)
		dst[i] = r0 + i < M ? src[(r0 + i) * sam] : 0.0f;
}

/* Packs B into panels of rn columns: Bp[(q*K + k)*rn + c] =
 * B(k, q*rn + c), zero past column N. Range (K, ceil(N/rn)), as
 * gemm_pack_a: a transposed B (sbk == 1) is read unit-stride across
 * items, a row-major one (sbn == 1) a full panel at a time. */
__kernel void gemm_pack_b(int N, int K, __global const float *B, int b_off, int sbk, int sbn,
			  __global float *Bp, int rn)
{
	int k = (int)get_global_id(0), q = (int)get_global_id(1), n0 = q * rn;

	if (k >= K)
		return;
	__global float *dst = Bp + ((size_t)q * K + k) * rn;
	__global const float *src = B + b_off + k * sbk;
	if (sbn == 1 && n0 + rn <= N && (rn == 16 || rn == 32)) {
		vstore16(vload16(0, src + n0), 0, dst);
		if (rn == 32)
			vstore16(vload16(1, src + n0), 1, dst);
		return;
	}
	for (int c = 0; c < rn; c++)
		dst[c] = n0 + c < N ? src[(n0 + c) * sbn] : 0.0f;
}

#define GEMM_ROW(r)                                            \
	do {                                                   \
		float16 a_ = (float16)(ak[r]);                 \
		acc0[r] = fma(a_, b0, acc0[r]);                \
		acc1[r] = fma(a_, b1, acc1[r]);                \
	} while (0)

/* Register-blocked multiply of packed panels: item (q, p) computes rows
 * p*RM.. and columns q*RN.. (two 16-wide vectors) over k in [k0, k1).
 * Zero padding only feeds lanes that are never stored. The host splits a
 * long K into blocks run one after another: the first applies the init of
 * `mode`, later ones continue from C (GEMM_INIT_C: a float stored and
 * reloaded is the same float, so each element's fma chain is unchanged),
 * the last applies the epilogue; the panels stay packed for the whole K. */
__kernel void gemm_rb(int M, int N, int K, int k0, int k1, __global const float *Ap,
		      __global const float *Bp, __global float *C, int c_off, int ldc,
		      __global const float *bias, int bias_off, int mode)
{
	int q = (int)get_global_id(0), p = (int)get_global_id(1);
	int n0 = q * GEMM_RN, m0 = p * GEMM_RM;
	float16 acc0[GEMM_RM], acc1[GEMM_RM];
	float lane[GEMM_RN];

	if (n0 >= N || m0 >= M)
		return;
	if (mode & (GEMM_INIT_BIAS | GEMM_ADD_BIAS))
		bias += bias_off;
	int nn = min(GEMM_RN, N - n0), mm = min(GEMM_RM, M - m0);
	int full = nn == GEMM_RN && mm == GEMM_RM;
	__global float *c = C + c_off + m0 * ldc + n0;
	if (full) {
		float16 i0 = (float16)(0.0f), i1 = (float16)(0.0f);
		if (mode & GEMM_INIT_BIAS) {
			i0 = vload16(0, bias + n0);
			i1 = vload16(1, bias + n0);
		}
		for (int r = 0; r < GEMM_RM; r++) {
			acc0[r] = (mode & GEMM_INIT_C) ? vload16(0, c + r * ldc) : i0;
			acc1[r] = (mode & GEMM_INIT_C) ? vload16(1, c + r * ldc) : i1;
		}
	} else {
		for (int r = 0; r < GEMM_RM; r++) {
			for (int j = 0; j < GEMM_RN; j++)
				lane[j] = (r < mm && j < nn)
						  ? gemm_init(mode, bias, C,
							      c_off + (m0 + r) * ldc + n0 + j, n0 + j)
						  : 0.0f;
			acc0[r] = vload16(0, lane);
			acc1[r] = vload16(1, lane);
		}
	}
	__global const float *a = Ap + (size_t)p * K * GEMM_RM;
	__global const float *b = Bp + (size_t)q * K * GEMM_RN;
	for (int k = k0; k < k1; k++) {
		float16 b0 = vload16(0, b + k * GEMM_RN);
		float16 b1 = vload16(1, b + k * GEMM_RN);
		__global const float *ak = a + k * GEMM_RM;
		GEMM_ROW(0); GEMM_ROW(1); GEMM_ROW(2); GEMM_ROW(3);
		GEMM_ROW(4); GEMM_ROW(5); GEMM_ROW(6); GEMM_ROW(7);
	}
	if (full && !(mode & GEMM_ADD_C)) {
		float16 p0 = (float16)(0.0f), p1 = (float16)(0.0f);
		if (mode & GEMM_ADD_BIAS) {
			p0 = vload16(0, bias + n0);
			p1 = vload16(1, bias + n0);
		}
		for (int r = 0; r < GEMM_RM; r++) {
			vstore16((mode & GEMM_ADD_BIAS) ? acc0[r] + p0 : acc0[r], 0, c + r * ldc);
			vstore16((mode & GEMM_ADD_BIAS) ? acc1[r] + p1 : acc1[r], 1, c + r * ldc);
		}
		return;
	}
	for (int r = 0; r < mm; r++) {
		vstore16(acc0[r], 0, lane);
		vstore16(acc1[r], 1, lane);
		for (int j = 0; j < nn; j++)
			gemm_store(mode, bias, C, c_off + (m0 + r) * ldc + n0 + j, n0 + j, lane[j]);
	}
}

/* gemm_rb for 8-wide SIMD: item (q, p) computes rows p*NM.. and columns
 * q*NN.. (one 16-wide vector per row) over k in [k0, k1); panels packed
 * with rm = GEMM_NM, rn = GEMM_NN; the rest as gemm_rb. */
__kernel void gemm_rb_narrow(int M, int N, int K, int k0, int k1, __global const float *Ap,
			     __global const float *Bp, __global float *C, int c_off, int ldc,
			     __global const float *bias, int bias_off, int mode)
{
	int q = (int)get_global_id(0), p = (int)get_global_id(1);
	int n0 = q * GEMM_NN, m0 = p * GEMM_NM;
	float16 acc[GEMM_NM];
	float lane[GEMM_NN];

	if (n0 >= N || m0 >= M)
		return;
	if (mode & (GEMM_INIT_BIAS | GEMM_ADD_BIAS))
		bias += bias_off;
	int nn = min(GEMM_NN, N - n0), mm = min(GEMM_NM, M - m0);
	int full = nn == GEMM_NN && mm == GEMM_NM;
	__global float *c = C + c_off + m0 * ldc + n0;
	if (full) {
		float16 i0 = (mode & GEMM_INIT_BIAS) ? vload16(0, bias + n0) : (float16)(0.0f);
		for (int r = 0; r < GEMM_NM; r++)
			acc[r] = (mode & GEMM_INIT_C) ? vload16(0, c + r * ldc) : i0;
	} else {
		for (int r = 0; r < GEMM_NM; r++) {
			for (int j = 0; j < GEMM_NN; j++)
				lane[j] = (r < mm && j < nn)
						  ? gemm_init(mode, bias, C,
							      c_off + (m0 + r) * ldc + n0 + j, n0 + j)
						  : 0.0f;
			acc[r] = vload16(0, lane);
		}
	}
	__global const float *a = Ap + (size_t)p * K * GEMM_NM;
	__global const float *b = Bp + (size_t)q * K * GEMM_NN;
	for (int k = k0; k < k1; k++) {
		float16 b0 = vload16(0, b + k * GEMM_NN);
		__global const float *ak = a + k * GEMM_NM;
		acc[0] = fma((float16)(ak[0]), b0, acc[0]);
		acc[1] = fma((float16)(ak[1]), b0, acc[1]);
		acc[2] = fma((float16)(ak[2]), b0, acc[2]);
		acc[3] = fma((float16)(ak[3]), b0, acc[3]);
		acc[4] = fma((float16)(ak[4]), b0, acc[4]);
		acc[5] = fma((float16)(ak[5]), b0, acc[5]);
	}
	if (full && !(mode & GEMM_ADD_C)) {
		float16 p0 = (mode & GEMM_ADD_BIAS) ? vload16(0, bias + n0) : (float16)(0.0f);
		for (int r = 0; r < GEMM_NM; r++)
			vstore16((mode & GEMM_ADD_BIAS) ? acc[r] + p0 : acc[r], 0, c + r * ldc);
		return;
	}
	for (int r = 0; r < mm; r++) {
		vstore16(acc[r], 0, lane);
		for (int j = 0; j < nn; j++)
			gemm_store(mode, bias, C, c_off + (m0 + r) * ldc + n0 + j, n0 + j, lane[j]);
	}
}

__kernel __attribute__((reqd_work_group_size(GEMM_TS, GEMM_TS, 1))) void
gemm_tiled(int M, int N, int K, __global const float *A, int a_off, int sam, int sak,
	   __global const float *B, int b_off, int sbk, int sbn, __global float *C, int c_off,
	   int ldc, __global const float *bias, int bias_off, int mode)
{
	/* a 64 x 64 block of C per group of 16 x 16 items, each item holding
	 * 4 x 4 outputs (rows ty + 16i, columns tx + 16j); K in tiles of 16 */
	__local float as[GEMM_TS][GEMM_TB + 1]; /* as[kk][mm] = A(m0 + mm, k0 + kk) */
	__local float bs[GEMM_TS][GEMM_TB + 1]; /* bs[kk][nn] = B(k0 + kk, n0 + nn) */
	int tx = (int)get_local_id(0), ty = (int)get_local_id(1), id = ty * GEMM_TS + tx;
	int m0 = (int)get_group_id(1) * GEMM_TB, n0 = (int)get_group_id(0) * GEMM_TB;
	int tiles = (K + GEMM_TS - 1) / GEMM_TS;
	/* load with the unit-stride index fastest across items */
	int a_kfast = sak == 1 || sam != 1, b_nfast = sbn == 1 || sbk != 1;
	float acc[4][4];

	if (mode & (GEMM_INIT_BIAS | GEMM_ADD_BIAS))
		bias += bias_off;
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++) {
			int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
			acc[i][j] = m < M && n < N ? gemm_init(mode, bias, C, c_off + m * ldc + n, n)
						   : 0.0f;
		}
	for (int t = 0; t < tiles; t++) {
		int k0 = t * GEMM_TS;
		for (int l = 0; l < 4; l++) {
			int x = id + l * GEMM_TS * GEMM_TS;
			int kk = a_kfast ? x % GEMM_TS : x / GEMM_TB;
			int mm = a_kfast ? x / GEMM_TS : x % GEMM_TB;
			as[kk][mm] = (m0 + mm < M && k0 + kk < K)
					     ? A[a_off + (m0 + mm) * sam + (k0 + kk) * sak]
					     : 0.0f;
			kk = b_nfast ? x / GEMM_TB : x % GEMM_TS;
			int nn = b_nfast ? x % GEMM_TB : x / GEMM_TS;
			bs[kk][nn] = (k0 + kk < K && n0 + nn < N)
					     ? B[b_off + (k0 + kk) * sbk + (n0 + nn) * sbn]
					     : 0.0f;
		}
		barrier(CLK_LOCAL_MEM_FENCE);
		int kend = min(GEMM_TS, K - k0);
		for (int kk = 0; kk < kend; kk++) {
			float a[4], b[4];
			for (int i = 0; i < 4; i++)
				a[i] = as[kk][ty + 16 * i];
			for (int j = 0; j < 4; j++)
				b[j] = bs[kk][tx + 16 * j];
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++)
					acc[i][j] = fma(a[i], b[j], acc[i][j]);
		}
		barrier(CLK_LOCAL_MEM_FENCE);
	}
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++) {
			int m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
			if (m < M && n < N)
				gemm_store(mode, bias, C, c_off + m * ldc + n, n, acc[i][j]);
		}
}

/* dst (cols x rows) = transpose of src (rows x cols); exact data moves. */
__kernel void transpose(int rows, int cols, __global const float *src, int s_off,
			__global float *dst, int d_off)
{
	int c = (int)get_global_id(0), r = (int)get_global_id(1);

	if (r < rows && c < cols)
		dst[d_off + c * rows + r] = src[s_off + r * cols + c];
}
