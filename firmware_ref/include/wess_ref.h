/**
 * @file wess_ref.h
 * @brief Plain C99 reference kernels for int8 TFLite models with WESS requantization.
 *
 * Conventions shared by every kernel:
 * - Activations are int8, NHWC, batch 1 unless a kernel says otherwise; real = (q - zero_point) * scale.
 * - `input_offset` = -input zero point, in [-127, 128]; `output_offset` = output zero point, in [-128, 127].
 * - `act_min`, `act_max`: TFLite's quantized activation range, -128 <= act_min <= act_max <= 127.
 * - A `right_shift` is a power-of-two divisor (negative = left shift); TFLite's `shift`/`exponent` is its negation.
 * - Kernels never allocate; the caller owns every buffer. Input and output buffers must not overlap.
 * - On any status other than WESS_OK the output buffer may be partly written.
 */
#ifndef WESS_REF_H
#define WESS_REF_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status returned by every kernel. */
typedef enum {
    WESS_OK = 0,               /**< Success. */
    WESS_ERR_BAD_ARG = 1,      /**< NULL pointer, or a parameter outside its documented range. */
    WESS_ERR_BAD_SHAPE = 2,    /**< Dimensions inconsistent with each other or with the parameters. */
    WESS_ERR_UNSUPPORTED = 3   /**< Valid in TFLite but not implemented here (batch > 1, broadcasting, ...). */
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

/** ADD, int8, element-wise; input1, input2 and output dims must be equal (broadcasting: UNSUPPORTED). */
wess_status_t wess_add_s8(const wess_add_params_t *params,
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
    WESS_FP_REQUANTIZE = 3      /**< out = requantize(a, b, c), b >= 0, c in [-30, 31]. */
} wess_fixedpoint_op_t;

/**
 * Applies one fixed-point primitive to count >= 0 elements: out[i] = op(a[i], b[i], c[i]) (c unused by
 * SRDHM and RDBPOT, may be NULL then). For testing the primitives against their Python twins.
 * Returns WESS_ERR_BAD_ARG (before writing anything) if any element breaks the primitive's contract.
 */
wess_status_t wess_fixedpoint_batch(wess_fixedpoint_op_t op, const int32_t *a, const int32_t *b,
                                    const int32_t *c, int32_t *out, int32_t count);

#ifdef __cplusplus
}
#endif

#endif /* WESS_REF_H */
