/**
 * @file wess_ref.h
 * @brief Plain C99 reference kernels for int8 TFLite models with WESS requantization.
 *
 * Conventions shared by every kernel:
 * - Activations are int8 (float32 for the _f32 kernels of operators a partially quantized model leaves in float),
 *   NHWC, batch 1 unless a kernel says otherwise; real = (q - zero_point) * scale.
 * - `input_offset` = -input zero point, in [-127, 128]; `output_offset` = output zero point, in [-128, 127].
 * - `act_min`, `act_max`: TFLite's quantized activation range, -128 <= act_min <= act_max <= 127.
 * - A `right_shift` is a power-of-two divisor (negative = left shift); TFLite's `shift`/`exponent` is its negation.
 * - Kernels never allocate; the caller owns every buffer. Input and output buffers must not overlap.
 * - Stack, fixed-size arrays only (no VLAs, no recursion): CONV_2D about 3 KiB (a 1024-tap int16 patch of one
 *   output pixel, 2 KiB, plus a 64-channel requantization table and accumulator block, 1 KiB), DEPTHWISE_CONV_2D
 *   about 1 KiB, FULLY_CONNECTED under 1 KiB.
 * - On any status other than WESS_OK the output buffer may be partly written.
 */
#ifndef WESS_REF_H
#define WESS_REF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status returned by every kernel. */
typedef enum {
    WESS_OK = 0,               /**< Success. */
    WESS_ERR_BAD_ARG = 1,      /**< NULL pointer, or a parameter outside its documented range. */
    WESS_ERR_BAD_SHAPE = 2,    /**< Dimensions inconsistent with each other or with the parameters. */
    WESS_ERR_UNSUPPORTED = 3,  /**< Valid in TFLite but not implemented here (batch > 1, broadcasting, ...). */
    WESS_ERR_TRUNCATED = 4,    /**< Model blob shorter than its header or than the size its header declares. */
    WESS_ERR_BAD_MAGIC = 5,    /**< Model blob does not start with "WSSM". */
    WESS_ERR_BAD_VERSION = 6,  /**< Model blob format version outside [WESS_MODEL_VERSION_MIN, WESS_MODEL_VERSION]. */
    WESS_ERR_BAD_OFFSET = 7,   /**< A table, tensor or constant offset/size points outside its section. */
    WESS_ERR_BAD_TENSOR = 8,   /**< A tensor index out of range, or a tensor of the wrong type, storage or size. */
    WESS_ERR_BAD_OP = 9,       /**< An op record of unknown op code or with the wrong tensor/parameter count. */
    WESS_ERR_ARENA_TOO_SMALL = 10, /**< The caller's arena is smaller than the blob's activation arena. */
    WESS_ERR_BAD_ALIGNMENT = 11,   /**< Blob or arena not 4-byte aligned. */
    WESS_ERR_CALLBACK = 12     /**< The tensor callback asked to stop. */
} wess_status_t;

/** Tensor dimensions, each >= 1, flat size <= INT32_MAX. Activations: [n, h, w, c] = NHWC.
 *  Conv weights (OHWI): [n = out_ch, h = kh, w = kw, c = in_ch]. Depthwise weights: [1, kh, kw, out_ch]. */
typedef struct {
    int32_t n;
    int32_t h;
    int32_t w;
    int32_t c;
} wess_dims_t;

/**
 * Requantization of an int32 accumulator of CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED.
 * Channel c uses multiplier m = multiplier[i] and total right shift r = right_shift[i] + k_c,
 * i = (multiplier_count == 1 ? 0 : c), and computes requantize(acc, m, r), which is TFLite's
 * MultiplyByQuantizedMultiplier(acc, m, -r). A total right shift above 31 yields 0, as TFLite's
 * QuantizeMultiplier flushes such multipliers to zero.
 */
typedef struct {
    const int32_t *multiplier;      /**< Q31 mantissas, each in [0, INT32_MAX]; multiplier_count entries. */
    const int32_t *right_shift;     /**< Each in [-30, 31]; multiplier_count entries. */
    int32_t multiplier_count;       /**< 1 (one multiplier per layer: NPU / WESS) or the output channel count. */
    const uint8_t *channel_shift4;  /**< WESS shifts k_c in [0, 15], two per byte, low nibble = even channel;
                                         (out_ch + 1) / 2 bytes. NULL means every k_c = 0. */
} wess_requant_t;

/** CONV_2D parameters. Padding is TFLite's (pad_top/pad_left as ComputePaddingHeightWidth returns them). */
typedef struct {
    int32_t input_offset;   /**< -input zero point, [-127, 128]. */
    int32_t output_offset;  /**< Output zero point, [-128, 127]. */
    int32_t stride_y;       /**< >= 1. */
    int32_t stride_x;       /**< >= 1. */
    int32_t dilation_y;     /**< >= 1. */
    int32_t dilation_x;     /**< >= 1. */
    int32_t pad_top;        /**< [0, (kh - 1) * dilation_y]. */
    int32_t pad_left;       /**< [0, (kw - 1) * dilation_x]. */
    int32_t act_min;        /**< [-128, act_max]. */
    int32_t act_max;        /**< [act_min, 127]. */
} wess_conv_params_t;

/** DEPTHWISE_CONV_2D parameters: the convolution fields plus the depth multiplier. */
typedef struct {
    wess_conv_params_t conv;   /**< As for CONV_2D. */
    int32_t depth_multiplier;  /**< >= 1; out_ch = in_ch * depth_multiplier. */
} wess_depthwise_params_t;

/** FULLY_CONNECTED parameters. */
typedef struct {
    int32_t input_offset;   /**< -input zero point, [-127, 128]. */
    int32_t output_offset;  /**< Output zero point, [-128, 127]. */
    int32_t act_min;        /**< [-128, act_max]. */
    int32_t act_max;        /**< [act_min, 127]. */
} wess_fc_params_t;

/** ADD parameters, as TFLite's Prepare computes them for int8 (left_shift 20, three multipliers). */
typedef struct {
    int32_t input1_offset;       /**< -input1 zero point, [-127, 128]. */
    int32_t input2_offset;       /**< -input2 zero point, [-127, 128]. */
    int32_t output_offset;       /**< Output zero point, [-128, 127]. */
    int32_t left_shift;          /**< [0, 20] (TFLite uses 20 for int8). */
    int32_t input1_multiplier;   /**< [0, INT32_MAX]. */
    int32_t input1_right_shift;  /**< [0, 31]. */
    int32_t input2_multiplier;   /**< [0, INT32_MAX]. */
    int32_t input2_right_shift;  /**< [0, 31]. */
    int32_t output_multiplier;   /**< [0, INT32_MAX]. */
    int32_t output_right_shift;  /**< [0, 31]. */
    int32_t act_min;             /**< [-128, act_max]. */
    int32_t act_max;             /**< [act_min, 127]. */
} wess_add_params_t;

/** AVERAGE_POOL_2D / MAX_POOL_2D parameters; input and output share quantization. */
typedef struct {
    int32_t stride_y;       /**< >= 1. */
    int32_t stride_x;       /**< >= 1. */
    int32_t filter_height;  /**< >= 1. */
    int32_t filter_width;   /**< >= 1. */
    int32_t pad_top;        /**< [0, filter_height - 1]. */
    int32_t pad_left;       /**< [0, filter_width - 1]. */
    int32_t act_min;        /**< [-128, act_max]. */
    int32_t act_max;        /**< [act_min, 127]. */
} wess_pool_params_t;

/** MEAN over H and W parameters: multiplier/right_shift = QuantizeMultiplier(input_scale / output_scale). */
typedef struct {
    int32_t input_offset;   /**< -input zero point, [-127, 128]. */
    int32_t output_offset;  /**< Output zero point, [-128, 127]. */
    int32_t multiplier;     /**< [0, INT32_MAX]. */
    int32_t right_shift;    /**< [-30, 31]. */
} wess_mean_params_t;

/** PAD (height and width only) parameters. */
typedef struct {
    int32_t pad_top;     /**< >= 0. */
    int32_t pad_bottom;  /**< >= 0. */
    int32_t pad_left;    /**< >= 0. */
    int32_t pad_right;   /**< >= 0. */
    int32_t pad_value;   /**< [-128, 127]; TFLite pads int8 with the output zero point. */
} wess_pad_params_t;

/** CONCATENATION (channel axis) parameters. */
typedef struct {
    int32_t input_count;  /**< >= 1. */
} wess_concat_params_t;

/** SOFTMAX parameters (TFLite's PreprocessSoftmaxScaling and CalculateInputRadius, 5 integer bits).
 *  The output quantization is fixed: scale 1/256, zero point -128. */
typedef struct {
    int32_t input_beta_multiplier;  /**< [0, INT32_MAX]. */
    int32_t input_beta_left_shift;  /**< [0, 31]. */
    int32_t diff_min;               /**< <= 0; inputs below row max + diff_min give -128. */
} wess_softmax_params_t;

/** LOGISTIC and TANH parameters (TFLite Micro's Prepare: the input rescaled to Q4.27, CalculateInputRadius).
 *  Output quantization is fixed: LOGISTIC scale 1/256, zero point -128; TANH scale 1/128, zero point 0. */
typedef struct {
    int32_t input_zero_point;    /**< [-128, 127]. */
    int32_t input_range_radius;  /**< >= 0; |input - zero point| >= radius saturates the output. */
    int32_t input_multiplier;    /**< [0, INT32_MAX]: Q31 mantissa of input_scale * 2^27. */
    int32_t input_left_shift;    /**< [-31, 30]: its exponent (negative = right shift). */
} wess_sigmoid_params_t;

/** RELU, RELU6 and QUANTIZE_S8 (int8 -> int8) parameters (TFLite Micro's ReluQuantized and Requantize:
 *  rescale, then clamp). */
typedef struct {
    int32_t input_zero_point;   /**< [-128, 127]. */
    int32_t output_zero_point;  /**< [-128, 127]. */
    int32_t multiplier;         /**< [0, INT32_MAX]: Q31 mantissa of input_scale / output_scale. */
    int32_t right_shift;        /**< [-30, 31] (negative = left shift). */
    int32_t act_min;            /**< [-128, act_max]. */
    int32_t act_max;            /**< [act_min, 127]. */
} wess_relu_params_t;

/** LEAKY_RELU parameters (TFLite's QuantizeLeakyRelu): inputs at or above the zero point are rescaled by
 *  input_scale / output_scale, those below by alpha * input_scale / output_scale (alpha >= 0). */
typedef struct {
    int32_t input_zero_point;     /**< [-128, 127]. */
    int32_t output_zero_point;    /**< [-128, 127]. */
    int32_t identity_multiplier;  /**< [0, INT32_MAX]. */
    int32_t identity_right_shift; /**< [-30, 31]. */
    int32_t alpha_multiplier;     /**< [0, INT32_MAX]. */
    int32_t alpha_right_shift;    /**< [-30, 31]. */
} wess_leaky_relu_params_t;

/** ABS parameters (TFLite Micro's elementwise Prepare for ABS): |input - input_zero_point| is rescaled by
 *  input_scale / output_scale (formed in float32; the identity (2^30, -1) when the scales are equal, as TFLite
 *  then skips the rescale). */
typedef struct {
    int32_t input_zero_point;   /**< [-128, 127]. */
    int32_t output_zero_point;  /**< [-128, 127]. */
    int32_t multiplier;         /**< [0, INT32_MAX]: Q31 mantissa of input_scale / output_scale. */
    int32_t right_shift;        /**< [-30, 31] (negative = left shift). */
} wess_abs_params_t;

/** BATCH_MATMUL parameters (TFLite Micro's BatchMatMulPrepare, int8): output[b0][b1] = lhs[b0][b1] x rhs[b0][b1]
 *  over the two batch axes before the matrices (a rank-2 or rank-3 operand has leading extents 1), each operand
 *  broadcasting an axis of extent 1; lhs is [rows, depth] ([depth, rows] when lhs_transposed), rhs [depth, cols]
 *  ([cols, depth] when rhs_transposed), output [rows, cols], all row-major. */
typedef struct {
    int32_t lhs_offset;          /**< [-127, 128]: minus the lhs zero point. */
    int32_t rhs_offset;          /**< [-127, 128]: minus the rhs zero point. */
    int32_t output_zero_point;   /**< [-128, 127]. */
    int32_t multiplier;          /**< [0, INT32_MAX]: Q31 mantissa of lhs_scale * rhs_scale / output_scale. */
    int32_t right_shift;         /**< [-30, 31] (negative = left shift). */
    int32_t batch_outer;         /**< >= 1: the output's first batch extent. */
    int32_t batch_inner;         /**< >= 1: the output's second batch extent. */
    int32_t lhs_batch_outer;     /**< 1 or batch_outer. */
    int32_t lhs_batch_inner;     /**< 1 or batch_inner. */
    int32_t rhs_batch_outer;     /**< 1 or batch_outer. */
    int32_t rhs_batch_inner;     /**< 1 or batch_inner. */
    int32_t rows;                /**< >= 1. */
    int32_t depth;               /**< [1, WESS_MAX_MATMUL_DEPTH]: the accumulator bound below. */
    int32_t cols;                /**< >= 1. */
    int32_t lhs_transposed;      /**< 0 or 1 (TFLite's adj_x). */
    int32_t rhs_transposed;      /**< 0 or 1 (TFLite's adj_y). */
} wess_batch_matmul_params_t;

/** The longest BATCH_MATMUL dot product whose int32 accumulator cannot overflow: each term is at most
 *  255 * 255 = 65025 in magnitude, and 33025 * 65025 < 2^31. */
#define WESS_MAX_MATMUL_DEPTH 33025

/** HARD_SWISH parameters (TFLite Micro's HardSwishPrepare): Q0.15 multipliers from QuantizeMultiplier rounded
 *  to 16 bits (DownScaleInt32ToInt16Multiplier), with their exponents (negative = right shift). */
typedef struct {
    int32_t input_zero_point;    /**< [-128, 127]. */
    int32_t output_zero_point;   /**< [-128, 127]. */
    int32_t reluish_multiplier;  /**< [0, 32767]: input_scale / 128 / (3 / 32768). */
    int32_t reluish_exponent;    /**< [-31, 30]; below -15 gemmlowp's int16 rounding gives +-1. */
    int32_t output_multiplier;   /**< [0, 32767]: input_scale / 128 / output_scale. */
    int32_t output_exponent;     /**< [-31, 0]; below -15 as reluish_exponent. */
} wess_hard_swish_params_t;

/** MUL parameters (TFLite Micro's CalculateOpDataMul: input1_scale * input2_scale / output_scale in double). */
typedef struct {
    int32_t input1_offset;  /**< -input1 zero point, [-127, 128]. */
    int32_t input2_offset;  /**< -input2 zero point, [-127, 128]. */
    int32_t output_offset;  /**< output zero point, [-128, 127]. */
    int32_t multiplier;     /**< [0, INT32_MAX]. */
    int32_t right_shift;    /**< [-30, 31] (negative = left shift). */
    int32_t act_min;        /**< [-128, act_max]. */
    int32_t act_max;        /**< [act_min, 127]. */
} wess_mul_params_t;

/** PRELU parameters (TFLite Micro's CalculatePreluParams: both ratios in double, then QuantizeMultiplier). */
typedef struct {
    int32_t input_offset;          /**< -input zero point, [-127, 128]. */
    int32_t alpha_offset;          /**< -alpha zero point, [-127, 128]. */
    int32_t output_offset;         /**< Output zero point, [-128, 127]. */
    int32_t identity_multiplier;   /**< [0, INT32_MAX]: Q31 mantissa of input_scale / output_scale. */
    int32_t identity_right_shift;  /**< [-30, 31] (negative = left shift). */
    int32_t alpha_multiplier;      /**< [0, INT32_MAX]: of input_scale * alpha_scale / output_scale. */
    int32_t alpha_right_shift;     /**< [-30, 31] (negative = left shift). */
} wess_prelu_params_t;

/** TRANSPOSE parameters: output axis j of the blob's NHWC dims reads input axis perm_j (TFLite's perm operand
 *  mapped onto the NHWC dims; a permutation of 0..3). */
typedef struct {
    int32_t perm_n;  /**< [0, 3]: the input axis the output's N runs along. */
    int32_t perm_h;  /**< [0, 3]. */
    int32_t perm_w;  /**< [0, 3]. */
    int32_t perm_c;  /**< [0, 3]; the four form a permutation. */
} wess_transpose_params_t;

/** SQUARED_DIFFERENCE parameters, as TFLite Micro's Prepare computes them for int8: both inputs (q - zero point) *
 *  2^7 rescaled to twice the larger input scale, their difference squared and requantized by (2 max(s1, s2))^2 /
 *  (2^14 s_out). */
typedef struct {
    int32_t input1_offset;       /**< -input1 zero point, [-127, 128]. */
    int32_t input2_offset;       /**< -input2 zero point, [-127, 128]. */
    int32_t output_offset;       /**< Output zero point, [-128, 127]. */
    int32_t input1_multiplier;   /**< [0, INT32_MAX]; with input1_right_shift at most 0.5 (2^30 at right shift 0). */
    int32_t input1_right_shift;  /**< [0, 31]. */
    int32_t input2_multiplier;   /**< As input1_multiplier. */
    int32_t input2_right_shift;  /**< [0, 31]. */
    int32_t output_multiplier;   /**< [0, INT32_MAX]. */
    int32_t output_right_shift;  /**< [-30, 31] (negative = left shift). */
} wess_squared_difference_params_t;

/** PADV2 (and PAD on any axis) parameters: cells added before and after each NHWC axis, and their value. */
typedef struct {
    int32_t pad_n_before;  /**< >= 0. */
    int32_t pad_n_after;   /**< >= 0. */
    int32_t pad_h_before;  /**< >= 0. */
    int32_t pad_h_after;   /**< >= 0. */
    int32_t pad_w_before;  /**< >= 0. */
    int32_t pad_w_after;   /**< >= 0. */
    int32_t pad_c_before;  /**< >= 0. */
    int32_t pad_c_after;   /**< >= 0. */
    int32_t pad_value;     /**< [-128, 127]: PADV2's constant operand, PAD's output zero point. */
} wess_pad_nhwc_params_t;

/** SPLIT and SPLIT_V parameters: the NHWC axis the input is cut along (TFLite's axis operand, resolved). */
typedef struct {
    int32_t axis;  /**< [0, 3]: 0 n, 1 h, 2 w, 3 c. */
} wess_split_params_t;

/** Most outputs of one SPLIT / SPLIT_V (the run binds them on the stack). */
#define WESS_MAX_SPLIT_OUTPUTS 16

/** UNPACK parameters: the NHWC axis of the input that the outputs remove (TFLite's axis option, resolved). */
typedef struct {
    int32_t axis;  /**< [0, 3]: 0 n, 1 h, 2 w, 3 c; the input's extent along it is the output count. */
} wess_unpack_params_t;

/** Most outputs of one UNPACK (time steps of an unrolled recurrent layer; the run binds one at a time). */
#define WESS_MAX_UNPACK_OUTPUTS 1024

/** PACK parameters: the NHWC axis of the output that stacks the inputs (TFLite's axis option, resolved). */
typedef struct {
    int32_t axis;  /**< [0, 3]: 0 n, 1 h, 2 w, 3 c; the output's extent along it is the input count. */
} wess_pack_params_t;

/** Most inputs of one PACK (time steps of an unrolled recurrent layer; the run binds one at a time). */
#define WESS_MAX_PACK_INPUTS 1024

/** REDUCE_MAX parameters: which NHWC axes of the input are reduced (TFLite's axis operand, resolved). */
typedef struct {
    int32_t reduce_n;  /**< 0 (kept) or 1 (reduced). */
    int32_t reduce_h;  /**< 0 or 1. */
    int32_t reduce_w;  /**< 0 or 1. */
    int32_t reduce_c;  /**< 0 or 1. */
} wess_reduce_params_t;

/** SUM, and MEAN over any axes (TFLite Micro's QuantizedMeanOrSum, or its integer Mean when MEAN's input and output
 *  share quantization): the reduced axes, the requantization and which of the three the kernel computes. */
typedef struct {
    wess_reduce_params_t axes;  /**< 1 per reduced NHWC axis. */
    wess_mean_params_t quant;   /**< QuantizeMultiplier(input_scale / output_scale) and the zero points. */
    int32_t mode;               /**< WESS_REDUCE_SUM, WESS_REDUCE_MEAN or WESS_REDUCE_MEAN_SAME_QUANT. */
} wess_reduce_sum_params_t;

/** wess_reduce_sum_params_t.mode: SUM requantizes the sum of q - input zero point; MEAN folds 1 / count into the
 *  multiplier first; MEAN_SAME_QUANT (input and output scale and zero point equal) divides the sum of the stored
 *  bytes by the count, truncating toward zero. */
enum { WESS_REDUCE_SUM = 0, WESS_REDUCE_MEAN = 1, WESS_REDUCE_MEAN_SAME_QUANT = 2 };

/** RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR parameters (TFLite's options; the output size is the output
 *  tensor's H and W). */
typedef struct {
    int32_t align_corners;       /**< 0 or 1. */
    int32_t half_pixel_centers;  /**< 0 or 1; RESIZE_BILINEAR: not both 1. */
} wess_resize_params_t;

/** STRIDED_SLICE and SLICE parameters: per NHWC axis, the first input index, the step and the element count
 *  (TFLite's begin / end / strides or begin / size, masks resolved). */
typedef struct {
    int32_t start_n;   /**< [0, n - 1]; likewise start_h, start_w, start_c for their axes. */
    int32_t start_h;
    int32_t start_w;
    int32_t start_c;
    int32_t stride_n;  /**< Non-zero (negative: backwards); likewise for the other axes. */
    int32_t stride_h;
    int32_t stride_w;
    int32_t stride_c;
    int32_t count_n;   /**< >= 1, with start + (count - 1) * stride inside the axis; likewise for the others. */
    int32_t count_h;
    int32_t count_w;
    int32_t count_c;
} wess_slice_params_t;

/** TRANSPOSE_CONV parameters (TFLite Micro's Prepare: padding as ComputePaddingHeightWidth gives it for the
 *  output size, filter and stride). */
typedef struct {
    int32_t input_offset;   /**< -input zero point, [-127, 128]. */
    int32_t output_offset;  /**< Output zero point, [-128, 127]. */
    int32_t stride_y;       /**< >= 1. */
    int32_t stride_x;       /**< >= 1. */
    int32_t pad_top;        /**< [0, kh - 1]. */
    int32_t pad_left;       /**< [0, kw - 1]. */
    int32_t act_min;        /**< [-128, act_max]. */
    int32_t act_max;        /**< [act_min, 127]. */
} wess_transpose_conv_params_t;

/** CONV_2D float32 parameters (no quantization). Geometry fields as in wess_conv_params_t. */
typedef struct {
    int32_t stride_y;    /**< >= 1. */
    int32_t stride_x;    /**< >= 1. */
    int32_t dilation_y;  /**< >= 1. */
    int32_t dilation_x;  /**< >= 1. */
    int32_t pad_top;     /**< [0, (kh - 1) * dilation_y]. */
    int32_t pad_left;    /**< [0, (kw - 1) * dilation_x]. */
    float act_min;       /**< Fused activation lower bound, not NaN, <= act_max (TFLite's CalculateActivationRange:
                              -FLT_MAX for NONE, 0 for RELU / RELU6, -1 for RELU_N1_TO_1). */
    float act_max;       /**< Upper bound, not NaN (FLT_MAX for NONE / RELU, 6 for RELU6, 1 for RELU_N1_TO_1). */
} wess_conv_f32_params_t;

/** DEPTHWISE_CONV_2D float32 parameters: the convolution fields plus the depth multiplier. */
typedef struct {
    wess_conv_f32_params_t conv;  /**< As for CONV_2D float32. */
    int32_t depth_multiplier;     /**< >= 1; out_ch = in_ch * depth_multiplier. */
} wess_depthwise_f32_params_t;

/** FULLY_CONNECTED float32 parameters. */
typedef struct {
    float act_min;  /**< Not NaN, <= act_max; as for wess_conv_f32_params_t. */
    float act_max;  /**< Not NaN. */
} wess_fc_f32_params_t;

/** QUANTIZE (float32 -> int8) parameters. */
typedef struct {
    float output_scale;         /**< Finite, > 0. */
    int32_t output_zero_point;  /**< [-128, 127]. */
} wess_quantize_params_t;

/** DEQUANTIZE (int8 -> float32) parameters. */
typedef struct {
    float input_scale;         /**< Finite, > 0. */
    int32_t input_zero_point;  /**< [-128, 127]. */
} wess_dequantize_params_t;

/**
 * CONV_2D, int8. input [1, in_h, in_w, in_ch]; filter OHWI [out_ch, kh, kw, in_ch] (symmetric, zero point 0);
 * bias [out_ch] int32 or NULL; output [1, out_h, out_w, out_ch]. kh * kw * in_ch <= 65536.
 * Geometry as TFLite computes it: along each axis, (output size, pad) is what padding SAME or VALID gives for the
 * input size, dilated filter size (k - 1) * dilation + 1 and stride.
 */
wess_status_t wess_conv_2d_s8(const wess_conv_params_t *params, const wess_requant_t *requant,
                              const wess_dims_t *input_dims, const int8_t *input,
                              const wess_dims_t *filter_dims, const int8_t *filter, const int32_t *bias,
                              const wess_dims_t *output_dims, int8_t *output);

/**
 * DEPTHWISE_CONV_2D, int8. input [1, in_h, in_w, in_ch]; filter [1, kh, kw, in_ch * depth_multiplier];
 * bias [out_ch] or NULL; output [1, out_h, out_w, in_ch * depth_multiplier]; output channel
 * in_c * depth_multiplier + m reads input channel in_c. kh * kw <= 65536. Geometry as for CONV_2D.
 */
wess_status_t wess_depthwise_conv_2d_s8(const wess_depthwise_params_t *params, const wess_requant_t *requant,
                                        const wess_dims_t *input_dims, const int8_t *input,
                                        const wess_dims_t *filter_dims, const int8_t *filter,
                                        const int32_t *bias, const wess_dims_t *output_dims, int8_t *output);

/**
 * FULLY_CONNECTED, int8. input [batches, 1, 1, in_depth] (batches >= 1); filter [out_depth, 1, 1, in_depth];
 * bias [out_depth] or NULL; output [batches, 1, 1, out_depth]. in_depth <= 65536.
 */
wess_status_t wess_fully_connected_s8(const wess_fc_params_t *params, const wess_requant_t *requant,
                                      const wess_dims_t *input_dims, const int8_t *input,
                                      const wess_dims_t *filter_dims, const int8_t *filter,
                                      const int32_t *bias, const wess_dims_t *output_dims, int8_t *output);

/** Packed 4-bit weights (W4A8): two signed 4-bit values (-8..7) per byte, element 2i in the low nibble of byte i
 * and element 2i + 1 in the high nibble (TFLite's INT4 packing); an odd count leaves the last high nibble 0. The
 * conv and FC _s4 kernels read the packed rows in place inside their dot products (a row of kh * kw * in_ch or
 * in_depth weights is at most this many: the gathered patch's size), except that a conv's channel block whose rows
 * together fit a stack buffer of this many bytes is unpacked once; the depthwise _s4 kernel unpacks kh * kw taps of
 * up to 64 channels into that buffer. */
#define WESS_S4_UNPACK_BYTES 2048

/**
 * CONV_2D with packed 4-bit weights: as wess_conv_2d_s8 (same bytes for the same weight values, the same blocking:
 * 64 output channels, four rows per pass), filter_packed holding the OHWI filter's out_ch * kh * kw * in_ch values
 * packed (WESS_S4_UNPACK_BYTES). kh * kw * in_ch <= WESS_S4_UNPACK_BYTES, else WESS_ERR_UNSUPPORTED.
 */
wess_status_t wess_conv_2d_s4(const wess_conv_params_t *params, const wess_requant_t *requant,
                              const wess_dims_t *input_dims, const int8_t *input,
                              const wess_dims_t *filter_dims, const uint8_t *filter_packed, const int32_t *bias,
                              const wess_dims_t *output_dims, int8_t *output);

/**
 * CONV_2D with a grouped filter, int8 (TFLite's ConvPerChannel with groups > 1): as wess_conv_2d_s8, except that
 * the OHWI filter holds in_ch / groups input channels per output channel (filter_dims->c divides input_dims->c,
 * groups = input_dims->c / filter_dims->c divides out_ch) and output channel c reads input channels
 * [g * filter_dims->c, (g + 1) * filter_dims->c) with g = c / (out_ch / groups). kh * kw * filter_dims->c <=
 * WESS_MAX_DOT_LENGTH, else WESS_ERR_UNSUPPORTED.
 */
wess_status_t wess_conv_2d_grouped_s8(const wess_conv_params_t *params, const wess_requant_t *requant,
                                      const wess_dims_t *input_dims, const int8_t *input,
                                      const wess_dims_t *filter_dims, const int8_t *filter, const int32_t *bias,
                                      const wess_dims_t *output_dims, int8_t *output);

/**
 * DEPTHWISE_CONV_2D with packed 4-bit weights: as wess_depthwise_conv_2d_s8, filter_packed holding the
 * [1, kh, kw, out_ch] filter's values packed. kh * kw * min(out_ch, 64) <= WESS_S4_UNPACK_BYTES, else
 * WESS_ERR_UNSUPPORTED.
 */
wess_status_t wess_depthwise_conv_2d_s4(const wess_depthwise_params_t *params, const wess_requant_t *requant,
                                        const wess_dims_t *input_dims, const int8_t *input,
                                        const wess_dims_t *filter_dims, const uint8_t *filter_packed,
                                        const int32_t *bias, const wess_dims_t *output_dims, int8_t *output);

/**
 * FULLY_CONNECTED with packed 4-bit weights: as wess_fully_connected_s8 (same blocking), filter_packed holding the
 * [out_depth, in_depth] filter's values packed, read in place. in_depth <= WESS_S4_UNPACK_BYTES, else
 * WESS_ERR_UNSUPPORTED.
 */
wess_status_t wess_fully_connected_s4(const wess_fc_params_t *params, const wess_requant_t *requant,
                                      const wess_dims_t *input_dims, const int8_t *input,
                                      const wess_dims_t *filter_dims, const uint8_t *filter_packed,
                                      const int32_t *bias, const wess_dims_t *output_dims, int8_t *output);

/**
 * TRANSPOSE_CONV, int8. input [1, in_h, in_w, in_ch]; filter OHWI [out_ch, kh, kw, in_ch] (symmetric); bias
 * [out_ch] int32 or NULL; output [1, out_h, out_w, out_ch]; kh * kw * in_ch <= 65536. Input pixel (y, x) times tap
 * (ky, kx) adds to output (y * stride_y - pad_top + ky, x * stride_x - pad_left + kx) when that lies in the output
 * (TFLite's scatter, computed per output), then per-channel requantization as wess_conv_2d_s8.
 */
wess_status_t wess_transpose_conv_s8(const wess_transpose_conv_params_t *params, const wess_requant_t *requant,
                                     const wess_dims_t *input_dims, const int8_t *input,
                                     const wess_dims_t *filter_dims, const int8_t *filter, const int32_t *bias,
                                     const wess_dims_t *output_dims, int8_t *output);

/**
 * CONV_2D, float32, as TFLite's reference_ops::Conv: for each output pixel and channel, total = 0; for filter_y,
 * filter_x (taps in the padding skipped), in_c: total += input * filter (each product rounded to float32, then
 * the sum); output = clamp(total + bias (0 when NULL), act_min, act_max). Layouts as wess_conv_2d_s8: input
 * [1, in_h, in_w, in_ch]; filter OHWI [out_ch, kh, kw, in_ch]; bias [out_ch] or NULL; output [1, out_h, out_w,
 * out_ch]. Bit-exact with TFLite when compiled without FMA contraction (-ffp-contract=off) and fast-math.
 */
wess_status_t wess_conv_2d_f32(const wess_conv_f32_params_t *params,
                               const wess_dims_t *input_dims, const float *input,
                               const wess_dims_t *filter_dims, const float *filter, const float *bias,
                               const wess_dims_t *output_dims, float *output);

/**
 * DEPTHWISE_CONV_2D, float32, as TFLite's reference_ops::DepthwiseConv: total over filter_y, filter_x (padding
 * skipped) of input * filter, then + bias (0 when NULL), clamp. Layouts as wess_depthwise_conv_2d_s8.
 */
wess_status_t wess_depthwise_conv_2d_f32(const wess_depthwise_f32_params_t *params,
                                         const wess_dims_t *input_dims, const float *input,
                                         const wess_dims_t *filter_dims, const float *filter, const float *bias,
                                         const wess_dims_t *output_dims, float *output);

/**
 * FULLY_CONNECTED, float32, as TFLite's reference_ops::FullyConnected: total over d < in_depth of
 * input[b, d] * filter[o, d], then + bias (0 when NULL), clamp. Layouts as wess_fully_connected_s8.
 */
wess_status_t wess_fully_connected_f32(const wess_fc_f32_params_t *params,
                                       const wess_dims_t *input_dims, const float *input,
                                       const wess_dims_t *filter_dims, const float *filter, const float *bias,
                                       const wess_dims_t *output_dims, float *output);

/** ADD, int8, element-wise: input1 [n1, h1, w1, c1] and input2 [n2, h2, w2, c2] (NHWC, any layout read as such)
 *  broadcast to output [n, h, w, c]: every input extent is 1 or the output's (else WESS_ERR_BAD_SHAPE). */
wess_status_t wess_add_s8(const wess_add_params_t *params,
                          const wess_dims_t *input1_dims, const int8_t *input1,
                          const wess_dims_t *input2_dims, const int8_t *input2,
                          const wess_dims_t *output_dims, int8_t *output);

/** SUB, int8: input1 - input2 with ADD's parameters (TFLite computes them alike) and broadcasting. */
wess_status_t wess_sub_s8(const wess_add_params_t *params,
                          const wess_dims_t *input1_dims, const int8_t *input1,
                          const wess_dims_t *input2_dims, const int8_t *input2,
                          const wess_dims_t *output_dims, int8_t *output);

/** AVERAGE_POOL_2D, int8. input [1, in_h, in_w, c]; output [1, out_h, out_w, c]; filter_height * filter_width
 *  <= 65536. Padded cells are not counted. Geometry as for CONV_2D (dilation 1). */
wess_status_t wess_average_pool_2d_s8(const wess_pool_params_t *params,
                                      const wess_dims_t *input_dims, const int8_t *input,
                                      const wess_dims_t *output_dims, int8_t *output);

/** MAX_POOL_2D, int8. Layout and geometry as AVERAGE_POOL_2D. */
wess_status_t wess_max_pool_2d_s8(const wess_pool_params_t *params,
                                  const wess_dims_t *input_dims, const int8_t *input,
                                  const wess_dims_t *output_dims, int8_t *output);

/** MEAN over axes H and W (global average pool), int8. input [1, in_h, in_w, c] with in_h * in_w <= 2^23;
 *  output [1, 1, 1, c] (the same bytes as keep_dims = false's [1, c]). No fused activation. */
wess_status_t wess_mean_hw_s8(const wess_mean_params_t *params,
                              const wess_dims_t *input_dims, const int8_t *input,
                              const wess_dims_t *output_dims, int8_t *output);

/** PAD of H and W, int8. input [1, in_h, in_w, c];
 *  output [1, pad_top + in_h + pad_bottom, pad_left + in_w + pad_right, c]. */
wess_status_t wess_pad_s8(const wess_pad_params_t *params,
                          const wess_dims_t *input_dims, const int8_t *input,
                          const wess_dims_t *output_dims, int8_t *output);

/**
 * CONCATENATION along channels, int8, inputs sharing the output's quantization (TFLite requires it for int8).
 * inputs[i] [1, h, w, c_i] with dims input_dims[i], i < params->input_count; output [1, h, w, sum of c_i].
 */
wess_status_t wess_concatenation_s8(const wess_concat_params_t *params, const wess_dims_t *input_dims,
                                    const int8_t *const *inputs,
                                    const wess_dims_t *output_dims, int8_t *output);

/** SOFTMAX over the last axis, int8 -> int8 (output scale 1/256, zero point -128). Rows = n * h * w,
 *  depth = c <= 4095 (so the int32 sum of exps cannot overflow). input and output dims must be equal. */
wess_status_t wess_softmax_s8(const wess_softmax_params_t *params,
                              const wess_dims_t *input_dims, const int8_t *input,
                              const wess_dims_t *output_dims, int8_t *output);

/** MUL, int8: output [n, h, w, c]; each input's extent along each axis equals the output's or is 1 (broadcast:
 *  TFLite's right-aligned broadcasting once both are 4-D NHWC, e.g. a [1, 1, 1, c] constant against [n, h, w, c]). */
wess_status_t wess_mul_s8(const wess_mul_params_t *params,
                          const wess_dims_t *input1_dims, const int8_t *input1,
                          const wess_dims_t *input2_dims, const int8_t *input2,
                          const wess_dims_t *output_dims, int8_t *output);

/** PRELU, int8: output = input rescaled where input >= its zero point, else input * alpha rescaled (TFLite Micro's
 *  BroadcastPrelu4DSlow). input and alpha [n, h, w, c] (NHWC, any layout read as such) broadcast to output: every
 *  input extent is 1 or the output's (a per-channel alpha [1, 1, 1, c], a full [1, h, w, c] one). */
wess_status_t wess_prelu_s8(const wess_prelu_params_t *params,
                            const wess_dims_t *input_dims, const int8_t *input,
                            const wess_dims_t *alpha_dims, const int8_t *alpha,
                            const wess_dims_t *output_dims, int8_t *output);

/** MAXIMUM, int8: the larger stored byte of the two inputs (TFLite compares the raw int8 values; the converter
 *  gives both inputs the output's quantization). Broadcasting as wess_add_s8. */
wess_status_t wess_maximum_s8(const wess_dims_t *input1_dims, const int8_t *input1,
                              const wess_dims_t *input2_dims, const int8_t *input2,
                              const wess_dims_t *output_dims, int8_t *output);

/** MINIMUM, int8: the smaller stored byte of the two inputs. Otherwise as wess_maximum_s8. */
wess_status_t wess_minimum_s8(const wess_dims_t *input1_dims, const int8_t *input1,
                              const wess_dims_t *input2_dims, const int8_t *input2,
                              const wess_dims_t *output_dims, int8_t *output);

/** TRANSPOSE, int8: output[i_n, i_h, i_w, i_c] = input at the coordinates that put i_j on input axis perm_j;
 *  input [n, h, w, c], output dims the input's permuted (else WESS_ERR_BAD_SHAPE); bytes copied unchanged. */
wess_status_t wess_transpose_s8(const wess_transpose_params_t *params,
                                const wess_dims_t *input_dims, const int8_t *input,
                                const wess_dims_t *output_dims, int8_t *output);

/** SQUARED_DIFFERENCE, int8: (input1 - input2)^2 in the output's quantization, each input broadcast to output_dims
 *  along axes of extent 1 (else WESS_ERR_BAD_SHAPE); layout NHWC. */
wess_status_t wess_squared_difference_s8(const wess_squared_difference_params_t *params,
                                         const wess_dims_t *input1_dims, const int8_t *input1,
                                         const wess_dims_t *input2_dims, const int8_t *input2,
                                         const wess_dims_t *output_dims, int8_t *output);

/** PADV2 (PAD on any axis), int8: TFLite Micro's reference pad; input [n, h, w, c], output each axis's before +
 *  extent + after (else WESS_ERR_BAD_SHAPE); input bytes copied unchanged, padded cells pad_value. */
wess_status_t wess_pad_nhwc_s8(const wess_pad_nhwc_params_t *params,
                               const wess_dims_t *input_dims, const int8_t *input,
                               const wess_dims_t *output_dims, int8_t *output);

/** SPLIT / SPLIT_V, int8: output k holds the input's elements from the sum of the earlier outputs' extents along
 *  the axis on, output_dims[k] long there (TFLite Micro's reference split; bytes copied unchanged). input [n, h, w,
 *  c]; output_count in [1, WESS_MAX_SPLIT_OUTPUTS]; output_dims and outputs: output_count entries, each output equal
 *  to the input on the other axes, their extents along the axis adding up to the input's (else WESS_ERR_BAD_SHAPE). */
wess_status_t wess_split_s8(const wess_split_params_t *params, const wess_dims_t *input_dims, const int8_t *input,
                            int32_t output_count, const wess_dims_t *output_dims, int8_t *const *outputs);

/** UNPACK, int8: output output_index holds the input's slice at that index along params->axis, the other axes in
 *  order (TFLite Micro's reference unpack; bytes copied unchanged). input [n, h, w, c]; output_index in [0, the
 *  input's extent along the axis) (else WESS_ERR_BAD_ARG); output_dims any NHWC dims with the input's size divided by
 *  that extent (else WESS_ERR_BAD_SHAPE). Call once per output. */
wess_status_t wess_unpack_s8(const wess_unpack_params_t *params, const wess_dims_t *input_dims, const int8_t *input,
                             int32_t output_index, const wess_dims_t *output_dims, int8_t *output);

/** PACK, int8: input input_index written as the output's slice at that index along params->axis, the other axes
 *  in order (TFLite Micro's reference pack; bytes copied unchanged). output [n, h, w, c]; input_index in [0, the
 *  output's extent along the axis) (else WESS_ERR_BAD_ARG); input_dims any NHWC dims with the output's size divided
 *  by that extent (else WESS_ERR_BAD_SHAPE). Call once per input; the output is whole after the last. */
wess_status_t wess_pack_s8(const wess_pack_params_t *params, int32_t input_index, const wess_dims_t *input_dims,
                           const int8_t *input, const wess_dims_t *output_dims, int8_t *output);

/** SUM / MEAN over any NHWC axes, int8: input [n, h, w, c] with at most 2^23 elements reduced into each output;
 *  the output holds the kept axes in order (flat size = product of the kept extents, as REDUCE_MAX). */
wess_status_t wess_reduce_sum_s8(const wess_reduce_sum_params_t *params,
                                 const wess_dims_t *input_dims, const int8_t *input,
                                 const wess_dims_t *output_dims, int8_t *output);

/** REDUCE_MAX, int8, input and output sharing quantization (TFLite Micro requires it): input [n, h, w, c]; the
 *  output holds the kept axes in order (flat size = product of the kept extents, whatever its dims: keep_dims
 *  true or false); a reduced axis of extent 1 reduces nothing. */
wess_status_t wess_reduce_max_s8(const wess_reduce_params_t *params,
                                 const wess_dims_t *input_dims, const int8_t *input,
                                 const wess_dims_t *output_dims, int8_t *output);

/** RESIZE_BILINEAR, int8, input and output sharing quantization (TFLite does not rescale): input
 *  [n, in_h, in_w, c], output [n, out_h, out_w, c], every H and W in [1, 65536]. Source positions in Q10 as TFLite's
 *  ResizeBilinearInteger computes them; WESS_ERR_UNSUPPORTED for a geometry whose lower neighbour falls past the
 *  input (TFLite would read out of bounds: outputs some 2048 times larger than the input). */
wess_status_t wess_resize_bilinear_s8(const wess_resize_params_t *params,
                                      const wess_dims_t *input_dims, const int8_t *input,
                                      const wess_dims_t *output_dims, int8_t *output);

/** RESIZE_NEAREST_NEIGHBOR, int8 (a copy: the output keeps the input's quantization): input [n, in_h, in_w, c],
 *  output [n, out_h, out_w, c], every H and W in [1, 65536]. Source pixel per axis as TFLite's GetNearestNeighbor,
 *  in float32: floor((index + 0.5 if half_pixel_centers) * in / out) (align_corners: (in - 1) / (out - 1), rounded
 *  half away from zero), clamped to the input. */
wess_status_t wess_resize_nearest_neighbor_s8(const wess_resize_params_t *params,
                                              const wess_dims_t *input_dims, const int8_t *input,
                                              const wess_dims_t *output_dims, int8_t *output);

/** STRIDED_SLICE / SLICE, int8 (a copy: the output keeps the input's quantization): input [n, h, w, c]; the output
 *  holds, in row-major order, the elements at start + k * stride, k < count, of every axis (flat size = product of
 *  the counts, whatever its dims: shrunk axes or not). WESS_ERR_BAD_ARG if an index would fall outside the input. */
wess_status_t wess_strided_slice_s8(const wess_slice_params_t *params,
                                    const wess_dims_t *input_dims, const int8_t *input,
                                    const wess_dims_t *output_dims, int8_t *output);

/** HARD_SWISH, int8 -> int8, any layout: input and output dims equal. */
wess_status_t wess_hard_swish_s8(const wess_hard_swish_params_t *params,
                                 const wess_dims_t *input_dims, const int8_t *input,
                                 const wess_dims_t *output_dims, int8_t *output);

/** LOGISTIC, int8 -> int8 (output scale 1/256, zero point -128), any layout: input and output dims equal. */
wess_status_t wess_logistic_s8(const wess_sigmoid_params_t *params,
                               const wess_dims_t *input_dims, const int8_t *input,
                               const wess_dims_t *output_dims, int8_t *output);

/** TANH, int8 -> int8 (output scale 1/128, zero point 0), any layout: input and output dims equal. */
wess_status_t wess_tanh_s8(const wess_sigmoid_params_t *params,
                           const wess_dims_t *input_dims, const int8_t *input,
                           const wess_dims_t *output_dims, int8_t *output);

/** RELU / RELU6 / QUANTIZE_S8, int8 -> int8, any layout: input and output dims equal. */
wess_status_t wess_relu_s8(const wess_relu_params_t *params,
                           const wess_dims_t *input_dims, const int8_t *input,
                           const wess_dims_t *output_dims, int8_t *output);

/** LEAKY_RELU, int8 -> int8, any layout: input and output dims equal. */
wess_status_t wess_leaky_relu_s8(const wess_leaky_relu_params_t *params,
                                 const wess_dims_t *input_dims, const int8_t *input,
                                 const wess_dims_t *output_dims, int8_t *output);

/** ABS, int8 -> int8, any layout: input and output dims equal. */
wess_status_t wess_abs_s8(const wess_abs_params_t *params,
                          const wess_dims_t *input_dims, const int8_t *input,
                          const wess_dims_t *output_dims, int8_t *output);

/** BATCH_MATMUL, int8 x int8 -> int8: the operands' and the output's element counts are the params' extents'
 *  products (the dims only bound them); see wess_batch_matmul_params_t for the layouts. */
wess_status_t wess_batch_matmul_s8(const wess_batch_matmul_params_t *params,
                                   const wess_dims_t *lhs_dims, const int8_t *lhs,
                                   const wess_dims_t *rhs_dims, const int8_t *rhs,
                                   const wess_dims_t *output_dims, int8_t *output);

/** QUANTIZE float32 -> int8, any layout (flat size = n * h * w * c; dims must be equal):
 *  q = clamp(round(x / scale) + zero_point, -128, 127), division in float32, ties away from zero; NaN -> -128. */
wess_status_t wess_quantize_f32_s8(const wess_quantize_params_t *params,
                                   const wess_dims_t *input_dims, const float *input,
                                   const wess_dims_t *output_dims, int8_t *output);

/** DEQUANTIZE int8 -> float32, any layout: x = scale * (q - zero_point), one float32 rounding. */
wess_status_t wess_dequantize_s8_f32(const wess_dequantize_params_t *params,
                                     const wess_dims_t *input_dims, const int8_t *input,
                                     const wess_dims_t *output_dims, float *output);

/** Fixed-point primitive selected by wess_fixedpoint_batch. */
typedef enum {
    WESS_FP_SRDHM = 0,          /**< out = saturating_rounding_doubling_high_mul(a, b). */
    WESS_FP_RDBPOT = 1,         /**< out = rounding_divide_by_pot(a, b), b in [0, 31]. */
    WESS_FP_MBQM = 2,           /**< out = multiply_by_quantized_multiplier(a, b, c), b >= 0, c in [-31, 30]. */
    WESS_FP_REQUANTIZE = 3,     /**< out = requantize(a, b, c), b >= 0, c in [-30, 31]. */
    WESS_FP_SRDHM_NONNEGATIVE = 4  /**< out = rounding_doubling_high_mul_nonnegative(a, b), b >= 0 (the kernels' form). */
} wess_fixedpoint_op_t;

/**
 * Applies one fixed-point primitive to count >= 0 elements: out[i] = op(a[i], b[i], c[i]) (c unused by
 * SRDHM and RDBPOT, may be NULL then). For testing the primitives against their Python twins.
 * Returns WESS_ERR_BAD_ARG (before writing anything) if any element breaks the primitive's contract.
 */
wess_status_t wess_fixedpoint_batch(wess_fixedpoint_op_t op, const int32_t *a, const int32_t *b,
                                    const int32_t *c, int32_t *out, int32_t count);

/* ------------------------------------------------------------------ whole-model runner (runner.c) */

/** Compact model blob format versions read by this library (docs/compact_model.md): 2 (one input, one output),
 *  3 (an output list: the outputs are copied out one after another, in the list's order) and 4 (as 3, the output
 *  list followed by an input list: the inputs are read one after another, in that list's order). */
#define WESS_MODEL_VERSION 4
#define WESS_MODEL_VERSION_MIN 2
/** Most outputs a version 3 or 4 blob may list. */
#define WESS_MODEL_MAX_OUTPUTS 16u
/** Most inputs a version 4 blob may list. */
#define WESS_MODEL_MAX_INPUTS 16u

/** What wess_model_validate learned about a blob; on a bad status, where the problem is. */
typedef struct {
    uint32_t tensor_count;  /**< Tensor records. */
    uint32_t op_count;      /**< Op records, run in order. */
    uint32_t arena_bytes;   /**< Activation arena the model needs (peak of the static memory plan). */
    uint32_t input_bytes;   /**< Bytes of one model input (int8 or float32 elements, NHWC): all its inputs, one
                                 after another in list order. */
    uint32_t output_bytes;  /**< Bytes of one model output: all its outputs, one after another in list order. */
    int32_t error_tensor;   /**< Tensor index at fault on a bad status, else -1. */
    int32_t error_op;       /**< Op position at fault on a bad status, else -1. */
} wess_model_info_t;

/**
 * Called after each op for each of its output tensors, in order (sample: index in the batch, [0, batch_count); op: op position;
 * tensor: tensor index; data: the tensor's bytes in the arena, valid only during the call). Returning anything
 * other than WESS_OK stops the run with WESS_ERR_CALLBACK.
 */
typedef wess_status_t (*wess_tensor_callback_t)(void *user, int32_t sample, int32_t op, int32_t tensor,
                                                const void *data, uint32_t bytes);

/** Optional run hooks (NULL for none). failed_op is written by the runner. */
typedef struct {
    wess_tensor_callback_t tensor_callback;  /**< NULL: no callback. */
    void *user;                              /**< Passed to tensor_callback unchanged. */
    int32_t failed_op;                       /**< Out: op position whose kernel failed, or -1. */
} wess_run_hooks_t;

/** One row of the runner's operator table (for tools and the tests that tie the Python side to it). */
typedef struct {
    uint32_t op_code;            /**< TFLite BuiltinOperator, | 0x8000 for a float32 kernel. */
    const char *name;            /**< TFLite's name; float32 kernels end in _F32. */
    uint32_t min_inputs;         /**< Input tensors of an op record: min_inputs to max_inputs. */
    uint32_t max_inputs;
    uint32_t min_outputs;        /**< Output tensors of an op record: min_outputs to max_outputs. */
    uint32_t max_outputs;
    uint32_t input_types[3];     /**< Tensor type of inputs 0, 1 and 2 on: 0 int8, 1 int32, 2 float32, 255 any. */
    uint32_t output_type;        /**< Tensor type of the outputs, as input_types. */
    int32_t optional_input;      /**< The input whose tensor index may be -1 (absent), or -1. */
    uint32_t param_words;        /**< Parameter words after the tensor indices: params_struct field by field. */
    const char *params_struct;   /**< The parameter struct's name in this header, or NULL (no parameter words). */
    uint32_t requant_words;      /**< 4 when requantization words follow the parameters (docs/compact_model.md). */
} wess_op_info_t;

/** Row `index` of the operator table: WESS_OK and *info, or WESS_ERR_BAD_ARG (NULL info, index past the end). */
wess_status_t wess_op_info(uint32_t index, wess_op_info_t *info);

/**
 * Checks every field of a compact model blob before anything uses it: header (magic, version, sizes, counts),
 * every table and constant offset and size against blob_len, every tensor index, type and size, every op record,
 * and the activation arena against arena_len. Never reads outside blob[0, blob_len).
 * blob: 4-byte aligned. info: may be NULL; filled as far as the check got.
 */
wess_status_t wess_model_validate(const uint8_t *blob, size_t blob_len, size_t arena_len, wess_model_info_t *info);

/**
 * Runs the model on one input: validates the blob, copies input (info.input_bytes: a model with several inputs
 * takes them one after another, in the blob's input list order) into the arena, runs every op and copies the
 * output (info.output_bytes: several outputs one after another, in the output list order) out. arena: arena_len bytes, 4-byte aligned, owned by the caller
 * (no allocation). hooks: may be NULL.
 */
wess_status_t wess_model_run(const uint8_t *blob, size_t blob_len, uint8_t *arena, size_t arena_len,
                             const void *input, void *output, wess_run_hooks_t *hooks);

/**
 * Runs batch_count >= 1 inputs one after another: inputs holds batch_count * input_bytes bytes, outputs
 * batch_count * output_bytes; validates once. Otherwise as wess_model_run.
 */
wess_status_t wess_model_run_batch(const uint8_t *blob, size_t blob_len, uint8_t *arena, size_t arena_len,
                                   int32_t batch_count, const void *inputs, void *outputs, wess_run_hooks_t *hooks);

#ifdef __cplusplus
}
#endif

#endif /* WESS_REF_H */
