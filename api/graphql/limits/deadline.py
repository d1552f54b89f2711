"""The request timeout: an HTTP GraphQL request gets COCHLEA_REQUEST_TIMEOUT_SECONDS.

A request over its time is *aborted*, not torn down: graphql-core's abort signal (which
`LimitedSchema` hands to every execution) stops the execution at once and cancels the
resolvers it is waiting on, their statements included, and unwinds cleanly. Cancelling the
task from outside instead would leave graphql-core's not-yet-started coroutines behind. What
graphql-core does not own (dataloader batches, in tasks of their own) is then cancelled
through the request's engine, so every connection the request held goes back to the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from graphql import AbortedGraphQLExecutionError, GraphQLError
from graphql.pyutils import AbortController, AbortSignal
from strawberry.types import ExecutionContext

from api.errors import Timeout
from api.graphql.errors import CodedSchema

T = TypeVar("T")

# How long an aborted request may take to unwind before its task is cancelled outright.
UNWIND_SECONDS = 5.0

_SIGNAL: ContextVar[AbortSignal | None] = ContextVar("cochlea_abort_signal", default=None)
# What an aborted execution still has to unwind (graphql-core hands it over with the error).
_UNWINDING: ContextVar[list[Awaitable[Any]] | None] = ContextVar("cochlea_unwinding", default=None)


class LimitedSchema(CodedSchema):
    """The schema, executing every operation under the current request's abort signal."""

    def _get_custom_context_kwargs(
        self, operation_extensions: dict[str, Any] | None = None, *, sync: bool = False
    ) -> dict[str, Any]:
        kwargs = super()._get_custom_context_kwargs(operation_extensions, sync=sync)
        signal = _SIGNAL.get()
        if signal is not None:
            kwargs["abort_signal"] = signal
        return kwargs

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            aborted = error.original_error
            if isinstance(aborted, AbortedGraphQLExecutionError):
                error.extensions = {**(error.extensions or {}), "code": "TIMEOUT"}
                unwinding = _UNWINDING.get()
                if unwinding is not None and inspect.isawaitable(aborted.aborted_result):
                    unwinding.append(aborted.aborted_result)
        super().process_errors(errors, execution_context)


class TimedOut(Exception):
    pass


async def within(seconds: float, run: Callable[[], Awaitable[T]], abandon: Callable[[], None]) -> T:
    """`run()`, or TimedOut once it has taken `seconds` (0: no limit) and been stopped;
    `abandon()` then stops what the request runs outside graphql-core's execution."""
    if seconds <= 0:
        return await run()
    controller = AbortController()
    unwinding: list[Awaitable[Any]] = []
    signal, unwind = _SIGNAL.set(controller.signal), _UNWINDING.set(unwinding)
    try:
        task = asyncio.ensure_future(run())  # the task inherits both
    finally:
        _SIGNAL.reset(signal)
        _UNWINDING.reset(unwind)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
        if done:
            return task.result()
        controller.abort(Timeout(f"the request took longer than {seconds:g} s"))
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, UNWIND_SECONDS)
        for rest in unwinding:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(rest, UNWIND_SECONDS)
        abandon()
        raise TimedOut
    finally:
        if not task.done():
            task.cancel()  # the client went away, or the unwinding took too long
            abandon()
