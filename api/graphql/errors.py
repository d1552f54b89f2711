"""Every error in a response carries `extensions.code`.

Service errors bring their own (see `api.errors`); `CodedSchema.process_errors` (which
Strawberry calls for queries, mutations and every subscription result alike) adds codes to
the errors GraphQL itself raises (syntax, validation, variable coercion) and hides the text of
unexpected exceptions behind INTERNAL_SERVER_ERROR, so clients can always branch on the code.
Only unexpected exceptions are logged: a client's mistake is not a server error.
"""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext

from api.errors import CochleaError

log = logging.getLogger("cochlea.graphql")


def _statement_timed_out(error: BaseException) -> bool:
    """PostgreSQL cancelled the statement (SQLSTATE 57014: COCHLEA_STATEMENT_TIMEOUT_SECONDS)."""
    return getattr(getattr(error, "orig", None), "sqlstate", None) == "57014"


def code_for(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, CochleaError):
        return original.code
    if original is not None and _statement_timed_out(original):
        return "TIMEOUT"
    if original is not None and not isinstance(original, GraphQLError):
        return "INTERNAL_SERVER_ERROR"
    if error.path is None and "Syntax Error" in error.message:
        return "GRAPHQL_PARSE_FAILED"
    if error.path is None and error.message.startswith("Variable "):
        return "BAD_USER_INPUT"
    if error.path is None:
        return "GRAPHQL_VALIDATION_FAILED"
    return "BAD_USER_INPUT"


class CodedSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if error.extensions and "code" in error.extensions:
                continue
            code = code_for(error)
            if code == "INTERNAL_SERVER_ERROR":
                log.error("unexpected error in %s", error.path, exc_info=error.original_error)
                error.message = "internal server error"
            elif code == "TIMEOUT":
                error.message = (
                    "a database statement took longer than COCHLEA_STATEMENT_TIMEOUT_SECONDS "
                    "and was cancelled; ask for less (smaller pages, narrower filters)"
                )
            error.extensions = {**(error.extensions or {}), "code": code}
