"""Schema-driven fuzzing against a live server: whatever a client sends, valid or not, the answer
is HTTP 200 or 4xx with a JSON body, and every error in it carries `extensions.code`.

Documents come from hypothesis-graphql (valid ones and ones with one schema violation); the
mutations also run with their arguments as *variables* whose values are arbitrary JSON, which
exercises variable coercion and the services' own validation. Each fuzzing client calls from a
loopback address of its own, so spending its rate-limit budget never touches another test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, mutations, queries

from api.graphql.schema import schema as api_schema

SDL = graphql.build_schema(str(api_schema))
assert SDL.mutation_type is not None
MUTATION_FIELDS = SDL.mutation_type.fields
CUSTOM_SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "DateTime": st.one_of(
        st.builds(graphql.StringValueNode, value=st.sampled_from(["2026-01-01T00:00:00Z", "x"])),
        st.builds(graphql.StringValueNode, value=st.text(max_size=30)),
    ),
    "JSON": st.builds(graphql.StringValueNode, value=st.text(max_size=20)),
}
# Deleting the fuzzing user would only turn the rest of the run into UNAUTHENTICATED answers.
MUTATIONS = [name for name in MUTATION_FIELDS if name != "deleteViewer"]
FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
JSON_VALUES: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


class Fuzzer:
    """Posts documents from one loopback address and checks the shape of every answer."""

    def __init__(self, url: str, address: str, token: str | None = None) -> None:
        transport = httpx.HTTPTransport(local_address=address)
        self.http = httpx.Client(transport=transport, timeout=60)
        self.url = url + "/graphql"
        self.headers = {"authorization": f"Bearer {token}"} if token else {}

    def check(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"query": query, "variables": variables or {}}
        response = self.http.post(self.url, json=body, headers=self.headers)
        assert response.status_code < 500, (response.status_code, query, response.text[:500])
        assert 200 <= response.status_code, response.status_code
        payload = response.json()
        assert isinstance(payload, dict), payload
        for error in payload.get("errors") or []:
            assert (error.get("extensions") or {}).get("code"), (query, variables, error)
        assert payload.get("errors") or "data" in payload, payload
        return payload


def _fuzzer(api_url: str, address: str, *, keyed: bool) -> Iterator[Fuzzer]:
    token = None
    if keyed:
        plain = Fuzzer(api_url, address)
        made = plain.check(
            "mutation($n: String!) { createUser(input: {name: $n, type: DATASET}) { apiKey } }",
            {"n": f"fuzz-{address.replace('.', '-')}"},
        )
        token = made["data"]["createUser"]["apiKey"]
        plain.http.close()
    fuzzer = Fuzzer(api_url, address, token)
    try:
        yield fuzzer
    finally:
        fuzzer.http.close()


@pytest.fixture(scope="module")
def anonymous(api_url: str) -> Iterator[Fuzzer]:
    yield from _fuzzer(api_url, "127.0.9.2", keyed=False)


@pytest.fixture(scope="module")
def keyed(api_url: str) -> Iterator[Fuzzer]:
    yield from _fuzzer(api_url, "127.0.9.3", keyed=True)


def _variables_document(field: str) -> str:
    """`mutation($a: T!, ...) { field(a: $a, ...) { __typename } }` for one mutation."""
    definition = MUTATION_FIELDS[field]
    declared = ", ".join(f"${name}: {arg.type}" for name, arg in definition.args.items())
    passed = ", ".join(f"{name}: ${name}" for name in definition.args)
    if not definition.args:
        return f"mutation {{ {field} {{ __typename }} }}"
    return f"mutation({declared}) {{ {field}({passed}) {{ __typename }} }}"


@given(query=queries(SDL, custom_scalars=CUSTOM_SCALARS))
@FUZZ
def test_valid_queries(anonymous: Fuzzer, keyed: Fuzzer, query: str) -> None:
    anonymous.check(query)
    keyed.check(query)


@given(query=from_schema(SDL, custom_scalars=CUSTOM_SCALARS, mode=Mode.NEGATIVE))
@FUZZ
def test_invalid_documents(anonymous: Fuzzer, keyed: Fuzzer, query: str) -> None:
    payload = keyed.check(query)
    assert payload.get("errors"), (query, payload)
    anonymous.check(query)


@given(query=mutations(SDL, fields=MUTATIONS, custom_scalars=CUSTOM_SCALARS))
@FUZZ
def test_valid_mutations(anonymous: Fuzzer, keyed: Fuzzer, query: str) -> None:
    anonymous.check(query)
    keyed.check(query)


@given(field=st.sampled_from(MUTATIONS), data=st.data())
@FUZZ
def test_mutations_with_arbitrary_variables(
    anonymous: Fuzzer, keyed: Fuzzer, field: str, data: st.DataObject
) -> None:
    args = MUTATION_FIELDS[field].args
    variables = {name: data.draw(JSON_VALUES, label=name) for name in args}
    document = _variables_document(field)
    anonymous.check(document, variables)
    keyed.check(document, variables)


def test_garbage_bodies(anonymous: Fuzzer) -> None:
    """Not GraphQL at all: still a coded 4xx answer, never a 500."""
    for content in (b"", b"{", b"[]", b'{"query": 5}', b'{"query": "{ stats { x } }"', b"\xff"):
        response = anonymous.http.post(
            anonymous.url, content=content, headers={"content-type": "application/json"}
        )
        assert 400 <= response.status_code < 500, (content, response.status_code, response.text)
        for error in response.json().get("errors") or []:
            assert (error.get("extensions") or {}).get("code"), (content, error)
