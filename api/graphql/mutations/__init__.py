"""The `Mutation` root."""

from __future__ import annotations

import strawberry

from api.graphql.mutations import accounts, batches


@strawberry.type
class Mutation:
    create_user = accounts.create_user
    login = accounts.login
    create_api_key = accounts.create_api_key
    revoke_api_key = accounts.revoke_api_key
    update_viewer = accounts.update_viewer
    delete_viewer = accounts.delete_viewer
    create_sounds = batches.create_sounds
    create_annotations = batches.create_annotations
