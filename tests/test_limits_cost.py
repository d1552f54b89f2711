"""Static cost limits: a document that may return too much is refused before it runs, with the
cost it was given, whatever it hides behind variables, fragments or aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from graphql import get_introspection_query

from api.settings import Settings
from tests.factories import make_user, unique
from tests.server import GraphQLClient, running_api

# The query of issue 9 (with the closing brace its report lost).
ISSUE_QUERY = """{ sounds(first:500){ edges{ node{ annotations(first:500){ edges{ node{ sound{
  annotations(first:500){ edges{ node{ sound { annotations(first:500) {
  edges { node { id tags } } } } } } } } } } } } } } }"""
NESTED = "annotations(first: 500) { edges { node { sound { annotations(first: 500) { edges { node { id } } } } } } }"


def nested(levels: int) -> str:
    """`levels` annotation connections of 1 item under one another, 4 fields deep each."""
    inner = "id"
    for _ in range(levels):
        inner = f"annotations(first: 1) {{ edges {{ node {{ sound {{ {inner} }} }} }} }}"
    return inner


@pytest.fixture
async def open_limits(settings: Settings) -> AsyncIterator[GraphQLClient]:
    """A server without the alias and root-field limits, so that only the cost speaks."""
    with running_api(settings.model_copy(update={"max_aliases": 0, "max_root_fields": 0})) as url:
        async with httpx.AsyncClient(timeout=30) as http:
            yield GraphQLClient(http, url + "/graphql")


async def test_the_issues_query_is_refused_with_its_cost(gql: GraphQLClient) -> None:
    body = await gql.raw(ISSUE_QUERY)
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert "may return 62,625,250,500 nodes; the limit is 500,000" in error["message"]
    assert error["extensions"]["cost"] == 500 + 500**2 + 500**3 + 500**4
    assert error["extensions"]["limit"] == 500_000


async def test_nothing_of_a_refused_mutation_runs(gql: GraphQLClient) -> None:
    name = unique("too-costly")
    mutation = f"""mutation {{ createUser(input: {{name: "{name}", type: DATASET,
      aboutMe: "imports nothing"}}) {{ user {{ sounds(first: 500) {{ edges {{ node {{
      {NESTED} }} }} }} }} apiKey }} }}"""
    code, message = await gql.error(mutation)
    assert code == "QUERY_TOO_COMPLEX" and "125,250,500 nodes" in message
    found = await gql(
        "query($n: String) { users(filter: {name: $n}) { edges { node { id } } } }", {"n": name}
    )
    assert found["users"]["edges"] == []


async def test_each_alias_counts(gql: GraphQLClient, open_limits: GraphQLClient) -> None:
    page = (
        "sounds(first: 500) { edges { node { annotations(first: 10) { edges { node { id } } } } } }"
    )
    aliased = "{ " + " ".join(f"a{i}: {page}" for i in range(200)) + " }"
    code, message = await open_limits.error(aliased)
    assert code == "QUERY_TOO_COMPLEX"
    assert "may return 1,100,000 nodes" in message  # 200 x (500 + 500 x 10)
    # With the default limits, the same document is refused for its root fields...
    code, message = await gql.error(aliased)
    assert (code, message) == (
        "QUERY_TOO_COMPLEX",
        "this query has 200 root fields; the limit is 20",
    )
    # ...and 200 aliases of one field, anywhere, for its aliases.
    titles = " ".join(f"t{i}: title" for i in range(200))
    code, message = await gql.error(f"{{ sounds(first: 1) {{ edges {{ node {{ {titles} }} }} }} }}")
    assert (code, message) == ("QUERY_TOO_COMPLEX", "this query has 200 aliases; the limit is 100")


async def test_aliases_in_a_fragment_count_each_time_it_is_spread(gql: GraphQLClient) -> None:
    titles = " ".join(f"t{i}: title" for i in range(30))
    spreads = " ".join(
        f"s{i}: sounds(first: 1) {{ edges {{ node {{ ...T }} }} }}" for i in range(4)
    )
    code, message = await gql.error(f"fragment T on Sound {{ {titles} }} {{ {spreads} }}")
    assert (code, message) == ("QUERY_TOO_COMPLEX", "this query has 124 aliases; the limit is 100")


async def test_named_and_inline_fragments_are_expanded(gql: GraphQLClient) -> None:
    named = f"fragment F on Sound {{ {NESTED} }} {{ sounds(first: 500) {{ edges {{ node {{ ...F }} }} }} }}"
    inline = f"{{ sounds(first: 500) {{ edges {{ node {{ ... on Sound {{ {NESTED} }} }} }} }} }}"
    bare = "{ sounds(first: 500) { edges { node { ... { " + NESTED + " } } } } }"
    for document in (named, inline, bare):
        code, message = await gql.error(document)
        assert code == "QUERY_TOO_COMPLEX", document
        assert "may return 125,250,500 nodes" in message  # 500 + 500² + 500³


async def test_fragments_that_multiply_are_refused(gql: GraphQLClient) -> None:
    # Each fragment spreads the next twice: 2^30 copies of `id` once expanded.
    fragments = [
        f"fragment F{i} on Annotation {{ sound {{ ...F{i + 1} }} again: sound {{ ...F{i + 1} }} }}"
        if i % 2 == 0
        else f"fragment F{i} on Sound {{ annotations(first: 1) {{ edges {{ node {{ ...F{i + 1} }} }} }} }}"
        for i in range(60)
    ]
    head = "{ annotations(first: 1) { edges { node { ...F0 } } } }"
    document = " ".join([head, *fragments, "fragment F60 on Annotation { id }"])
    code, message = await gql.error(document)
    assert code == "QUERY_TOO_COMPLEX"
    assert message.startswith("this document expands to more than 10,000 fields")


async def test_depth(gql: GraphQLClient) -> None:
    assert "annotations" in await gql(f"{{ {nested(4)} }}")  # depth 17, costs 4 nodes
    code, message = await gql.error(f"{{ {nested(6)} }}")
    assert (code, message) == (
        "QUERY_TOO_COMPLEX",
        "this query nests fields 25 deep; the limit is 20",
    )


async def test_page_sizes_from_variables(gql: GraphQLClient) -> None:
    query = """query($n: Int) { sounds(first: $n) { edges { node {
      annotations(first: $n) { edges { node { sound { annotations(last: $n) {
        edges { node { id } } } } } } } } } } }"""
    assert "sounds" in await gql(query, {"n": 50})  # 50 + 2,500 + 125,000 nodes
    code, message = await gql.error(query, {"n": 100})
    assert code == "QUERY_TOO_COMPLEX" and "may return 1,010,100 nodes" in message
    with_default = query.replace("query($n: Int)", "query($n: Int = 100)")
    code, message = await gql.error(with_default)
    assert code == "QUERY_TOO_COMPLEX" and "may return 1,010,100 nodes" in message
    # Without `first`/`last`, a connection counts as the default page of 50.
    unsized = "{ sounds { edges { node { annotations { edges { node { sound { annotations { edges { node { sound { annotations(first: 4) { edges { node { id } } } } } } } } } } } } } } }"
    code, message = await gql.error(unsized)
    assert code == "QUERY_TOO_COMPLEX" and "may return 627,550 nodes" in message


async def test_introspection_is_allowed_but_measured(
    gql: GraphQLClient, open_limits: GraphQLClient
) -> None:
    graphiql = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    data = await gql(graphiql)
    assert data["__schema"]["queryType"]["name"] == "Query"
    # Each alias costs what its lists may hold in this schema (types x fields x args...).
    one = "__schema { types { fields { args { name } } } }"
    code, message = await open_limits.error(
        "{ " + " ".join(f"s{i}: {one}" for i in range(200)) + " }"
    )
    assert code == "QUERY_TOO_COMPLEX" and "nodes; the limit is 500,000" in message


async def test_document_size_is_checked_before_parsing(gql: GraphQLClient) -> None:
    padding = "#" + "x" * 100_000 + "\n"
    code, message = await gql.error(padding + "{ stats { users } }")
    assert code == "QUERY_TOO_COMPLEX"
    assert message == "this document has 100,021 bytes; the limit is 100,000"
    # A broken document that large is refused for its size, not its syntax: never parsed.
    code, _ = await gql.error(padding + "{ stats { ")
    assert code == "QUERY_TOO_COMPLEX"


async def test_a_keyed_client_has_the_same_limits(gql: GraphQLClient) -> None:
    user = await make_user(gql, "AGGREGATOR")
    code, message = await gql.error(ISSUE_QUERY, token=user.token)
    assert code == "QUERY_TOO_COMPLEX" and "62,625,250,500" in message
