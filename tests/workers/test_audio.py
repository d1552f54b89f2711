"""fetch_audio and decode_audio against a real HTTP(S) server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import pickle
import shutil
import ssl
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.workers.audio_server import SR, AudioServer, LoopbackOnlyTransport, encode, stereo_tone
from workers.audio import decode_audio, duration_seconds, fetch_audio
from workers.errors import (
    BlockedAddress,
    DecodeError,
    FetchError,
    FetchTimeout,
    HttpStatusError,
    InvalidUrl,
    NetworkError,
    NotAudio,
    TooLarge,
    TooManyRedirects,
)
from workers.ssrf import IPNetwork, parse_allow_networks

MB = 1024 * 1024
HTML = b"<!DOCTYPE html>\n<html><head><title>Not found</title></head><body>nope</body></html>"


def _dominant_hz(channel: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(channel * np.hanning(len(channel))))
    return float(np.argmax(spectrum) * sr / len(channel))


@pytest.mark.parametrize("kind", ["wav", "flac", "ogg", "mp3"])
async def test_fetch_and_decode_each_format(
    kind: str, encoded: dict[str, bytes], audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.add(f"/sound.{kind}", body=encoded[kind], headers={"Content-Type": "audio/x"})
    data = await fetch_audio(
        audio_server.url(f"/sound.{kind}"), allow_networks=loopback, max_bytes=MB
    )
    assert data == encoded[kind]
    y, sr = decode_audio(data)
    assert sr == SR
    assert y.dtype == np.float32 and y.ndim == 2 and y.shape[0] == 2 and y.flags.c_contiguous
    assert abs(y.shape[1] - SR) <= SR * 0.06  # lossy codecs may pad a little
    assert duration_seconds(data) == pytest.approx(1.0, abs=0.06)
    assert _dominant_hz(y[0], sr) == pytest.approx(440, abs=3)
    assert _dominant_hz(y[1], sr) == pytest.approx(660, abs=3)
    if kind in ("wav", "flac"):  # lossless 16-bit
        np.testing.assert_allclose(y.T, stereo_tone(), atol=1 / 16384)
    headers = audio_server.received[0].headers
    assert headers["Host"] == f"127.0.0.1:{audio_server.port}"
    assert headers["Accept-Encoding"] == "identity"


async def test_mono_file_decodes_to_one_channel() -> None:
    y, sr = decode_audio(encode(stereo_tone(sr=22_050)[:, 0], sr=22_050, format="WAV"))
    assert y.shape == (1, 22_050) and sr == 22_050


async def test_wrong_content_type_is_ignored(
    encoded: dict[str, bytes], audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.add("/song", body=encoded["wav"], headers={"Content-Type": "text/html"})
    data = await fetch_audio(audio_server.url("/song"), allow_networks=loopback, max_bytes=MB)
    assert decode_audio(data)[0].shape == (2, SR)


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "audio/mpeg"])
async def test_html_page_is_not_audio(
    content_type: str, audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.add("/page", body=HTML, headers={"Content-Type": content_type})
    with pytest.raises(NotAudio) as caught:
        await fetch_audio(audio_server.url("/page"), allow_networks=loopback, max_bytes=MB)
    assert caught.value.retryable is False
    big = b"\xef\xbb\xbf  \n<html>" + b"x" * 50_000 + b"</html>"
    audio_server.add("/big-page", body=big)
    with pytest.raises(NotAudio):
        await fetch_audio(audio_server.url("/big-page"), allow_networks=loopback, max_bytes=MB)
    with pytest.raises(NotAudio):
        decode_audio(HTML)
    with pytest.raises(NotAudio):
        decode_audio(b'<?xml version="1.0"?><Error><Code>NoSuchKey</Code></Error>')


@pytest.mark.parametrize("kind", ["wav", "flac", "ogg", "mp3"])
async def test_truncated_file_is_a_decode_error(
    kind: str, encoded: dict[str, bytes], audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.add("/cut", body=encoded[kind][: len(encoded[kind]) // 2])
    data = await fetch_audio(audio_server.url("/cut"), allow_networks=loopback, max_bytes=MB)
    with pytest.raises(DecodeError) as caught:
        decode_audio(data)
    assert caught.type is DecodeError and caught.value.retryable is False


@pytest.mark.parametrize(
    "data",
    [b"", b"RIFF", b"\x00" * 4096, bytes(range(256)) * 64, b"fLaC" + b"\xff" * 100],
    ids=["empty", "riff-stub", "zeros", "noise", "flac-stub"],
)
def test_garbage_never_crashes(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_audio(data)
    with pytest.raises(DecodeError):
        duration_seconds(data)


def test_nan_samples_are_refused() -> None:
    y = np.zeros((1000, 1), dtype=np.float32)
    y[10] = np.nan
    with pytest.raises(DecodeError, match="NaN"):
        decode_audio(encode(y, sr=8000, format="WAV", subtype="FLOAT"))


async def test_zero_length_body(audio_server: AudioServer, loopback: list[IPNetwork]) -> None:
    audio_server.add("/empty", body=b"")
    data = await fetch_audio(audio_server.url("/empty"), allow_networks=loopback, max_bytes=MB)
    assert data == b""
    with pytest.raises(DecodeError, match="empty"):
        decode_audio(data)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")
def test_audioread_fallback_decodes_what_libsndfile_cannot(tmp_path: Path) -> None:
    import subprocess

    wav, m4a = tmp_path / "in.wav", tmp_path / "out.m4a"
    wav.write_bytes(encode(stereo_tone(), format="WAV"))
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), str(m4a)], check=True)
    y, sr = decode_audio(m4a.read_bytes())
    assert sr == SR and y.shape[0] == 2
    assert _dominant_hz(y[0, : SR // 2], sr) == pytest.approx(440, abs=5)


async def test_redirect_chain_is_followed(
    encoded: dict[str, bytes], audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.add("/final.wav", body=encoded["wav"])
    audio_server.redirect("/r1", audio_server.url("/r2"), status=301)
    audio_server.redirect("/r2", "/r3", status=302)  # relative
    audio_server.redirect("/r3", "r4", status=307)  # relative to the path
    audio_server.redirect("/r4", f"//localhost:{audio_server.port}/final.wav", status=308)
    data = await fetch_audio(audio_server.url("/r1"), allow_networks=loopback, max_bytes=MB)
    assert data == encoded["wav"]
    assert audio_server.paths() == ["/r1", "/r2", "/r3", "/r4", "/final.wav"]
    assert audio_server.received[-1].headers["Host"] == f"localhost:{audio_server.port}"
    with pytest.raises(TooManyRedirects):
        await fetch_audio(
            audio_server.url("/r1"), allow_networks=loopback, max_bytes=MB, max_redirects=3
        )


async def test_redirect_loop_is_detected(
    audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.redirect("/loop-a", "/loop-b")
    audio_server.redirect("/loop-b", "/loop-a")
    with pytest.raises(TooManyRedirects, match="loop"):
        await fetch_audio(
            audio_server.url("/loop-a"), allow_networks=loopback, max_bytes=MB, max_redirects=50
        )
    assert audio_server.paths() == ["/loop-a", "/loop-b"]


async def test_redirect_without_location_or_to_other_schemes(
    audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.add("/no-location", status=302)
    audio_server.redirect("/to-file", "file:///etc/passwd")
    with pytest.raises(HttpStatusError):
        await fetch_audio(audio_server.url("/no-location"), allow_networks=loopback, max_bytes=MB)
    with pytest.raises(InvalidUrl):
        await fetch_audio(audio_server.url("/to-file"), allow_networks=loopback, max_bytes=MB)


async def test_too_large_from_content_length(
    audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.add("/big.wav", body=b"\x01" * (2 * MB))
    with pytest.raises(TooLarge, match="2097152 bytes"):
        await fetch_audio(audio_server.url("/big.wav"), allow_networks=loopback, max_bytes=MB)
    data = await fetch_audio(
        audio_server.url("/big.wav"), allow_networks=loopback, max_bytes=2 * MB
    )
    assert len(data) == 2 * MB


async def test_too_large_stops_reading_a_body_without_length(
    audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    route = audio_server.add("/endless", stream_bytes=256 * MB)
    started = time.monotonic()
    with pytest.raises(TooLarge, match="more than the limit"):
        await fetch_audio(audio_server.url("/endless"), allow_networks=loopback, max_bytes=MB)
    assert route.finished.wait(timeout=10)
    assert route.bytes_sent < 64 * MB  # the client hung up long before the end
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(404, False), (403, False), (410, False), (429, True), (500, True), (503, True)],
)
async def test_http_errors(
    status: int, retryable: bool, audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.add("/status", status=status, body=b"error")
    with pytest.raises(HttpStatusError) as caught:
        await fetch_audio(audio_server.url("/status"), allow_networks=loopback, max_bytes=MB)
    assert caught.value.status_code == status
    assert caught.value.retryable is retryable


async def test_read_timeout(audio_server: AudioServer, loopback: list[IPNetwork]) -> None:
    audio_server.add("/slow", body=b"RIFF", delay=2.0)
    with pytest.raises(FetchTimeout) as caught:
        await fetch_audio(
            audio_server.url("/slow"), allow_networks=loopback, max_bytes=MB, timeout=0.3
        )
    assert caught.value.retryable is True


async def test_total_timeout_stops_a_dripping_server(
    audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.add("/drip", body=b"RIFF" * 100, drip=0.05)
    started = time.monotonic()
    with pytest.raises(FetchTimeout, match=r"longer than 0\.5"):
        await fetch_audio(
            audio_server.url("/drip"),
            allow_networks=loopback,
            max_bytes=MB,
            timeout=1,
            total_timeout=0.5,
        )
    assert time.monotonic() - started < 2


async def test_a_cancelled_fetch_stops_writing_and_hangs_up(
    audio_server: AudioServer, loopback: list[IPNetwork], tmp_path: Path
) -> None:
    """The fetch runs in a thread: cancelling its caller (a job timeout) must still stop it,
    so a spool file is not written to after its job has gone, and the connection closes."""
    route = audio_server.add("/drip", body=b"RIFF" * 1000, drip=0.01)  # 40 s of body
    with (tmp_path / "spool").open("wb") as spool:
        task = asyncio.create_task(
            fetch_audio(
                audio_server.url("/drip"), allow_networks=loopback, max_bytes=MB, into=spool
            )
        )
        await asyncio.sleep(0.5)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - started < 0.5  # the caller is not held by the thread
        assert route.finished.wait(timeout=5)  # the thread hung up at its next read
        size = spool.tell()
        assert 0 < size < 400
        await asyncio.sleep(0.2)
        assert spool.tell() == size  # and wrote nothing after it was cancelled


async def test_connection_refused_is_a_retryable_network_error(loopback: list[IPNetwork]) -> None:
    with AudioServer() as server:
        url = server.url("/gone")
    with pytest.raises(NetworkError) as caught:
        await fetch_audio(url, allow_networks=loopback, max_bytes=MB)
    assert caught.type is NetworkError and caught.value.retryable is True


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/a.wav", "file:///etc/passwd", "http:///nohost", "no url", "//x/y"]
)
async def test_invalid_urls(url: str, loopback: list[IPNetwork]) -> None:
    with pytest.raises(InvalidUrl):
        await fetch_audio(url, allow_networks=loopback, max_bytes=MB)


# --- the SSRF guard end to end: refused fetches must never reach the server ---------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "127.1", "[::ffff:127.0.0.1]"])
async def test_guard_refuses_loopback_before_connecting(
    host: str, encoded: dict[str, bytes], audio_server: AudioServer, safe_client: httpx.Client
) -> None:
    audio_server.add("/a.wav", body=encoded["wav"])
    with pytest.raises(BlockedAddress, match="loopback"):
        await fetch_audio(
            audio_server.url("/a.wav", host=host),
            allow_networks=[],
            max_bytes=MB,
            client=safe_client,
        )
    assert audio_server.request_count == 0


async def test_guard_refuses_loopback_with_the_default_client(
    encoded: dict[str, bytes], audio_server: AudioServer
) -> None:
    audio_server.add("/a.wav", body=encoded["wav"])
    with pytest.raises(BlockedAddress):
        await fetch_audio(audio_server.url("/a.wav"), allow_networks=[], max_bytes=MB)
    assert audio_server.request_count == 0


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1:9/a.wav",
        "http://192.168.1.1/a.wav",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:172.16.0.1]/a.wav",
        "http://100.64.0.1/a.wav",
        "http://127.0.0.2:{port}/a.wav",  # loopback, but outside the allowed 127.0.0.1/32
    ],
)
async def test_guard_refuses_a_redirect_into_a_blocked_range(
    target: str,
    encoded: dict[str, bytes],
    safe_client: httpx.Client,
    tripwire: LoopbackOnlyTransport,
) -> None:
    with AudioServer() as server:
        server.add("/a.wav", body=encoded["wav"])
        server.redirect("/start", target.format(port=server.port))
        with pytest.raises(BlockedAddress):
            await fetch_audio(
                server.url("/start"),
                allow_networks=parse_allow_networks("127.0.0.1/32"),
                max_bytes=MB,
                client=safe_client,
            )
        assert server.paths() == ["/start"]
    assert tripwire.refused == []  # the guard, not the tripwire, said no


async def test_connects_to_the_checked_address_with_the_original_host(
    encoded: dict[str, bytes], audio_server: AudioServer, loopback: list[IPNetwork]
) -> None:
    audio_server.add("/a.wav", body=encoded["wav"])
    url = audio_server.url("/a.wav", host="localhost")
    assert await fetch_audio(url, allow_networks=loopback, max_bytes=MB) == encoded["wav"]
    assert audio_server.received[0].headers["Host"] == f"localhost:{audio_server.port}"


# --- https: the connection goes to the IP, but SNI and the certificate check use the name --


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) for a self-signed certificate naming only localhost."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(cert_pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


async def test_https_verifies_the_name_while_connecting_to_the_ip(
    tls: tuple[ssl.SSLContext, ssl.SSLContext], encoded: dict[str, bytes], loopback: list[IPNetwork]
) -> None:
    server_context, client_context = tls
    transport = LoopbackOnlyTransport(verify=client_context)
    with httpx.Client(transport=transport, trust_env=False) as client:
        with AudioServer(tls=server_context) as server:
            server.add("/a.flac", body=encoded["flac"])
            data = await fetch_audio(
                server.url("/a.flac", host="localhost"),
                allow_networks=loopback,
                max_bytes=MB,
                client=client,
            )
            assert data == encoded["flac"]
            assert server.received[0].headers["Host"] == f"localhost:{server.port}"
            # The certificate names only "localhost": by IP, verification must fail.
            with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
                await fetch_audio(
                    server.url("/a.flac"), allow_networks=loopback, max_bytes=MB, client=client
                )


@pytest.mark.parametrize(
    "error",
    [
        HttpStatusError("http://x/ answered HTTP 503", status_code=503),
        NetworkError("dns failed", retryable=False),
        FetchTimeout("slow"),
        NotAudio("html"),
        BlockedAddress("10.0.0.1 is a private network"),
    ],
)
def test_errors_survive_pickling(error: FetchError) -> None:
    """Job queues pickle exceptions; the reason, retryability and status must survive."""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert (copy.reason, copy.retryable, copy.code, str(copy)) == (
        error.reason,
        error.retryable,
        error.code,
        str(error),
    )
    assert getattr(copy, "status_code", None) == getattr(error, "status_code", None)
