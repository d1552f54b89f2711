"""First contact: sign up, create, read back over real HTTP."""

from tests.factories import make_annotations, make_sounds, make_user, sound_input
from tests.server import GraphQLClient


async def test_create_and_read_back(gql: GraphQLClient) -> None:
    dataset = await make_user(gql, "DATASET")
    [sound] = await make_sounds(gql, dataset, [sound_input(tags=["Piano", "piano ", "C4"])])
    assert sound["tags"] == ["Piano", "C4"]
    made = await make_annotations(
        gql,
        dataset,
        [
            {"sound": sound["id"], "startSeconds": 1.0, "durationSeconds": 2.0, "tags": ["note"]},
            {
                "sound": sound["id"],
                "startSeconds": 3.0,
                "durationSeconds": 1.0,
                "metadata": {"a": 1},
            },
        ],
    )
    assert [a["endSeconds"] for a in made] == [3.0, 4.0]
    data = await gql(
        """query($id: ID!) { node(id: $id) { ... on Sound { title createdBy { name }
             annotations(first: 10) { totalCount edges { node { tags metadata } } } } } }""",
        {"id": sound["id"]},
    )
    node = data["node"]
    assert node["createdBy"]["name"] == dataset.name
    assert node["annotations"]["totalCount"] == 2
    assert [e["node"]["tags"] for e in node["annotations"]["edges"]] == [["note"], []]
