"""Every error in a response carries `extensions.code`.

Service errors bring their own (see `api.errors`); `CodedSchema.process_errors` (which
Strawberry calls for queries, mutations and every subscription result alike) adds codes to
the errors GraphQL itself raises (syntax, validation, variable coercion) and hides the text of
unexpected exceptions behind INTERNAL_SERVER_ERROR, so clients can always branch on the code.
Only unexpected exceptions are logged: a client's mistake is not a server error.
"""

from __future__ import annotations

import logging

import asyncpg
import strawberry
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError
from strawberry.types import ExecutionContext

from api.errors import CochleaError

log = logging.getLogger("cochlea.graphql")


def _statement_timed_out(error: BaseException) -> bool:
    """PostgreSQL cancelled the statement (SQLSTATE 57014: COCHLEA_STATEMENT_TIMEOUT_SECONDS)."""
    own = getattr(error, "sqlstate", None)  # asyncpg's error (the compiled reads' pool)
    return (own or getattr(getattr(error, "orig", None), "sqlstate", None)) == "57014"


# SQLSTATE classes/codes meaning "the database went away or is not taking work right now":
# 08 connection exceptions, 57P01-57P03 admin/crash shutdown and "cannot connect now".
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def _database_unavailable(error: BaseException) -> bool:
    """The database connection was lost or refused (PostgreSQL restarting, failing over, down).

    A transaction either committed whole or not at all; only a commit whose reply was lost is
    in doubt, and writes repeated with the same `key` are not duplicated, so the client may
    retry: SERVICE_UNAVAILABLE. Looks through the whole cause chain, because
    SQLAlchemy wraps asyncpg's errors, which wrap the socket's."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, asyncpg.PostgresConnectionError):
            return True
        if isinstance(current, OSError) and _raised_by_the_driver(current):
            return True
        if isinstance(current, asyncpg.InterfaceError) and "connection" in str(current).lower():
            return True
        sqlstate = getattr(current, "sqlstate", None) or getattr(
            getattr(current, "orig", None), "sqlstate", None
        )
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        current = current.__cause__ or current.__context__
    return False


def _raised_by_the_driver(error: BaseException) -> bool:
    """A socket error from connecting to PostgreSQL, not one from the app's own files."""
    frame = error.__traceback__
    while frame is not None:
        module = frame.tb_frame.f_globals.get("__name__", "")
        if module.startswith(("asyncpg", "sqlalchemy")):
            return True
        frame = frame.tb_next
    return False


def code_for(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, CochleaError):
        return original.code
    if original is not None and _statement_timed_out(original):
        return "TIMEOUT"
    if original is not None and _database_unavailable(original):
        return "SERVICE_UNAVAILABLE"
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
            elif code == "SERVICE_UNAVAILABLE":
                log.warning("database unavailable in %s: %s", error.path, error.original_error)
                error.message = (
                    "the database is unavailable right now (restarting or unreachable); retry "
                    "in a few seconds (a write repeated with the same `key` is not duplicated)"
                )
            elif code == "TIMEOUT":
                error.message = (
                    "a database statement took longer than COCHLEA_STATEMENT_TIMEOUT_SECONDS "
                    "and was cancelled; ask for less (smaller pages, narrower filters)"
                )
            error.extensions = {**(error.extensions or {}), "code": code}
