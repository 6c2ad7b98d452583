/* Compact model blob layout and bounds-checked readers (internal; the format is docs/compact_model.md). */
#ifndef WESS_MODEL_FORMAT_H
#define WESS_MODEL_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "wess_ref.h"

#define MODEL_HEADER_BYTES 64u
#define MODEL_TENSOR_BYTES 36u
#define MODEL_OP_HEADER_BYTES 8u
#define MODEL_MAX_CONCAT_INPUTS 16
#define MODEL_NO_OFFSET (-1)

/* TFLite BuiltinOperator codes of the supported ops. */
enum {
    MODEL_OP_ADD = 0,
    MODEL_OP_AVERAGE_POOL_2D = 1,
    MODEL_OP_CONCATENATION = 2,
    MODEL_OP_CONV_2D = 3,
    MODEL_OP_DEPTHWISE_CONV_2D = 4,
    MODEL_OP_DEQUANTIZE = 6,
    MODEL_OP_FULLY_CONNECTED = 9,
    MODEL_OP_LOGISTIC = 14,
    MODEL_OP_MAX_POOL_2D = 17,
    MODEL_OP_MUL = 18,
    MODEL_OP_RELU = 19,
    MODEL_OP_RELU6 = 21,
    MODEL_OP_RESHAPE = 22,
    MODEL_OP_RESIZE_BILINEAR = 23,
    MODEL_OP_SOFTMAX = 25,
    MODEL_OP_TANH = 28,
    MODEL_OP_PAD = 34,
    MODEL_OP_TRANSPOSE = 39,
    MODEL_OP_MEAN = 40,
    MODEL_OP_SUB = 41,
    MODEL_OP_SQUEEZE = 43,
    MODEL_OP_SPLIT = 49,
    MODEL_OP_STRIDED_SLICE = 45,
    MODEL_OP_PRELU = 54,
    MODEL_OP_MAXIMUM = 55,
    MODEL_OP_MINIMUM = 57,
    MODEL_OP_PADV2 = 60,
    MODEL_OP_SLICE = 65,
    MODEL_OP_TRANSPOSE_CONV = 67,
    MODEL_OP_EXPAND_DIMS = 70,
    MODEL_OP_SUM = 74,
    MODEL_OP_REDUCE_MAX = 82,
    MODEL_OP_PACK = 83,
    MODEL_OP_UNPACK = 88,
    MODEL_OP_RESIZE_NEAREST_NEIGHBOR = 97,
    MODEL_OP_LEAKY_RELU = 98,
    MODEL_OP_SQUARED_DIFFERENCE = 99,
    MODEL_OP_ABS = 101,
    MODEL_OP_SPLIT_V = 102,
    MODEL_OP_QUANTIZE = 114,
    MODEL_OP_HARD_SWISH = 117,
    MODEL_OP_BATCH_MATMUL = 126
};

/* Bit 15 of an op code selects the float32 kernel of CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED (an operator
 * a partially quantized model leaves in float); no TFLite builtin code has it set. */
#define MODEL_OP_FLOAT32 0x8000u
/* Op code bit of the int8-input kernel of an op whose plain row takes float: QUANTIZE int8 -> int8 requantizes. */
#define MODEL_OP_INT8_INPUT 0x4000u
enum { MODEL_OP_QUANTIZE_S8 = MODEL_OP_INT8_INPUT | MODEL_OP_QUANTIZE };
/* Op code bit of the packed 4-bit weight kernel of CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED (W4A8): the
 * filter is a MODEL_TYPE_INT4 tensor. */
#define MODEL_OP_INT4_FILTER 0x2000u
enum {
    MODEL_OP_CONV_2D_S4 = MODEL_OP_INT4_FILTER | MODEL_OP_CONV_2D,
    MODEL_OP_DEPTHWISE_CONV_2D_S4 = MODEL_OP_INT4_FILTER | MODEL_OP_DEPTHWISE_CONV_2D,
    MODEL_OP_FULLY_CONNECTED_S4 = MODEL_OP_INT4_FILTER | MODEL_OP_FULLY_CONNECTED
};

/* Op code bit of the grouped-filter kernel of CONV_2D: the filter's input channels are a proper divisor of the
 * input's (groups = input channels / filter input channels). */
#define MODEL_OP_GROUPED_FILTER 0x1000u
enum { MODEL_OP_CONV_2D_GROUPED = MODEL_OP_GROUPED_FILTER | MODEL_OP_CONV_2D };

enum {
    MODEL_OP_CONV_2D_F32 = MODEL_OP_FLOAT32 | MODEL_OP_CONV_2D,
    MODEL_OP_DEPTHWISE_CONV_2D_F32 = MODEL_OP_FLOAT32 | MODEL_OP_DEPTHWISE_CONV_2D,
    MODEL_OP_FULLY_CONNECTED_F32 = MODEL_OP_FLOAT32 | MODEL_OP_FULLY_CONNECTED
};

/* MODEL_TYPE_INT4: constant weights only, two signed 4-bit values per byte (WESS_S4_UNPACK_BYTES in wess_ref.h),
 * data_bytes = (elements + 1) / 2. */
enum { MODEL_TYPE_INT8 = 0, MODEL_TYPE_INT32 = 1, MODEL_TYPE_FLOAT32 = 2, MODEL_TYPE_INT4 = 3 };
enum { MODEL_STORAGE_NONE = 0, MODEL_STORAGE_ARENA = 1, MODEL_STORAGE_CONSTANT = 2 };

/* The header fields, after the magic/version/size checks of model_read_header. */
typedef struct {
    uint32_t blob_bytes;
    uint32_t flags;
    uint32_t tensor_count;
    uint32_t op_count;
    uint32_t input_tensor;
    uint32_t output_tensor;
    uint32_t tensor_table_offset;
    uint32_t op_table_offset;
    uint32_t op_table_bytes;
    uint32_t constant_offset;
    uint32_t constant_bytes;
    uint32_t arena_bytes;
    uint32_t output_count;        /* 1 in a version 2 blob */
    uint32_t output_list_offset;  /* version 3: output_count u32 tensor indices at constant_offset + this */
    uint32_t input_count;         /* 1 before version 4 */
    uint32_t input_list_offset;   /* version 4: input_count u32 tensor indices at constant_offset + this (right
                                     after the output list and the input count word) */
} model_header_t;

/* One tensor record. */
typedef struct {
    wess_dims_t dims;
    uint8_t type;
    uint8_t storage;
    int32_t zero_point;
    float scale;
    uint32_t data_offset;  /* in the arena or the constant section */
    uint32_t data_bytes;
} model_tensor_t;

/* A row of the operator table (op_table.h). */
typedef struct model_op_kind model_op_kind_t;

/* One op record: words[0, input_count + output_count) are tensor indices, the rest parameters. */
typedef struct {
    uint16_t op_code;
    uint16_t record_bytes;
    uint16_t input_count;
    uint16_t output_count;
    uint32_t word_count;
    const uint8_t *words;  /* little-endian int32, word_count of them, inside the blob */
    const model_op_kind_t *kind;  /* the table row of op_code */
} model_op_t;

static inline uint32_t read_u32(const uint8_t *bytes)
{
    return (uint32_t)bytes[0] | ((uint32_t)bytes[1] << 8) | ((uint32_t)bytes[2] << 16) | ((uint32_t)bytes[3] << 24);
}

static inline uint16_t read_u16(const uint8_t *bytes)
{
    return (uint16_t)(bytes[0] | (bytes[1] << 8));
}

static inline int32_t read_i32(const uint8_t *bytes)
{
    const uint32_t value = read_u32(bytes);
    return value <= INT32_MAX ? (int32_t)value : (int32_t)(value - 2147483648u) - INT32_MAX - 1;
}

/* Word i of an op record (caller checks i < word_count). */
static inline int32_t op_word(const model_op_t *op, uint32_t index)
{
    return read_i32(op->words + 4u * index);
}

/* Tensor index of output `position` < header->output_count (the list is inside the blob once the header is
 * checked; a version 2 blob's only output is output_tensor). */
uint32_t model_output_tensor(const uint8_t *blob, const model_header_t *header, uint32_t position);

/* Tensor index of input `position` < header->input_count (before version 4 the only input is input_tensor). */
uint32_t model_input_tensor(const uint8_t *blob, const model_header_t *header, uint32_t position);

/* Parses and checks the header: blob_len, magic, version, section offsets and sizes. */
wess_status_t model_read_header(const uint8_t *blob, size_t blob_len, model_header_t *header);

/* Reads tensor record index < header->tensor_count (the table is inside the blob once the header is checked). */
void model_read_tensor(const uint8_t *blob, const model_header_t *header, uint32_t index, model_tensor_t *tensor);

/* Reads the op record at *cursor (a byte offset into the op table) and advances the cursor past it:
 * WESS_ERR_BAD_OP for an op code the table lacks or a word count other than its tensors, parameters and
 * requantization words. */
wess_status_t model_read_op(const uint8_t *blob, const model_header_t *header, uint32_t *cursor, model_op_t *op);

/* The operator table's row of an op code, or NULL (op_table.c). */
const model_op_kind_t *model_op_find(uint16_t op_code);

#endif /* WESS_MODEL_FORMAT_H */
