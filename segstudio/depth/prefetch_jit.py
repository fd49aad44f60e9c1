"""A software prefetch for Numba kernels: ``prefetch(table, row, col)`` asks the processor to start
loading the cache line of ``table[row, col]`` (a 2-D array) and returns at once.

Why: the forest descent's deep levels wait on split rows that miss the core's cache (a frame
reads a few MB of them, scattered over ~35 MB), and the processor overlaps only the few steps its
reorder buffer holds. Which row each pair reads next is known a whole level ahead, so asking for
it some pairs early overlaps many more of those misses (``descent_loop``); likewise the leaf rows
the trees' mean reads. Numba has no prefetch of its own; this is LLVM's ``llvm.prefetch`` (a read,
kept in all cache levels), declared through llvmlite so its name fits the LLVM in use. Importing
this module imports Numba.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx: Any, table: types.Array, row: types.Integer, col: types.Integer) -> tuple[Any, Any]:
    """Prefetch the cache line of ``table[row, col]`` (no bounds check: a prefetch never faults,
    but the caller passes a valid place)."""
    signature = types.void(table, row, col)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        array_type = sig.args[0]
        array = context.make_array(array_type)(context, builder, args[0])
        indices = zip(args[1:], sig.args[1:], strict=True)
        place = [context.cast(builder, arg, kind, types.intp) for arg, kind in indices]
        address = cgutils.get_item_pointer(context, builder, array_type, array, place, wraparound=False)
        byte_pointer = ir.IntType(8).as_pointer()
        int32 = ir.IntType(32)
        function_type = ir.FunctionType(ir.VoidType(), [byte_pointer, int32, int32, int32])
        llvm_prefetch = builder.module.declare_intrinsic("llvm.prefetch", [byte_pointer], function_type)
        # read (0), highest temporal locality (3), data cache (1)
        builder.call(llvm_prefetch, [builder.bitcast(address, byte_pointer), int32(0), int32(3), int32(1)])
        return context.get_dummy_value()

    return signature, codegen
