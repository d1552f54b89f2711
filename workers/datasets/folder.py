"""`cochlea import folder DIR_OR_URL`: every audio file (wav, flac, ogg, mp3, aiff) of a
local folder or of an HTTP directory listing (autoindex `<a href>` links, followed into
sub-folders of the same site and path), one sound each. Sub-folder names become tags. An
optional `metadata.csv` or `metadata.jsonl` beside the audio, with a `file_name` column (the
"audio folder" convention), adds title, licence, tags, info URL and segments (see
`workers.datasets.rows`). Keys: `folder:<path relative to the folder>`.

Listed files stay where they are served (a listing is hosting already); local files are
published like any importer's (`workers.datasets.storage`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from workers.datasets.headers import AUDIO_SUFFIXES
from workers.datasets.items import BadInput, SoundItem
from workers.datasets.manifest import parse_rows
from workers.datasets.rows import Group, RowOptions, group_rows, to_item
from workers.datasets.run import Source

METADATA_FILES = ("metadata.csv", "metadata.jsonl")
MAX_LISTINGS = 1000


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


def list_url(http: httpx.Client, base: str) -> tuple[list[str], dict[str, str]]:
    """Relative paths of the audio under the listing `base` (breadth-first, same site, below
    `base`'s path), and the URLs of metadata files found at its top."""
    base = base if base.endswith("/") else base + "/"
    found: list[str] = []
    metadata: dict[str, str] = {}
    queue, seen = [base], {base}
    while queue and len(seen) <= MAX_LISTINGS:
        page = queue.pop(0)
        try:
            response = http.get(page)
        except httpx.HTTPError as exc:
            raise BadInput(f"cannot list: {type(exc).__name__}: {exc}", file=page) from None
        if response.status_code != 200:
            raise BadInput(f"listing answered HTTP {response.status_code}", file=page)
        parser = _Links()
        parser.feed(response.text)
        for href in parser.hrefs:
            target = urljoin(page, href).split("#")[0].split("?")[0]
            if not target.startswith(base) or target == page:
                continue
            relative = unquote(target[len(base) :])
            if target.endswith("/"):
                if target not in seen:
                    seen.add(target)
                    queue.append(target)
            elif PurePosixPath(relative).suffix.lower() in AUDIO_SUFFIXES:
                found.append(relative)
            elif page == base and relative in METADATA_FILES:
                metadata[relative] = target
    return sorted(set(found)), metadata


def list_dir(root: Path) -> list[str]:
    """Relative POSIX paths of the audio files under `root` (hidden ones skipped)."""
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in AUDIO_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _metadata_groups(
    text: str, name: str, options: RowOptions
) -> tuple[dict[str, Group], list[BadInput]]:
    kind = "csv" if name.endswith(".csv") else "jsonl"
    groups: dict[str, Group] = {}
    bad: list[BadInput] = []
    for group in group_rows(parse_rows(text, kind, options.file), options):
        if isinstance(group, BadInput):
            bad.append(group)
        else:
            groups[str(PurePosixPath(group.ref))] = group
    return groups, bad


def source(
    where: str, *, license: str | None, time_unit: str, sample_rate: int | None, http: httpx.Client
) -> Source:
    remote = urlsplit(where).scheme in ("http", "https")
    metadata_text: dict[str, str] = {}
    if remote:
        files, metadata_urls = list_url(http, where)
        for name, url in metadata_urls.items():
            try:
                metadata_text[name] = http.get(url).raise_for_status().text
            except httpx.HTTPError as exc:
                raise BadInput(f"cannot fetch: {exc}", file=url) from None
        base_url, base_dir, label = (
            where.rstrip("/"),
            None,
            PurePosixPath(urlsplit(where).path).name,
        )
    else:
        root = Path(where)
        if not root.is_dir():
            raise BadInput("no such directory", file=where)
        files = list_dir(root)
        for name in METADATA_FILES:
            if (root / name).is_file():
                metadata_text[name] = (root / name).read_text(encoding="utf-8-sig")
        base_url, base_dir, label = None, root, root.resolve().name
    if not files:
        raise BadInput("no audio files (wav, flac, ogg, mp3, aiff) here", file=where)
    meta_name = next(iter(metadata_text), None)
    file = f"{where.rstrip('/')}/{meta_name}" if meta_name else where
    options = RowOptions(file=file, base_url=base_url, base_dir=base_dir, time_unit=time_unit,
                         sample_rate=sample_rate, license=license, prefix="folder")  # fmt: skip
    groups, bad = (
        ({}, [])
        if meta_name is None
        else _metadata_groups(metadata_text[meta_name], meta_name, options)
    )
    for ref in sorted(set(groups) - set(files)):
        bad.append(
            BadInput(
                "metadata names a file that is not in the folder",
                file=file,
                line=groups[ref].line,
                key=ref,
                field="file_name",
            )
        )

    def items() -> Iterator[SoundItem | BadInput]:
        yield from bad
        for relative in files:
            group = groups.get(relative) or Group(ref=relative, line=None)
            group.fields.setdefault("file_name", relative)
            tags = list(PurePosixPath(relative).parent.parts)
            try:
                yield to_item(group, options, tags=tags)
            except BadInput as exc:
                yield exc

    user = re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-._") or "folder"
    about = f"Sounds imported from the folder {label!r} with `cochlea import folder`."
    return Source(name="folder", user=user, about=about, items=items(), total=len(files) + len(bad))
