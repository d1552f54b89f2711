"""The seven featurebots as the runtime sees them: what each follows, and where its state lives.

`BOTS` maps a bot's user name to its `BotSpec`. Bots that analyse audio (`stft`, `onsets`,
`loudness`, `peaks`) follow `soundCreated`; the spectral bots (`mel`, `chroma`, `mfcc`) follow the
`stft` bot's annotations and read its arrays from the store. A job is identified by bot, source
resource and feature version (`job_id`), which is also the idempotency key of the annotation it
creates, so a replayed or retried job never duplicates anything.

`Namespace` names the Redis keys of one deployment (checkpoints, queues, failures); tests use
their own so they do not see each other's state. Bot keys are not namespaced (`registry`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from workers.features import BOT_NAMES, bot_module

__all__ = [
    "BOTS",
    "DERIVED_FROM",
    "NOTE_SELECTION",
    "SOUND_SELECTION",
    "BotSpec",
    "Namespace",
    "annotation_key",
    "job_id",
]

DERIVED_FROM = "stft"
"""The bot whose arrays the spectral bots derive theirs from."""

SOUND_SELECTION = "id audioUrl durationSeconds"
"""What an audio bot's job needs of a sound."""
NOTE_SELECTION = "id durationSeconds sound { id durationSeconds }"
"""What a derived bot's job needs of an stft annotation."""


@dataclass(frozen=True)
class BotSpec:
    """A bot's name, feature version, public description and input stream."""

    name: str
    version: int
    about: str
    follows: Literal["sound", "stft"]

    @property
    def field(self) -> str:
        """The subscription field the bot's listener follows."""
        return "soundCreated" if self.follows == "sound" else "annotationCreated"

    @property
    def selection(self) -> str:
        return SOUND_SELECTION if self.follows == "sound" else NOTE_SELECTION


def _spec(name: str) -> BotSpec:
    module = bot_module(name)
    follows: Literal["sound", "stft"] = (
        "stft" if module.PARAMS.get("source") == DERIVED_FROM else "sound"
    )
    return BotSpec(name=name, version=module.VERSION, about=module.ABOUT, follows=follows)


BOTS: dict[str, BotSpec] = {name: _spec(name) for name in BOT_NAMES}


def job_id(*, bot: str, source_id: str) -> str:
    """`<bot>:<source id>:v<version>`: the job's arq id and its annotation's idempotency key."""
    return f"{bot}:{source_id}:v{BOTS[bot].version}"


def annotation_key(*, bot: str, source_id: str, index: int | None = None) -> str:
    """The idempotency key of a bot's annotation; `index` numbers one of several (onsets)."""
    base = job_id(bot=bot, source_id=source_id)
    return base if index is None else f"{base}:{index}"


@dataclass(frozen=True)
class Namespace:
    """The Redis key prefix of one deployment's runtime state (default `cochlea`)."""

    prefix: str = "cochlea"

    def queue(self, bot: str) -> str:
        """The arq queue of a bot's jobs: one per bot, so a `--bot mel` worker takes only mel."""
        return f"{self.prefix}:queue:{bot}"

    def checkpoint(self, bot: str) -> str:
        """The cursor of the last stream item whose job a bot's listener enqueued."""
        return f"{self.prefix}:bot:{bot}:cursor"

    @property
    def failures(self) -> str:
        """Hash of failed jobs: job id -> JSON record."""
        return f"{self.prefix}:failures"
