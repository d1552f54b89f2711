"""All a third-party bot or aggregator imports: the API client, the stream follower with its
checkpoints, the identity (sign up once, keep the key), and the `.npy` array reader/stores.

Cochlea's own featurebots, importers and aggregators are built on this package and nothing
else of the API: they talk to it over HTTP and websockets, as anyone's code would.

- `ApiClient(url=..., token=...)`: `execute(query, variables)` and `mutate(..., field=...)`;
  errors are `GraphQLError` (with `codes`), `UserErrors` (nothing written) or `ApiUnavailable`
  (worth retrying).
- `ensure_bot(redis=..., client=..., name=..., about=..., user_type=..., info_url=...)`: sign up
  on first start (FEATUREBOT by default, AGGREGATOR for an index) and keep the key in Redis;
  reuse it on every later start. Returns a `BotIdentity` (`name`, `user_id`, `token`).
- `follow(url=..., field=..., selection=..., checkpoint=..., filter=...)`: yield each node of
  `soundCreated` / `annotationCreated` / `userCreated`; the checkpoint is saved only when the
  next node is asked for, i.e. after the work on this one is done.
- `follow_batches(..., start="beginning" | "end")`: catch up by pages, then follow live, in
  lists of `Edge(cursor, node)`; the cursor of a batch is saved when the next is asked for.
- Checkpoints: `RedisCheckpoint(redis, key)`, `FileCheckpoint(path)` (atomic replace), and
  `CommittedCheckpoint(load)` for an index that commits its cursor with its data.
- `read_array(data_url, metadata, frames=(i, j))`: a stored `.npy` whole, or its frames
  [i, j) by one HTTP Range request, checked against the metadata (`dtype`, `shape`,
  `dataOffset`): by the file's size, and by its header too with `check_header=True`.
  Problems are `ArrayReadError`s with a `code` (`ArrayMissing`, `ArrayTruncated`,
  `ArrayDtypeMismatch`, `ArrayShapeMismatch`, `BadArrayMetadata`, `ArrayUnavailable`).
- `publish_annotations(client, inputs)`: `createAnnotations` in batches; every input needs a
  `key`, which makes a retry return the annotation made before instead of a duplicate.
- Array stores for bots that publish arrays: `LocalArrayStore`, `S3ArrayStore`, `npy_bytes`,
  `array_metadata`.
"""

from workers.sdk.arrays import array_metadata, npy_bytes
from workers.sdk.batches import Edge, follow_batches
from workers.sdk.checkpoints import (
    Checkpoint,
    CommittedCheckpoint,
    FileCheckpoint,
    RedisCheckpoint,
)
from workers.sdk.client import ApiClient, ApiError, ApiUnavailable, GraphQLError, UserErrors
from workers.sdk.local_arrays import LocalArrayStore
from workers.sdk.publish import publish_annotations
from workers.sdk.registry import BotIdentity, IdentityLost, ensure_bot, find_user_id
from workers.sdk.remote_arrays import (
    ArrayDtypeMismatch,
    ArrayLayout,
    ArrayMissing,
    ArrayReadError,
    ArrayShapeMismatch,
    ArrayTruncated,
    ArrayUnavailable,
    BadArrayMetadata,
    read_array,
)
from workers.sdk.s3_arrays import S3ArrayStore
from workers.sdk.stream import follow

__all__ = [
    "ApiClient",
    "ApiError",
    "ApiUnavailable",
    "ArrayDtypeMismatch",
    "ArrayLayout",
    "ArrayMissing",
    "ArrayReadError",
    "ArrayShapeMismatch",
    "ArrayTruncated",
    "ArrayUnavailable",
    "BadArrayMetadata",
    "BotIdentity",
    "Checkpoint",
    "CommittedCheckpoint",
    "Edge",
    "FileCheckpoint",
    "GraphQLError",
    "IdentityLost",
    "LocalArrayStore",
    "RedisCheckpoint",
    "S3ArrayStore",
    "UserErrors",
    "array_metadata",
    "ensure_bot",
    "find_user_id",
    "follow",
    "follow_batches",
    "npy_bytes",
    "publish_annotations",
    "read_array",
]
