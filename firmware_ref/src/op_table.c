/* The operator table (docs/adding_an_op.md): every op code the runner knows, its tensor counts and types, its
 * parameter struct and its check and run. An op code missing here is WESS_ERR_BAD_OP, never a fall-through. */
#include "op_table.h"

/* Tensor types of inputs 0, 1 and 2 on, of the output, and the input that may be absent (-1: none). */
#define TYPES_S8 {MODEL_TYPE_INT8, MODEL_TYPE_INT8, MODEL_TYPE_INT8}, MODEL_TYPE_INT8, -1
#define TYPES_WEIGHTED_S8 {MODEL_TYPE_INT8, MODEL_TYPE_INT8, MODEL_TYPE_INT32}, MODEL_TYPE_INT8, 2
#define TYPES_WEIGHTED_S4 {MODEL_TYPE_INT8, MODEL_TYPE_INT4, MODEL_TYPE_INT32}, MODEL_TYPE_INT8, 2
#define TYPES_WEIGHTED_F32 {MODEL_TYPE_FLOAT32, MODEL_TYPE_FLOAT32, MODEL_TYPE_FLOAT32}, MODEL_TYPE_FLOAT32, 2
#define TYPES_F32_TO_S8 {MODEL_TYPE_FLOAT32, MODEL_TYPE_FLOAT32, MODEL_TYPE_FLOAT32}, MODEL_TYPE_INT8, -1
#define TYPES_S8_TO_F32 {MODEL_TYPE_INT8, MODEL_TYPE_INT8, MODEL_TYPE_INT8}, MODEL_TYPE_FLOAT32, -1
#define TYPES_ANY {MODEL_TYPE_ANY, MODEL_TYPE_ANY, MODEL_TYPE_ANY}, MODEL_TYPE_ANY, -1

/* The parameter words: a struct of int32 / float fields in declaration order, or none. */
#define PARAMS(type) (uint16_t)(sizeof(type) / 4u), #type
#define NO_PARAMS 0u, NULL
#define REQUANT (uint16_t)(sizeof(model_requant_words_t) / 4u)
#define NO_REQUANT 0u

#ifdef WESS_NO_FLOAT_KERNELS  /* an all-int8 firmware image leaves the float32 kernels out (docs/firmware.md) */
#define F32_RUN(run) model_run_unsupported
#else
#define F32_RUN(run) run
#endif

/* OP(op code, name, min inputs, max inputs, tensor types, parameters, requantization words, check, run) */
#define MODEL_OPS(OP) \
    OP(MODEL_OP_ADD, "ADD", 2, 2, TYPES_S8, PARAMS(wess_add_params_t), NO_REQUANT, model_check_none, add_op_run) \
    OP(MODEL_OP_AVERAGE_POOL_2D, "AVERAGE_POOL_2D", 1, 1, TYPES_S8, PARAMS(wess_pool_params_t), NO_REQUANT, \
       model_check_none, average_pool_2d_op_run) \
    OP(MODEL_OP_CONCATENATION, "CONCATENATION", 1, MODEL_MAX_CONCAT_INPUTS, TYPES_S8, NO_PARAMS, NO_REQUANT, \
       model_check_none, concatenation_op_run) \
    OP(MODEL_OP_CONV_2D, "CONV_2D", 3, 3, TYPES_WEIGHTED_S8, PARAMS(wess_conv_params_t), REQUANT, \
       model_check_weighted, conv_2d_op_run) \
    OP(MODEL_OP_DEPTHWISE_CONV_2D, "DEPTHWISE_CONV_2D", 3, 3, TYPES_WEIGHTED_S8, PARAMS(wess_depthwise_params_t), \
       REQUANT, model_check_weighted, depthwise_conv_2d_op_run) \
    OP(MODEL_OP_TRANSPOSE_CONV, "TRANSPOSE_CONV", 3, 3, TYPES_WEIGHTED_S8, PARAMS(wess_transpose_conv_params_t), \
       REQUANT, model_check_weighted, transpose_conv_op_run) \
    OP(MODEL_OP_DEQUANTIZE, "DEQUANTIZE", 1, 1, TYPES_S8_TO_F32, PARAMS(wess_dequantize_params_t), NO_REQUANT, \
       model_check_none, dequantize_op_run) \
    OP(MODEL_OP_FULLY_CONNECTED, "FULLY_CONNECTED", 3, 3, TYPES_WEIGHTED_S8, PARAMS(wess_fc_params_t), REQUANT, \
       fully_connected_op_check, fully_connected_op_run) \
    OP(MODEL_OP_MAX_POOL_2D, "MAX_POOL_2D", 1, 1, TYPES_S8, PARAMS(wess_pool_params_t), NO_REQUANT, \
       model_check_none, max_pool_2d_op_run) \
    OP(MODEL_OP_RESHAPE, "RESHAPE", 1, 1, TYPES_ANY, NO_PARAMS, NO_REQUANT, reshape_op_check, reshape_op_run) \
    OP(MODEL_OP_SOFTMAX, "SOFTMAX", 1, 1, TYPES_S8, PARAMS(wess_softmax_params_t), NO_REQUANT, model_check_none, \
       softmax_op_run) \
    OP(MODEL_OP_PAD, "PAD", 1, 1, TYPES_S8, PARAMS(wess_pad_params_t), NO_REQUANT, model_check_none, pad_op_run) \
    OP(MODEL_OP_PADV2, "PADV2", 1, 1, TYPES_S8, PARAMS(wess_pad_nhwc_params_t), NO_REQUANT, model_check_none, \
       pad_nhwc_op_run) \
    OP(MODEL_OP_MEAN, "MEAN", 1, 1, TYPES_S8, PARAMS(wess_mean_params_t), NO_REQUANT, model_check_none, \
       mean_op_run) \
    OP(MODEL_OP_SQUEEZE, "SQUEEZE", 1, 1, TYPES_ANY, NO_PARAMS, NO_REQUANT, reshape_op_check, reshape_op_run) \
    OP(MODEL_OP_MUL, "MUL", 2, 2, TYPES_S8, PARAMS(wess_mul_params_t), NO_REQUANT, model_check_none, mul_op_run) \
    OP(MODEL_OP_SUB, "SUB", 2, 2, TYPES_S8, PARAMS(wess_add_params_t), NO_REQUANT, model_check_none, sub_op_run) \
    OP(MODEL_OP_EXPAND_DIMS, "EXPAND_DIMS", 1, 1, TYPES_ANY, NO_PARAMS, NO_REQUANT, reshape_op_check, \
       reshape_op_run) \
    OP(MODEL_OP_LOGISTIC, "LOGISTIC", 1, 1, TYPES_S8, PARAMS(wess_sigmoid_params_t), NO_REQUANT, model_check_none, \
       logistic_op_run) \
    OP(MODEL_OP_TANH, "TANH", 1, 1, TYPES_S8, PARAMS(wess_sigmoid_params_t), NO_REQUANT, model_check_none, \
       tanh_op_run) \
    OP(MODEL_OP_RELU, "RELU", 1, 1, TYPES_S8, PARAMS(wess_relu_params_t), NO_REQUANT, model_check_none, relu_op_run) \
    OP(MODEL_OP_RELU6, "RELU6", 1, 1, TYPES_S8, PARAMS(wess_relu_params_t), NO_REQUANT, model_check_none, \
       relu_op_run) \
    OP(MODEL_OP_LEAKY_RELU, "LEAKY_RELU", 1, 1, TYPES_S8, PARAMS(wess_leaky_relu_params_t), NO_REQUANT, \
       model_check_none, leaky_relu_op_run) \
    OP(MODEL_OP_HARD_SWISH, "HARD_SWISH", 1, 1, TYPES_S8, PARAMS(wess_hard_swish_params_t), NO_REQUANT, \
       model_check_none, hard_swish_op_run) \
    OP(MODEL_OP_ABS, "ABS", 1, 1, TYPES_S8, PARAMS(wess_abs_params_t), NO_REQUANT, model_check_none, abs_op_run) \
    OP(MODEL_OP_BATCH_MATMUL, "BATCH_MATMUL", 2, 2, TYPES_S8, PARAMS(wess_batch_matmul_params_t), NO_REQUANT, \
       model_check_none, batch_matmul_op_run) \
    OP(MODEL_OP_PRELU, "PRELU", 2, 2, TYPES_S8, PARAMS(wess_prelu_params_t), NO_REQUANT, model_check_none, \
       prelu_op_run) \
    OP(MODEL_OP_MAXIMUM, "MAXIMUM", 2, 2, TYPES_S8, NO_PARAMS, NO_REQUANT, model_check_none, maximum_op_run) \
    OP(MODEL_OP_MINIMUM, "MINIMUM", 2, 2, TYPES_S8, NO_PARAMS, NO_REQUANT, model_check_none, minimum_op_run) \
    OP(MODEL_OP_SQUARED_DIFFERENCE, "SQUARED_DIFFERENCE", 2, 2, TYPES_S8, PARAMS(wess_squared_difference_params_t), \
       NO_REQUANT, model_check_none, squared_difference_op_run) \
    OP(MODEL_OP_TRANSPOSE, "TRANSPOSE", 1, 1, TYPES_S8, PARAMS(wess_transpose_params_t), NO_REQUANT, \
       model_check_none, transpose_op_run) \
    OP(MODEL_OP_REDUCE_MAX, "REDUCE_MAX", 1, 1, TYPES_S8, PARAMS(wess_reduce_params_t), NO_REQUANT, \
       model_check_none, reduce_max_op_run) \
    OP(MODEL_OP_SUM, "SUM", 1, 1, TYPES_S8, PARAMS(wess_reduce_sum_params_t), NO_REQUANT, model_check_none, \
       reduce_sum_op_run) \
    OP(MODEL_OP_RESIZE_BILINEAR, "RESIZE_BILINEAR", 1, 1, TYPES_S8, PARAMS(wess_resize_params_t), NO_REQUANT, \
       model_check_none, resize_bilinear_op_run) \
    OP(MODEL_OP_RESIZE_NEAREST_NEIGHBOR, "RESIZE_NEAREST_NEIGHBOR", 1, 1, TYPES_S8, PARAMS(wess_resize_params_t), \
       NO_REQUANT, model_check_none, resize_nearest_neighbor_op_run) \
    OP(MODEL_OP_PACK, "PACK", 1, WESS_MAX_PACK_INPUTS, TYPES_S8, PARAMS(wess_pack_params_t), NO_REQUANT, \
       model_check_none, pack_op_run) \
    OP(MODEL_OP_STRIDED_SLICE, "STRIDED_SLICE", 1, 1, TYPES_S8, PARAMS(wess_slice_params_t), NO_REQUANT, \
       model_check_none, strided_slice_op_run) \
    OP(MODEL_OP_SLICE, "SLICE", 1, 1, TYPES_S8, PARAMS(wess_slice_params_t), NO_REQUANT, model_check_none, \
       strided_slice_op_run) \
    OP(MODEL_OP_QUANTIZE_S8, "QUANTIZE_S8", 1, 1, TYPES_S8, PARAMS(wess_relu_params_t), NO_REQUANT, \
       model_check_none, relu_op_run) \
    OP(MODEL_OP_QUANTIZE, "QUANTIZE", 1, 1, TYPES_F32_TO_S8, PARAMS(wess_quantize_params_t), NO_REQUANT, \
       model_check_none, quantize_op_run) \
    OP(MODEL_OP_CONV_2D_GROUPED, "CONV_2D_GROUPED", 3, 3, TYPES_WEIGHTED_S8, PARAMS(wess_conv_params_t), REQUANT, \
       model_check_weighted, conv_2d_grouped_op_run) \
    OP(MODEL_OP_CONV_2D_S4, "CONV_2D_S4", 3, 3, TYPES_WEIGHTED_S4, PARAMS(wess_conv_params_t), REQUANT, \
       model_check_weighted, conv_2d_s4_op_run) \
    OP(MODEL_OP_DEPTHWISE_CONV_2D_S4, "DEPTHWISE_CONV_2D_S4", 3, 3, TYPES_WEIGHTED_S4, \
       PARAMS(wess_depthwise_params_t), REQUANT, model_check_weighted, depthwise_conv_2d_s4_op_run) \
    OP(MODEL_OP_FULLY_CONNECTED_S4, "FULLY_CONNECTED_S4", 3, 3, TYPES_WEIGHTED_S4, PARAMS(wess_fc_params_t), \
       REQUANT, fully_connected_op_check, fully_connected_s4_op_run) \
    OP(MODEL_OP_CONV_2D_F32, "CONV_2D_F32", 3, 3, TYPES_WEIGHTED_F32, PARAMS(wess_conv_f32_params_t), NO_REQUANT, \
       model_check_weighted, F32_RUN(conv_2d_f32_op_run)) \
    OP(MODEL_OP_DEPTHWISE_CONV_2D_F32, "DEPTHWISE_CONV_2D_F32", 3, 3, TYPES_WEIGHTED_F32, \
       PARAMS(wess_depthwise_f32_params_t), NO_REQUANT, model_check_weighted, F32_RUN(depthwise_conv_2d_f32_op_run)) \
    OP(MODEL_OP_FULLY_CONNECTED_F32, "FULLY_CONNECTED_F32", 3, 3, TYPES_WEIGHTED_F32, \
       PARAMS(wess_fc_f32_params_t), NO_REQUANT, model_check_weighted, F32_RUN(fully_connected_f32_op_run))

/* The rows of ops with several outputs: OPN(op code, name, min inputs, max inputs, max outputs, then as OP). */
#define MODEL_MULTI_OUTPUT_OPS(OPN) \
    OPN(MODEL_OP_SPLIT, "SPLIT", 1, 1, WESS_MAX_SPLIT_OUTPUTS, TYPES_S8, PARAMS(wess_split_params_t), NO_REQUANT, \
        model_check_none, split_op_run) \
    OPN(MODEL_OP_SPLIT_V, "SPLIT_V", 1, 1, WESS_MAX_SPLIT_OUTPUTS, TYPES_S8, PARAMS(wess_split_params_t), \
        NO_REQUANT, model_check_none, split_op_run) \
    OPN(MODEL_OP_UNPACK, "UNPACK", 1, 1, WESS_MAX_UNPACK_OUTPUTS, TYPES_S8, PARAMS(wess_unpack_params_t), \
        NO_REQUANT, model_check_none, unpack_op_run)

/* Every row's check and run, declared (repeating a declaration is allowed). */
#define DECLARE(code, name, min_inputs, max_inputs, types, params, requant, check, run) \
    wess_status_t check(const model_run_t *model, const model_op_t *op, int32_t *error_tensor); \
    wess_status_t run(const model_run_t *model, const model_op_t *op);
#define DECLARE_N(code, name, min_inputs, max_inputs, max_outputs, types, params, requant, check, run) \
    wess_status_t check(const model_run_t *model, const model_op_t *op, int32_t *error_tensor); \
    wess_status_t run(const model_run_t *model, const model_op_t *op);
MODEL_OPS(DECLARE)
MODEL_MULTI_OUTPUT_OPS(DECLARE_N)

#define ROW(code, name, min_inputs, max_inputs, types, params, requant, check, run) \
    {code, name, min_inputs, max_inputs, 1u, 1u, types, params, requant, check, run},
#define ROW_N(code, name, min_inputs, max_inputs, max_outputs, types, params, requant, check, run) \
    {code, name, min_inputs, max_inputs, 1u, max_outputs, types, params, requant, check, run},
static const model_op_kind_t OP_TABLE[] = {MODEL_OPS(ROW) MODEL_MULTI_OUTPUT_OPS(ROW_N)};

#define OP_TABLE_ROWS (sizeof OP_TABLE / sizeof OP_TABLE[0])

const model_op_kind_t *model_op_find(uint16_t op_code)
{
    for (size_t row = 0; row < OP_TABLE_ROWS; ++row) {
        if (OP_TABLE[row].op_code == op_code) {
            return &OP_TABLE[row];
        }
    }
    return NULL;
}

wess_status_t wess_op_info(uint32_t index, wess_op_info_t *info)
{
    if (info == NULL || index >= OP_TABLE_ROWS) {
        return WESS_ERR_BAD_ARG;
    }
    const model_op_kind_t *kind = &OP_TABLE[index];
    info->op_code = kind->op_code;
    info->name = kind->name;
    info->min_inputs = kind->min_inputs;
    info->max_inputs = kind->max_inputs;
    info->min_outputs = kind->min_outputs;
    info->max_outputs = kind->max_outputs;
    for (int position = 0; position < 3; ++position) {
        info->input_types[position] = kind->input_types[position];
    }
    info->output_type = kind->output_type;
    info->optional_input = kind->optional_input;
    info->param_words = kind->param_words;
    info->params_struct = kind->params_struct;
    info->requant_words = kind->requant_words;
    return WESS_OK;
}
