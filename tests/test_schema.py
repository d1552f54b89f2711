"""`schema.graphql` is what the code serves: regenerate it with `make schema` when this fails."""

from pathlib import Path

from strawberry.printer import print_schema

from api.graphql.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_file_is_current() -> None:
    assert SCHEMA_FILE.read_text().strip() == print_schema(schema).strip(), (
        "schema.graphql is stale: run `make schema` and commit it"
    )


def test_public_names_are_kept() -> None:
    text = print_schema(schema)
    for name in (
        "node(id: ID!): Node",
        "viewer: User",
        "enum Order",
        "enum UserType",
        "enum License",
        "scalar JSON",
        "createSounds(input: [SoundInput!]!): CreateSoundsPayload!",
        "createAnnotations(input: [AnnotationInput!]!): CreateAnnotationsPayload!",
    ):
        assert name in text, name
