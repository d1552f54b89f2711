"""Which fields the compiled read path renders in SQL, and which it leaves to the resolvers.

Every field of the read types is in exactly one of the two tables (a test checks it against
the schema), so a field added to a type can never be silently dropped or served differently:
until it is given SQL here it is listed under `FALLBACK`, and a selection holding it is served
by the resolvers.
"""

from __future__ import annotations

from typing import Literal

# How a column becomes the JSON the resolvers would send.
Render = Literal[
    "id", "plain", "float", "timestamp", "json", "object:User", "object:Sound", "connection"
]

COMPILED: dict[str, dict[str, tuple[str, Render]]] = {
    "Sound": {
        "id": ("id", "id"),
        "createdAt": ("created_at", "timestamp"),
        "title": ("title", "plain"),
        "audioUrl": ("audio_url", "plain"),
        "lowQualityAudioUrl": ("low_quality_audio_url", "plain"),
        "infoUrl": ("info_url", "plain"),
        "license": ("license", "plain"),
        "durationSeconds": ("duration_seconds", "float"),
        "tags": ("tags", "json"),
        "metadata": ("metadata", "json"),
        "createdBy": ("created_by", "object:User"),
        "annotations": ("id", "connection"),
    },
    "Annotation": {
        "id": ("id", "id"),
        "createdAt": ("created_at", "timestamp"),
        "startSeconds": ("start_seconds", "float"),
        "durationSeconds": ("duration_seconds", "float"),
        "endSeconds": ("end_seconds", "float"),
        "tags": ("tags", "json"),
        "dataUrl": ("data_url", "plain"),
        "metadata": ("metadata", "json"),
        "createdBy": ("created_by", "object:User"),
        "sound": ("sound_id", "object:Sound"),
    },
    "User": {
        "id": ("id", "id"),
        "createdAt": ("created_at", "timestamp"),
        "name": ("name", "plain"),
        "type": ("type", "plain"),
        "aboutMe": ("about_me", "plain"),
        "infoUrl": ("info_url", "plain"),
        "deleted": ("deleted", "plain"),
        "sounds": ("id", "connection"),
        "annotations": ("id", "connection"),
    },
}

# Connection, edge and page-info fields, rendered by `api.graphql.compiled.compiler`.
CONNECTION_FIELDS = frozenset({"edges", "pageInfo", "totalCount"})
EDGE_FIELDS = frozenset({"cursor", "node"})
PAGE_INFO_FIELDS = frozenset({"hasNextPage", "hasPreviousPage", "startCursor", "endCursor"})

# Left to the resolvers: a root field whose selection holds one of these is not compiled.
FALLBACK: dict[str, frozenset[str]] = {
    "Sound": frozenset(),
    "Annotation": frozenset(),
    "User": frozenset({"email", "apiKeys"}),
}
