"""Every error in a response carries `extensions.code`.

Service errors bring their own (see `api.errors`); this extension adds codes to the errors
GraphQL itself raises (syntax, validation, variable coercion) and hides the text of unexpected
exceptions behind INTERNAL_SERVER_ERROR, so clients can always branch on the code.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from api.errors import CochleaError


def code_for(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, CochleaError):
        return original.code
    if original is not None and not isinstance(original, GraphQLError):
        return "INTERNAL_SERVER_ERROR"
    if error.path is None and "Syntax Error" in error.message:
        return "GRAPHQL_PARSE_FAILED"
    if error.path is None and error.message.startswith("Variable "):
        return "BAD_USER_INPUT"
    if error.path is None:
        return "GRAPHQL_VALIDATION_FAILED"
    return "BAD_USER_INPUT"


def with_code(error: GraphQLError) -> GraphQLError:
    """`error` with a code; unexpected exceptions lose their (possibly revealing) text."""
    code = code_for(error)
    if code == "INTERNAL_SERVER_ERROR":
        error.message = "internal server error"
    extensions = dict(error.extensions or {})
    extensions.setdefault("code", code)
    error.extensions = extensions
    return error


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            for error in result.errors:
                with_code(error)
        for error in self.execution_context.pre_execution_errors or []:
            with_code(error)
