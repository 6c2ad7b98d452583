"""Record builders of the later operators (ABS, BATCH_MATMUL), as op_records' (docs/adding_an_op.md)."""
from __future__ import annotations

from ai_edge_litert import schema_py_generated as schema

from . import kernel_params_ext as kpe
from .op_records import OpContext, OpRecord


def abs_op(ctx: OpContext) -> OpRecord:
    return OpRecord(ctx.inputs[:1], kpe.abs_params(*ctx.reader.quant(ctx.inputs[0]), *ctx.reader.quant(ctx.output)))


def batch_matmul(ctx: OpContext) -> OpRecord:
    """BATCH_MATMUL: two int8 operands (either may be a constant), adj_x / adj_y from its options."""
    options = ctx.options(schema.BatchMatMulOptionsT)
    lhs, rhs = ctx.inputs[:2]
    params = kpe.batch_matmul_params(tuple(ctx.reader.shape(lhs)), tuple(ctx.reader.shape(rhs)), bool(options.adjX),
                                     bool(options.adjY), ctx.reader.quant(lhs), ctx.reader.quant(rhs),
                                     ctx.reader.quant(ctx.output))
    return OpRecord((lhs, rhs), params)
