/* BATCH_MATMUL int8 reference kernel: TFLite's reference BatchMatMul<int8_t, int32_t> (a per-tensor requantized
 * matrix product per batch position, operands broadcasting batch axes of extent 1). */
#include "kernel_util.h"
#include "op_table.h"

/* The params' extents are positive, each operand broadcasts only from 1, and the element counts they give are
 * the tensors' flat sizes: every index the loops form then lies inside its tensor. */
static wess_status_t batch_matmul_check(const wess_batch_matmul_params_t *params,
                                        const wess_dims_t *lhs_dims, const wess_dims_t *rhs_dims,
                                        const wess_dims_t *output_dims)
{
    if (!dims_valid(lhs_dims) || !dims_valid(rhs_dims) || !dims_valid(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int32_t extents[] = {params->batch_outer, params->batch_inner, params->rows, params->depth, params->cols};
    for (size_t axis = 0; axis < sizeof extents / sizeof extents[0]; ++axis) {
        if (extents[axis] < 1) {
            return WESS_ERR_BAD_SHAPE;
        }
    }
    if ((params->lhs_batch_outer != 1 && params->lhs_batch_outer != params->batch_outer) ||
        (params->lhs_batch_inner != 1 && params->lhs_batch_inner != params->batch_inner) ||
        (params->rhs_batch_outer != 1 && params->rhs_batch_outer != params->batch_outer) ||
        (params->rhs_batch_inner != 1 && params->rhs_batch_inner != params->batch_inner)) {
        return WESS_ERR_BAD_SHAPE;
    }
    const int64_t lhs_count = (int64_t)params->lhs_batch_outer * params->lhs_batch_inner * params->rows * params->depth;
    const int64_t rhs_count = (int64_t)params->rhs_batch_outer * params->rhs_batch_inner * params->depth * params->cols;
    const int64_t output_count = (int64_t)params->batch_outer * params->batch_inner * params->rows * params->cols;
    if (lhs_count != flat_size(lhs_dims) || rhs_count != flat_size(rhs_dims) || output_count != flat_size(output_dims)) {
        return WESS_ERR_BAD_SHAPE;
    }
    if (params->depth > WESS_MAX_MATMUL_DEPTH) {
        return WESS_ERR_UNSUPPORTED;
    }
    if (params->lhs_offset < -127 || params->lhs_offset > 128 || params->rhs_offset < -127 ||
        params->rhs_offset > 128 || !int8_value_valid(params->output_zero_point) ||
        !multiplier_valid(params->multiplier, params->right_shift) ||
        (params->lhs_transposed != 0 && params->lhs_transposed != 1) ||
        (params->rhs_transposed != 0 && params->rhs_transposed != 1)) {
        return WESS_ERR_BAD_ARG;
    }
    return WESS_OK;
}

wess_status_t wess_batch_matmul_s8(const wess_batch_matmul_params_t *params,
                                   const wess_dims_t *lhs_dims, const int8_t *lhs,
                                   const wess_dims_t *rhs_dims, const int8_t *rhs,
                                   const wess_dims_t *output_dims, int8_t *output)
{
    if (params == NULL || lhs == NULL || rhs == NULL || output == NULL) {
        return WESS_ERR_BAD_ARG;
    }
    const wess_status_t status = batch_matmul_check(params, lhs_dims, rhs_dims, output_dims);
    if (status != WESS_OK) {
        return status;
    }
    const int32_t rows = params->rows, depth = params->depth, cols = params->cols;
    /* element strides of one step along a matrix's row and depth axes, in each operand's stored layout */
    const int32_t lhs_row_stride = params->lhs_transposed ? 1 : depth;
    const int32_t lhs_depth_stride = params->lhs_transposed ? rows : 1;
    const int32_t rhs_depth_stride = params->rhs_transposed ? 1 : cols;
    const int32_t rhs_col_stride = params->rhs_transposed ? depth : 1;
    const int32_t lhs_matrix = rows * depth, rhs_matrix = depth * cols, output_matrix = rows * cols;
    for (int32_t outer = 0; outer < params->batch_outer; ++outer) {
        for (int32_t inner = 0; inner < params->batch_inner; ++inner) {
            const int32_t lhs_batch = (params->lhs_batch_outer == 1 ? 0 : outer) * params->lhs_batch_inner +
                                      (params->lhs_batch_inner == 1 ? 0 : inner);
            const int32_t rhs_batch = (params->rhs_batch_outer == 1 ? 0 : outer) * params->rhs_batch_inner +
                                      (params->rhs_batch_inner == 1 ? 0 : inner);
            const int8_t *lhs_matrix_start = lhs + (int64_t)lhs_batch * lhs_matrix;
            const int8_t *rhs_matrix_start = rhs + (int64_t)rhs_batch * rhs_matrix;
            int8_t *output_matrix_start = output + ((int64_t)outer * params->batch_inner + inner) * output_matrix;
            for (int32_t row = 0; row < rows; ++row) {
                for (int32_t col = 0; col < cols; ++col) {
                    const int8_t *lhs_element = lhs_matrix_start + (int64_t)row * lhs_row_stride;
                    const int8_t *rhs_element = rhs_matrix_start + (int64_t)col * rhs_col_stride;
                    /* |acc| <= depth * 255 * 255 < 2^31 (depth <= WESS_MAX_MATMUL_DEPTH, checked above) */
                    int32_t acc = 0;
                    for (int32_t k = 0; k < depth; ++k) {
                        acc += (lhs_element[(int64_t)k * lhs_depth_stride] + params->lhs_offset) *
                               (rhs_element[(int64_t)k * rhs_depth_stride] + params->rhs_offset);
                    }
                    output_matrix_start[row * cols + col] = output_int8(
                        requantize(acc, params->multiplier, params->right_shift), params->output_zero_point,
                        INT8_MIN, INT8_MAX);
                }
            }
        }
    }
    return WESS_OK;
}

/* BATCH_MATMUL of a compact model: tensors (lhs, rhs, output), wess_batch_matmul_params_t words. */
wess_status_t batch_matmul_op_run(const model_run_t *model, const model_op_t *op)
{
    const bound_tensor_t lhs = model_op_tensor(model, op, 0), rhs = model_op_tensor(model, op, 1);
    const bound_tensor_t output = model_op_tensor(model, op, 2);
    wess_batch_matmul_params_t params;
    model_op_params(op, &params, sizeof params);
    return wess_batch_matmul_s8(&params, &lhs.record.dims, (const int8_t *)lhs.data, &rhs.record.dims,
                                (const int8_t *)rhs.data, &output.record.dims, (int8_t *)output.data);
}
