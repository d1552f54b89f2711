"""All a third-party bot or aggregator imports: the API client, the stream follower with its
checkpoints, the identity (sign up once, keep the key), and the `.npy` array reader/stores.

Cochlea's own featurebots, importers and aggregators are built on this package and nothing
else of the API: they talk to it over HTTP and websockets, as anyone's code would.
"""
