"""Recorded HTTP cassettes (vcrpy, pytest-recording) hold ``<vault:NAME>``, never a secret.

A project with a vault makes real HTTP requests with ``requests`` to a local
``http.server`` on 127.0.0.1 (run by this module, in a thread) that echoes what it gets:
headers, query, body, cookies. The project's tests run three times in subprocesses:

1. ``--record-mode=once``, server up: every cassette is recorded (`recorded`);
2. ``--record-mode=new_episodes``, server up, one test making a new request: the cassette
   it adds to is loaded (masked), then saved again with both interactions;
3. ``--record-mode=none``, server **stopped**: every test passes, so each request a test
   makes with the real secret matched its masked recording, and each response the test
   checks got its secrets back.

After the recording runs, each cassette is searched for every secret in every form a
request can carry it (`forms`: raw, URL-quoted the ways ``urllib`` and ``requests`` quote,
JSON-escaped, base64 of the value and of ``alice:value``, UTF-8 bytes), in the file's text
and in the YAML's parsed strings and bytes (gzip bodies decompressed). One test per kind of
interaction checks its cassette, so each fails on its own when what it covers is not
masked; `test_without_masking_every_cassette_leaks` runs the project with
``vault_mask = false`` and shows that the same search finds each of those leaks.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import subprocess
import sys
import textwrap
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus

import pytest
import yaml
from vcr.request import Request

from pytest_vault.cassettes import (
    CassetteMasking,
    MaskingPersister,
    mask_bytes,
    mask_request,
    mask_response,
    mask_text,
    request_forms,
    restore_response,
)
from pytest_vault.key import VaultKey
from pytest_vault.masking import Masker
from pytest_vault.vault import create_vault, set_secrets

SECRETS = {
    "API_TOKEN": "tok_9fA2/kq+Zx=Lm7QwR4",  # characters every URL quoting style treats apart
    "PASSWORD": "correct horse!Battery#42",
    "CLIENT_SECRET": 'cs-"quoted"\\slash-8Hq2',  # JSON escapes it
    "SESSION_ID": "sess-4f9c2a7e81b3d6",
    "UNICODE_SECRET": "pässwörd-ünïcödé-Zq81",
}

#: requests' re-quoting of URLs (research.md, "URL quoting").
REQUESTS_SAFE = "!#$%&'()*+,/:;=?@[]~"

SERVER = """
import os

URL = "http://127.0.0.1:" + os.environ["CASSETTE_SERVER_PORT"]
"""

TEST_PLAIN = """
import requests
import vcr

from server import URL


def test_plain_vcrpy(vault):
    # vcrpy used directly, not through pytest-recording (and this module runs first).
    sent = "token " + vault["API_TOKEN"]
    with vcr.use_cassette("cassettes/plain.yaml"):
        answer = requests.get(URL + "/plain", headers={"Authorization": sent})
    assert answer.json()["headers"]["Authorization"] == sent
"""

TEST_API = """
import base64
import gzip
import json
import os
import urllib.request

import pytest
import requests

from server import URL


@pytest.mark.vcr
def test_bearer(vault):
    token = vault["API_TOKEN"]
    response = requests.get(URL + "/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json()["headers"]["Authorization"] == f"Bearer {token}"


@pytest.mark.vcr
def test_basic(vault):
    response = requests.get(URL + "/basic", auth=("alice", vault["PASSWORD"]))
    pair = base64.b64encode(f"alice:{vault['PASSWORD']}".encode()).decode()
    assert response.json()["headers"]["Authorization"] == f"Basic {pair}"


@pytest.mark.vcr
def test_query(vault):
    response = requests.get(URL + "/search", params={"q": "books", "api_key": vault["API_TOKEN"]})
    assert response.json()["path"] == response.request.path_url
    if os.environ.get("CASSETTE_NEW_EPISODE"):
        more = requests.get(URL + "/search", params={"q": "films", "api_key": vault["API_TOKEN"]})
        assert more.json()["path"] == more.request.path_url


@pytest.mark.vcr
def test_json_body(vault):
    payload = {"client_id": "app", "client_secret": vault["CLIENT_SECRET"]}
    response = requests.post(URL + "/token", json=payload)
    assert response.json()["json"] == payload


@pytest.mark.vcr
def test_form_body(vault):
    form = {"grant_type": "password", "username": "alice", "password": vault["PASSWORD"]}
    response = requests.post(URL + "/form", data=form)
    assert response.json()["form"] == form
    assert response.json()["body"] == response.request.body


@pytest.mark.vcr
def test_cookies(vault):
    session = requests.Session()
    login = session.get(URL + "/login", headers={"X-Set-Session": vault["SESSION_ID"]})
    assert login.cookies["session"] == vault["SESSION_ID"]
    profile = session.get(URL + "/profile")
    assert profile.json()["headers"]["Cookie"] == "session=" + vault["SESSION_ID"]


@pytest.mark.vcr
def test_gzip(vault):
    # urllib does not decompress, so vcrpy records the gzip bytes as they came.
    headers = {"X-Token": vault["API_TOKEN"], "Accept-Encoding": "gzip"}
    with urllib.request.urlopen(urllib.request.Request(URL + "/gzip", headers=headers)) as answer:
        data = answer.read()
        if answer.headers.get("Content-Encoding") == "gzip":
            data = gzip.decompress(data)
    assert json.loads(data)["headers"]["X-Token"] == vault["API_TOKEN"]


@pytest.mark.vcr
def test_binary(vault):
    data = b"\\x00\\xff\\xfe" + vault["UNICODE_SECRET"].encode() + b"\\x80\\x81"
    response = requests.post(
        URL + "/binary", data=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert response.content == data
"""

TEST_USER_CONFIG = """
import hashlib

import pytest
import requests

from server import URL


@pytest.fixture(scope="module")
def vcr_config():
    def tag(response):
        response["headers"]["X-Recorded-By"] = ["user-hook"]
        return response

    def digest(key, value, request):  # sees the real value: masking comes after it
        if value.startswith("sha256:"):  # vcrpy filters loaded requests again
            return value
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]

    return {
        "filter_headers": [("X-Api-Key", "REDACTED"), ("X-Signed", digest), "User-Agent"],
        "before_record_response": tag,
        "match_on": ["method", "scheme", "host", "port", "path", "query", "headers", "body"],
    }


@pytest.mark.vcr
def test_user_config(vault):
    token = vault["API_TOKEN"]
    response = requests.post(
        URL + "/user",
        params={"token": token},
        headers={"X-Api-Key": token, "X-Signed": token, "Authorization": "Bearer " + token},
        json={"secret": vault["CLIENT_SECRET"]},
    )
    assert response.json()["headers"]["X-Api-Key"] == token
"""

TEST_FILES = ("test_plain.py", "test_api.py", "test_user_config.py")
EXPECTED_TESTS = 10
FAST = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")


# -- the local HTTP server -------------------------------------------------------------------


class EchoHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with what it got, as JSON (``/binary``: the body as is)."""

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        if self.path.startswith("/binary"):
            data, kind = body, "application/octet-stream"
        else:
            # As httpbin answers: JSON and form bodies parsed, the raw body besides.
            echo: dict[str, Any] = {
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body.decode("utf-8", "replace"),
            }
            kind = self.headers.get("Content-Type", "")
            if kind == "application/json":
                echo["json"] = json.loads(body)
                del echo["body"]
            elif kind == "application/x-www-form-urlencoded":
                echo["form"] = dict(parse_qsl(body.decode("utf-8")))
            data, kind = json.dumps(echo).encode("utf-8"), "application/json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        if self.path.startswith("/gzip"):
            data = gzip.compress(data)
            self.send_header("Content-Encoding", "gzip")
        if "X-Set-Session" in self.headers:
            self.send_header("Set-Cookie", f"session={self.headers['X-Set-Session']}; Path=/")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class EchoServer:
    def __init__(self) -> None:
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoHandler)
        self.server.seen = []  # type: ignore[attr-defined]
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen(self) -> list[str]:
        return self.server.seen  # type: ignore[attr-defined,no-any-return]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


# -- the project and its runs ----------------------------------------------------------------


@dataclass
class Run:
    returncode: int
    output: str


@dataclass
class Recorded:
    root: Path
    record: Run
    new_episodes: Run
    replay: Run
    seen_while_recording: list[str] = field(default_factory=list)

    def cassette(self, name: str) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load(self.path(name).read_text("utf-8"))
        return loaded

    def path(self, name: str) -> Path:
        if name == "plain":
            return self.root / "cassettes" / "plain.yaml"
        module = "test_user_config" if name == "test_user_config" else "test_api"
        return self.root / "cassettes" / module / f"{name}.yaml"


def write_project(root: Path, port: int, ini: str = "") -> dict[str, str]:
    """Write the project and its vault; return the environment its runs get."""
    root.mkdir(parents=True)
    (root / "pytest.ini").write_text("[pytest]\n" + ini, encoding="utf-8")
    (root / "server.py").write_text(SERVER, encoding="utf-8")
    for name, text in zip(TEST_FILES, (TEST_PLAIN, TEST_API, TEST_USER_CONFIG), strict=True):
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    key = VaultKey.generate()
    vault_path = root / "secrets.vault.toml"
    create_vault(vault_path, key)
    set_secrets(vault_path, key, SECRETS)
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "CI", "GITHUB_ACTIONS")
    }
    environ.update(
        PYTEST_VAULT_KEY=key.text(),
        CASSETTE_SERVER_PORT=str(port),
        HOME=str(root.parent),
        PYTHONIOENCODING="utf-8",
    )
    return environ


def run(root: Path, environ: dict[str, str], *args: str) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *FAST, "-rA", *args, *TEST_FILES],
        cwd=root,
        env=environ,
        capture_output=True,
        timeout=180,
        check=False,
    )
    output = done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")
    return Run(done.returncode, output)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """The project recorded, extended by a new episode, then replayed without the server."""
    server = EchoServer()
    try:
        root = tmp_path_factory.mktemp("cassettes") / "project"
        environ = write_project(root, server.port)
        record = run(root, environ, "--record-mode=once")
        seen = list(server.seen)
        new_episodes = run(
            root, {**environ, "CASSETTE_NEW_EPISODE": "1"}, "--record-mode=new_episodes"
        )
    finally:
        server.stop()
    replay = run(root, {**environ, "CASSETTE_NEW_EPISODE": "1"}, "--record-mode=none")
    return Recorded(root, record, new_episodes, replay, seen)


# -- searching a cassette --------------------------------------------------------------------


def forms(value: str) -> dict[str, str]:
    """Every form a request or response can carry ``value`` in, by a name for the form."""
    return {
        "raw": value,
        "quoted": quote(value, safe=""),
        "quoted-path": quote(value),
        "quoted-plus": quote_plus(value),
        "requests-quoted": quote(value, safe=REQUESTS_SAFE),
        "json": json.dumps(value)[1:-1],
        "json-unicode": json.dumps(value, ensure_ascii=False)[1:-1],
        "base64": base64.b64encode(value.encode("utf-8")).decode("ascii"),
        "base64-pair": base64.b64encode(f"alice:{value}".encode()).decode("ascii"),
    }


def _texts(item: Any) -> Iterator[str]:
    """Every string in a parsed cassette, bytes decoded (and gzip bodies decompressed)."""
    if isinstance(item, str):
        yield item
    elif isinstance(item, bytes):
        if item[:2] == b"\x1f\x8b":
            item = gzip.decompress(item)
        yield item.decode("utf-8", "surrogateescape")
    elif isinstance(item, dict):
        for key, value in item.items():
            yield from _texts(key)
            yield from _texts(value)
    elif isinstance(item, list):
        for value in item:
            yield from _texts(value)


def leaks(path: Path) -> list[str]:
    """``NAME as FORM`` for each secret found in the cassette at ``path`` (never the value)."""
    text = path.read_text("utf-8")
    texts = [text, *_texts(yaml.safe_load(text))]
    found = []
    for name, value in SECRETS.items():
        for form, shown in forms(value).items():
            if any(shown in piece for piece in texts):
                found.append(f"{name} as {form}")
    return found


def interactions(recorded: Recorded, name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = recorded.cassette(name)["interactions"]
    return items


def header(message: dict[str, Any], name: str) -> list[str]:
    for key, values in message["headers"].items():
        if key.lower() == name.lower():
            return list(values)
    return []


def body_text(message: dict[str, Any]) -> str:
    body = message["body"]
    if isinstance(body, dict):
        body = body["string"]
    return body if isinstance(body, str) else body.decode("utf-8", "surrogateescape")


def assert_masked(recorded: Recorded, name: str) -> None:
    assert recorded.record.returncode == 0, recorded.record.output
    assert leaks(recorded.path(name)) == []


# -- the runs ----------------------------------------------------------------------------------


def test_recording_reached_the_server_and_replay_needs_no_network(recorded: Recorded) -> None:
    assert recorded.record.returncode == 0, recorded.record.output
    assert f"{EXPECTED_TESTS} passed" in recorded.record.output
    assert len(recorded.seen_while_recording) == EXPECTED_TESTS + 1  # test_cookies: 2
    # Replayed with the server stopped: every request matched its masked recording.
    assert recorded.replay.returncode == 0, recorded.replay.output
    assert f"{EXPECTED_TESTS} passed" in recorded.replay.output


def test_no_secret_in_any_output(recorded: Recorded) -> None:
    for run_ in (recorded.record, recorded.new_episodes, recorded.replay):
        for name, value in SECRETS.items():
            assert value not in run_.output, name


# -- one kind of interaction each --------------------------------------------------------------


def test_bearer_header(recorded: Recorded) -> None:
    assert_masked(recorded, "test_bearer")
    (interaction,) = interactions(recorded, "test_bearer")
    assert header(interaction["request"], "Authorization") == ["Bearer <vault:API_TOKEN>"]
    assert "Bearer <vault:API_TOKEN>" in body_text(interaction["response"])


def test_basic_auth_pair(recorded: Recorded) -> None:
    assert_masked(recorded, "test_basic")
    (interaction,) = interactions(recorded, "test_basic")
    assert header(interaction["request"], "Authorization") == ["Basic alice:<vault:PASSWORD>"]
    # The server's echo of the header, inside the JSON body, is masked the same way.
    assert "Basic alice:<vault:PASSWORD>" in body_text(interaction["response"])


def test_query_string(recorded: Recorded) -> None:
    assert_masked(recorded, "test_query")
    first, *_ = interactions(recorded, "test_query")
    assert first["request"]["uri"].endswith("/search?q=books&api_key=<vault:API_TOKEN>")


def test_new_episode_keeps_the_recording_masked(recorded: Recorded) -> None:
    assert recorded.new_episodes.returncode == 0, recorded.new_episodes.output
    assert_masked(recorded, "test_query")
    uris = [item["request"]["uri"] for item in interactions(recorded, "test_query")]
    assert [uri.split("?")[1] for uri in uris] == [
        "q=books&api_key=<vault:API_TOKEN>",
        "q=films&api_key=<vault:API_TOKEN>",
    ]


def test_json_body(recorded: Recorded) -> None:
    assert_masked(recorded, "test_json_body")
    (interaction,) = interactions(recorded, "test_json_body")
    sent = json.loads(body_text(interaction["request"]))
    assert sent == {"client_id": "app", "client_secret": "<vault:CLIENT_SECRET>"}
    assert json.loads(body_text(interaction["response"]))["json"] == sent


def test_form_body(recorded: Recorded) -> None:
    assert_masked(recorded, "test_form_body")
    (interaction,) = interactions(recorded, "test_form_body")
    assert body_text(interaction["request"]) == (
        "grant_type=password&username=alice&password=<vault:PASSWORD>"
    )


def test_cookies(recorded: Recorded) -> None:
    assert_masked(recorded, "test_cookies")
    login, profile = interactions(recorded, "test_cookies")
    assert header(login["response"], "Set-Cookie") == ["session=<vault:SESSION_ID>; Path=/"]
    assert header(profile["request"], "Cookie") == ["session=<vault:SESSION_ID>"]


def test_gzip_body_is_stored_decompressed(recorded: Recorded) -> None:
    assert_masked(recorded, "test_gzip")
    (interaction,) = interactions(recorded, "test_gzip")
    response = interaction["response"]
    assert header(response, "Content-Encoding") == []
    body = body_text(response)
    assert '"X-Token": "<vault:API_TOKEN>"' in body
    assert header(response, "Content-Length") == [str(len(body.encode("utf-8")))]


def test_binary_body(recorded: Recorded) -> None:
    assert_masked(recorded, "test_binary")
    (interaction,) = interactions(recorded, "test_binary")
    expected = b"\x00\xff\xfe<vault:UNICODE_SECRET>\x80\x81"
    assert interaction["request"]["body"] == expected
    assert interaction["response"]["body"]["string"] == expected
    assert header(interaction["response"], "Content-Length") == [str(len(expected))]


def test_plain_vcrpy(recorded: Recorded) -> None:
    assert_masked(recorded, "plain")
    (interaction,) = interactions(recorded, "plain")
    assert header(interaction["request"], "Authorization") == ["token <vault:API_TOKEN>"]


def test_user_vcr_config_is_honoured(recorded: Recorded) -> None:
    assert_masked(recorded, "test_user_config")
    (interaction,) = interactions(recorded, "test_user_config")
    request, response = interaction["request"], interaction["response"]
    assert header(request, "X-Api-Key") == ["REDACTED"]  # the user's filter_headers
    digest = hashlib.sha256(SECRETS["API_TOKEN"].encode()).hexdigest()[:12]
    assert header(request, "X-Signed") == ["sha256:" + digest]  # from the real value
    assert header(request, "User-Agent") == []
    assert header(request, "Authorization") == ["Bearer <vault:API_TOKEN>"]
    assert request["uri"].endswith("/user?token=<vault:API_TOKEN>")
    assert header(response, "X-Recorded-By") == ["user-hook"]  # its before_record_response


# -- the search finds what masking prevents ----------------------------------------------------


def test_without_masking_every_cassette_leaks(tmp_path: Path) -> None:
    """With ``vault_mask = false`` each cassette above holds its secret: the tests can fail."""
    server = EchoServer()
    try:
        root = tmp_path / "project"
        environ = write_project(root, server.port, ini="vault_mask = false\n")
        result = run(root, environ, "--record-mode=once")
    finally:
        server.stop()
    assert result.returncode == 0, result.output
    recorded = Recorded(root, result, result, result)
    expected = {
        "test_bearer": "API_TOKEN as raw",
        "test_basic": "PASSWORD as base64-pair",
        "test_query": "API_TOKEN as quoted",
        "test_json_body": "CLIENT_SECRET as json",
        "test_form_body": "PASSWORD as quoted-plus",
        "test_cookies": "SESSION_ID as raw",
        "test_gzip": "API_TOKEN as raw",
        "test_binary": "UNICODE_SECRET as raw",
        "plain": "API_TOKEN as raw",
        "test_user_config": "API_TOKEN as raw",
    }
    for name, leak in expected.items():
        assert leak in leaks(recorded.path(name)), name


# -- the parts, one by one (in this process) ---------------------------------------------------


@pytest.fixture
def masker() -> Masker:
    return Masker(SECRETS)


def test_basic_pair_masked_in_a_header_and_in_a_body(masker: Masker) -> None:
    pair = base64.b64encode(f"alice:{SECRETS['PASSWORD']}".encode()).decode()
    assert mask_text(f"Basic {pair}", masker) == "Basic alice:<vault:PASSWORD>"
    echoed = json.dumps({"Authorization": f"Basic {pair}"})
    assert mask_text(echoed, masker) == '{"Authorization": "Basic alice:<vault:PASSWORD>"}'
    # A pair without a secret, and words that merely look like base64, stay as they are.
    plain = base64.b64encode(b"alice:not-a-secret").decode()
    assert mask_text(f"Basic {plain}", masker) == f"Basic {plain}"
    assert mask_text("basic auth only", masker) == "basic auth only"


def test_basic_pair_that_cannot_be_written_in_clear_stays_base64(masker: Masker) -> None:
    pair = f'al "ice":{SECRETS["PASSWORD"]}'
    masked = mask_text("Basic " + base64.b64encode(pair.encode()).decode(), masker)
    scheme, encoded = masked.split(" ")
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == 'al "ice":<vault:PASSWORD>'


def test_masking_twice_changes_nothing_more(masker: Masker) -> None:
    pair = base64.b64encode(f"alice:{SECRETS['PASSWORD']}".encode()).decode()
    once = mask_text(f"Basic {pair} token={SECRETS['API_TOKEN']}", masker)
    assert mask_text(once, masker) == once


def test_binary_body_masked_at_the_byte_level(masker: Masker) -> None:
    data = b"\x89PNG\xff" + SECRETS["UNICODE_SECRET"].encode() + b"\xc3\x00"
    assert mask_bytes(data, masker) == b"\x89PNG\xff<vault:UNICODE_SECRET>\xc3\x00"
    assert mask_bytes(b"\xff\xfe nothing", masker) == b"\xff\xfe nothing"


def test_request_bodies_of_every_kind(masker: Masker) -> None:
    token = SECRETS["API_TOKEN"]
    for body in (token.encode(), token, io.BytesIO(token.encode())):
        request = Request("POST", "http://127.0.0.1/x", body, {"X-Token": token})
        masked = mask_request(request, masker)
        assert masked.headers["X-Token"] == "<vault:API_TOKEN>"
        stored = masked.body.getvalue() if isinstance(body, io.BytesIO) else masked.body
        assert stored == b"<vault:API_TOKEN>"
    streamed = Request("POST", "http://127.0.0.1/x", iter([b"a=", token.encode()]), {})
    assert b"".join(mask_request(streamed, masker).body) == b"a=<vault:API_TOKEN>"
    untouched = Request("GET", "http://127.0.0.1/x", None, {"Accept": "*/*"})
    assert mask_request(untouched, masker) is untouched


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_body_holding_a_secret_is_stored_decompressed(
    masker: Masker, encoding: str
) -> None:
    plain = json.dumps({"token": SECRETS["API_TOKEN"]}).encode()
    body = gzip.compress(plain) if encoding == "gzip" else zlib.compress(plain)
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Encoding": [encoding], "Content-Length": [str(len(body))]},
        "body": {"string": body},
    }
    masked = mask_response(response, masker)
    assert masked["body"]["string"] == b'{"token": "<vault:API_TOKEN>"}'
    assert masked["headers"] == {"Content-Length": ["30"]}
    assert response["body"]["string"] == body  # the recorded response is left alone
    clean = gzip.compress(b'{"token": "public"}')
    quiet = {**response, "headers": {"Content-Encoding": ["gzip"]}, "body": {"string": clean}}
    assert mask_response(quiet, masker) == quiet


def test_restore_gives_each_echo_its_form() -> None:
    token, password = SECRETS["API_TOKEN"], SECRETS["CLIENT_SECRET"]
    request = Request(
        "POST",
        "http://127.0.0.1/search?api_key=" + quote_plus(token),
        json.dumps({"secret": password}).encode(),
        {"Authorization": "Bearer " + token},
    )
    echo = {
        "path": "/search?api_key=<vault:API_TOKEN>",  # echoes the URL: quoted
        "auth": "Bearer <vault:API_TOKEN>",  # echoes the header: as is
        "issued": "<vault:API_TOKEN>",  # the value itself
        "secret": "<vault:CLIENT_SECRET>",  # in a JSON body: JSON-escaped
        "other": "<vault:NOT_IN_THE_VAULT>",
    }
    body = json.dumps(echo).encode()
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["application/json"], "Content-Length": [str(len(body))]},
        "body": {"string": body},
    }
    restored = restore_response(response, SECRETS, request_forms(request, Masker(SECRETS)))
    assert json.loads(restored["body"]["string"]) == {
        "path": "/search?api_key=" + quote_plus(token),
        "auth": "Bearer " + token,
        "issued": token,
        "secret": password,
        "other": "<vault:NOT_IN_THE_VAULT>",
    }
    length = str(len(restored["body"]["string"]))
    assert restored["headers"]["Content-Length"] == [length]
    assert response["body"]["string"] == body  # the loaded cassette is left alone


def test_restore_encodes_basic_pairs_again(masker: Masker) -> None:
    for user in ("alice", 'al "ice"'):
        pair = base64.b64encode(f"{user}:{SECRETS['PASSWORD']}".encode()).decode()
        masked = mask_text(f"Basic {pair}", masker)
        response = {"headers": {"X-Echo": [masked]}, "body": {"string": b""}}
        assert restore_response(response, SECRETS)["headers"]["X-Echo"] == [f"Basic {pair}"]


def test_wrapping_vcrpy_is_undone_when_the_run_ends() -> None:
    from vcr.cassette import Cassette

    originals = Cassette.__init__, Cassette.play_response
    outer, inner = CassetteMasking(None), CassetteMasking(None)  # type: ignore[arg-type]
    try:
        outer.install()
        inner.install()  # a run inside a run (pytester): wraps the outer run's wrapper
        assert isinstance(Cassette("unused.yaml")._persister, MaskingPersister)
        inner.uninstall()
        outer.uninstall()
        assert (Cassette.__init__, Cassette.play_response) == originals
        outer.install()
        inner.install()
        outer.uninstall()  # ended first: its wrapper stays under the inner one, inert
        persister = Cassette("unused.yaml")._persister
        assert isinstance(persister, MaskingPersister)
        assert not isinstance(persister._persister, MaskingPersister)
        inner.uninstall()
        assert not isinstance(Cassette("unused.yaml")._persister, MaskingPersister)
    finally:
        Cassette.__init__, Cassette.play_response = originals


def test_vcrpy_is_not_imported_by_a_run_that_does_not_use_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-recording installed and the vault open, but no cassette: vcrpy stays unloaded."""
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        test_quiet="""
        import sys

        def test_uses_the_vault(vault, request):
            assert vault["API_TOKEN"]
            manager = request.config.pluginmanager
            assert manager.has_plugin("recording")
            assert manager.get_plugin("vault-cassettes") is not None

        def test_vcr_was_never_imported():
            assert "vcr" not in sys.modules
        """
    )
    key = VaultKey.generate()
    create_vault(pytester.path / "secrets.vault.toml", key)
    set_secrets(pytester.path / "secrets.vault.toml", key, SECRETS)
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    result = pytester.runpytest_subprocess(*FAST)
    result.assert_outcomes(passed=2)
