/* The operator table: one row per op code, iterated by the validator and the runner (internal; how to add an op:
 * docs/adding_an_op.md). Each op's `check` and `run` live in its kernel file, next to the kernel they call. */
#ifndef WESS_OP_TABLE_H
#define WESS_OP_TABLE_H

#include "model_format.h"

/* The model an op belongs to: the checked header and the two regions tensors live in (arena NULL while the
 * validator runs the checks). */
typedef struct {
    const uint8_t *blob;
    model_header_t header;
    uint8_t *arena;
} model_run_t;

/* A tensor's record and its bytes (NULL for an absent optional tensor, index -1, or an arena tensor while
 * validating). */
typedef struct {
    model_tensor_t record;
    uint8_t *data;
} bound_tensor_t;

/* The four words after the parameters of an int8 CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED: where its
 * requantization tables lie in the constant section (they become a wess_requant_t). */
typedef struct {
    int32_t multiplier_count;    /* 1 (per layer / WESS) or the output channel count */
    int32_t multiplier_offset;   /* multiplier_count int32 Q31 mantissas */
    int32_t right_shift_offset;  /* multiplier_count int32 right shifts */
    int32_t shift4_offset;       /* (out_ch + 1) / 2 bytes of packed WESS shifts, or MODEL_NO_OFFSET */
} model_requant_words_t;

/* Op-specific checks run once by wess_model_validate after the generic ones (counts, tensor indices, types), like
 * TFLite Micro's Prepare: WESS_OK, or a status with *error_tensor set to the tensor at fault (-1: none). The
 * kernels still check their own parameters when they run. */
typedef wess_status_t (*model_op_check_t)(const model_run_t *model, const model_op_t *op, int32_t *error_tensor);

/* Runs one op of a validated model: binds its tensors, decodes its parameter words and calls its kernel. */
typedef wess_status_t (*model_op_run_t)(const model_run_t *model, const model_op_t *op);

#define MODEL_TYPE_ANY 0xFFu  /* a tensor type the generic check leaves to the op's check */

/* One row of the operator table. */
struct model_op_kind {
    uint16_t op_code;           /* TFLite BuiltinOperator, | MODEL_OP_FLOAT32 for a float32 kernel */
    const char *name;           /* TFLite's name (float32 kernels: with an _F32 suffix) */
    uint16_t min_inputs;        /* input tensor count range of the op record */
    uint16_t max_inputs;
    uint16_t min_outputs;       /* output tensor count range of the op record (the last tensor words) */
    uint16_t max_outputs;
    uint8_t input_types[3];     /* MODEL_TYPE_* of inputs 0, 1 and of every input from 2 on; MODEL_TYPE_ANY: any */
    uint8_t output_type;
    int8_t optional_input;      /* the input position whose tensor index may be -1 (absent), or -1 */
    uint16_t param_words;       /* words of params_struct, which the parameter words hold field by field */
    const char *params_struct;  /* the parameter struct's C name (NULL: no parameter words) */
    uint16_t requant_words;     /* 4 when a model_requant_words_t follows the parameters, else 0 */
    model_op_check_t check;
    model_op_run_t run;
};

/* The run of the relabelling rows (RESHAPE, SQUEEZE, EXPAND_DIMS): the only ops whose output may share its input's
 * arena bytes (the memory plan gives them one buffer; reshape.c moves with memmove). */
wess_status_t reshape_op_run(const model_run_t *model, const model_op_t *op);

/* ------------------------------------------------------------ helpers for the ops' check and run (op_io.c) */

/* A tensor of the model by index (-1: the absent optional tensor, dims [1, 1, 1, 1], data NULL). */
bound_tensor_t model_bind(const model_run_t *model, int32_t index);

/* Tensor word `position` of the op bound (inputs first, then outputs). */
bound_tensor_t model_op_tensor(const model_run_t *model, const model_op_t *op, uint32_t position);

/* The op's parameter words, copied field by field into the kind's parameter struct (bytes == 4 * param_words). */
void model_op_params(const model_op_t *op, void *params, size_t bytes);

/* The requantization words that follow the op's parameters. */
model_requant_words_t model_op_requant_words(const model_op_t *op);

/* The requantization tables those words point to, in the constant section. */
wess_requant_t model_op_requant(const model_run_t *model, const model_op_t *op);

/* FULLY_CONNECTED views its input as [flat / in_depth, 1, 1, in_depth] and output as [n * h * w, 1, 1, out]. */
void model_fully_connected_dims(const bound_tensor_t *input, const bound_tensor_t *filter,
                                const bound_tensor_t *output, wess_dims_t *input_dims, wess_dims_t *output_dims);

/* ------------------------------------------------------------ checks shared by several ops (model_validate.c) */

/* No op-specific check. */
wess_status_t model_check_none(const model_run_t *model, const model_op_t *op, int32_t *error_tensor);

/* CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED, int8 or float32: the bias length; with requantization words,
 * their tables inside the constant section. */
wess_status_t model_check_weighted(const model_run_t *model, const model_op_t *op, int32_t *error_tensor);

/* Every op code the table holds returns WESS_ERR_UNSUPPORTED from this run (a kernel left out of a build). */
wess_status_t model_run_unsupported(const model_run_t *model, const model_op_t *op);

#endif /* WESS_OP_TABLE_H */
