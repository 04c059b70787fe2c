"""Recorded HTTP cassettes (vcrpy, pytest-recording) are written with the secrets masked.

vcrpy records every interaction of a test into a cassette file that gets committed: the
request's URL, headers and body, the response's headers and body. While the vault is open,
each secret in them is written as ``<vault:NAME>``, and a cassette written that way plays
back:

* **Writing.** Every cassette's persister is wrapped (`MaskingPersister`): what it is asked
  to save is masked first, whatever the user's ``vcr_config`` did before (``filter_headers``
  and ``before_record_*`` hooks run first, on the real values). Headers, URLs and query
  strings, bodies (text, JSON, form-encoded, and the UTF-8 bytes of a secret inside a binary
  body), cookies, ``Authorization: Basic`` pairs (`mask_text`) and compressed bodies that
  hold a secret once decompressed (`mask_response`).
* **Matching.** vcrpy runs a cassette's ``before_record_request`` filter on the requests it
  records and loads *and* on each request a test makes before comparing them (vcr/cassette.py:
  ``append``, ``_responses``, ``can_play_response_for``). The filter is wrapped to mask after
  the user's own, so a replayed request carrying the real token is compared, masked, to the
  masked request on disk: every matcher (query, body, headers, ...) sees the same text on both
  sides. Masking is deterministic, so this holds whatever matchers are configured.
* **Playing.** A response played back gets each ``<vault:NAME>`` of the opened vault replaced
  by the value again, so a test sees on replay what it saw when recording: in the form the
  replayed request carried it where the response echoes the request (`request_forms`),
  JSON-escaped in JSON bodies, re-encoded in ``Basic`` credentials, ``Content-Length``
  adjusted (`restore_response`).

vcrpy is never imported here unless the run already imported it: the class `Cassette` is
wrapped when pytest-recording announces a cassette (its ``pytest_recording_configure``
hook) or, for vcrpy used directly, before the first test set up after ``vcr`` was imported.
The wrapping is undone when the run ends. Nothing is masked while the vault is closed (no
secret of it can have reached a request through pytest-vault then).
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import json
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

import pytest

if TYPE_CHECKING:
    from .masking import Masker
    from .state import VaultState

__all__ = ["CassetteMasking", "MaskingPersister", "mask_request", "mask_response", "mask_text"]

#: ``Basic <base64 of user:password>`` (RFC 7617): a header's value, or echoed in a body.
_BASIC: Final = r"(?i)\b(basic)[ \t]+([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])"
#: What `_masked_basic` writes, for `restore_response`: the pair in clear, or in base64.
_MASKED_BASIC: Final = r"(?i)\b(basic)[ \t]+((?:[^\s\"'\\<>]|<vault:[^<>\s]+>)+)"
#: A masked pair that can be written in clear anywhere (a header, a JSON or YAML string).
_PLAIN_PAIR: Final = r"[^\s\"'\\]*"
_BASIC_WORD: Final = r"(?i)\bbasic[ \t]"
_TOKEN: Final = r"<vault:([^<>\s]+)>"
_COMPRESSED = ("gzip", "deflate", "br")


@functools.cache
def _pattern(source: str) -> re.Pattern[str]:
    """The expressions above, compiled when first used: this module is imported in every
    run where vcrpy is installed, most of which record nothing (~1 M instructions each)."""
    return re.compile(source)


# -- masking ---------------------------------------------------------------------------------


def mask_text(text: str, masker: Masker) -> str:
    """``text`` masked, ``Basic`` credentials whose decoded pair holds a secret included.

    Such a credential is written ``Basic alice:<vault:PASSWORD>``: the decoded pair in clear
    with the secret masked, rather than base64 of the masked pair, so that a reviewer of the
    cassette sees what was hidden (the pair was only base64, readable by anyone, before;
    cassettes are never sent to a server). A pair that cannot be written in clear where it
    stands (whitespace, quotes or backslashes left in it) is written in base64 instead.
    """
    return masker.mask(_pattern(_BASIC).sub(functools.partial(_masked_basic, masker=masker), text))


def _masked_basic(match: re.Match[str], masker: Masker) -> str:
    try:
        pair = base64.b64decode(match.group(2), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return match.group()
    masked = masker.mask(pair)
    if masked == pair:
        return match.group()
    if _pattern(_PLAIN_PAIR).fullmatch(masked) is None:
        masked = base64.b64encode(masked.encode("utf-8")).decode("ascii")
    return f"{match.group(1)} {masked}"


def mask_bytes(data: bytes, masker: Masker) -> bytes:
    """``data`` masked as UTF-8 text; bytes that are not UTF-8 pass through unchanged.

    Invalid bytes are carried as lone surrogates (``surrogateescape``), so a secret's UTF-8
    bytes inside a binary body are found and replaced like in text.
    """
    text = data.decode("utf-8", "surrogateescape")
    masked = mask_text(text, masker)
    if masked == text:
        return data
    return masked.encode("utf-8", "surrogateescape")


def _mask_value(value: Any, masker: Masker) -> Any:
    """A copy of ``value`` with every str and bytes in it (keys too) masked."""
    if isinstance(value, str):
        return mask_text(value, masker)
    if isinstance(value, (bytes, bytearray)):
        return mask_bytes(bytes(value), masker)
    if isinstance(value, dict):
        return {_mask_value(key, masker): _mask_value(item, masker) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_mask_value(item, masker) for item in value)
    if isinstance(value, io.BytesIO):
        return io.BytesIO(mask_bytes(value.getvalue(), masker))
    return value


def mask_request(request: Any, masker: Masker) -> Any:
    """A masked copy of a vcrpy ``Request`` (URL, headers, body), or ``request`` itself."""
    data = request._to_dict()  # method, uri, body, headers: what a cassette stores
    body = data["body"]
    streamed = isinstance(body, Iterator) and not isinstance(body, io.IOBase)
    if streamed:  # a request streamed from an iterator: keep it one
        data["body"] = iter([_mask_value(chunk, masker) for chunk in body])
    masked = _mask_value(data, masker)
    if masked == data and not streamed:
        return request
    return type(request)._from_dict(masked)


def mask_response(response: Any, masker: Masker) -> Any:
    """A masked copy of a recorded response (a dict, as vcrpy's stubs make them).

    A compressed body (``Content-Encoding: gzip``, ``deflate``, ``br``) that holds a secret
    once decompressed is stored decompressed, as vcrpy's ``decode_compressed_response``
    would store it (clients accept the plain body on replay); other compressed bodies are
    left as they are.
    """
    response = _decompressed_if_secret(response, masker)
    masked = _mask_value(response, masker)
    if _body(masked) != _body(response):
        _set_content_length(masked)
    return masked


def mask_cassette(cassette_dict: dict[str, Any], masker: Masker) -> dict[str, Any]:
    """What vcrpy hands its persister, masked: requests, responses, metadata."""
    masked = {  # anything else vcrpy saves (a cassette's metadata)
        key: _mask_value(value, masker)
        for key, value in cassette_dict.items()
        if key not in ("requests", "responses")
    }
    masked["requests"] = [mask_request(request, masker) for request in cassette_dict["requests"]]
    responses = cassette_dict["responses"]
    masked["responses"] = [mask_response(response, masker) for response in responses]
    return masked


def _body(response: Any) -> Any:
    if isinstance(response, dict) and isinstance(response.get("body"), dict):
        return response["body"].get("string")
    return None


def _headers(response: Any) -> dict[str, Any]:
    headers = response.get("headers") if isinstance(response, dict) else None
    return headers if isinstance(headers, dict) else {}


def _header(response: Any, name: str) -> str | None:
    for key, value in _headers(response).items():
        if isinstance(key, str) and key.lower() == name:
            values = value if isinstance(value, list) else [value]
            return ", ".join(str(item) for item in values)
    return None


def _set_content_length(response: Any) -> None:
    """Make ``Content-Length`` (when there is one) the length of the body as it is now."""
    body = _body(response)
    if not isinstance(body, (str, bytes)):
        return
    length = str(len(body.encode("utf-8") if isinstance(body, str) else body))
    headers = _headers(response)
    for key in list(headers):
        if isinstance(key, str) and key.lower() == "content-length":
            headers[key] = [length] if isinstance(headers[key], list) else length


def _decompressed_if_secret(response: Any, masker: Masker) -> Any:
    encoding = (_header(response, "content-encoding") or "").strip().lower()
    if encoding not in _COMPRESSED or not isinstance(_body(response), bytes):
        return response
    from vcr.filters import decode_response  # type: ignore[import-untyped]

    body = _body(decode_response(response))
    if body == _body(response) or not isinstance(body, bytes):
        return response  # not compressed after all (vcrpy assumes so when it cannot read it)
    if not masker.contains_secret(body.decode("utf-8", "surrogateescape")):
        return response
    # As vcrpy's decode_response stores it, but keeping the case of the header names.
    headers = {
        key: value
        for key, value in _headers(response).items()
        if not (isinstance(key, str) and key.lower() == "content-encoding")
    }
    return {**response, "headers": headers, "body": {**response["body"], "string": body}}


# -- playing back ----------------------------------------------------------------------------


#: How much text before a token is compared to find the form a response echoes.
_CONTEXT = 32
#: Texts longer than this are not searched for the forms a request carried secrets in.
_LEARN_LIMIT = 1 << 18


class Occurrence:
    """A secret as the replayed request carried it: the text before it, and its form.

    A plain class: defining a dataclass at import costs more than this module's code."""

    __slots__ = ("before", "text")

    def __init__(self, before: str, text: str) -> None:
        self.before = before
        self.text = text


def request_forms(request: Any, masker: Masker) -> dict[str, list[Occurrence]]:
    """Where and in what form (URL-quoted, JSON-escaped, ...) ``request`` carries secrets.

    Each text of the request (URL, header values, body) is compared to its masked copy:
    the literal pieces between the tokens of the masked copy are found again in the real
    text, and what lies between them is the form that token stands for.
    """
    real, masked = request._to_dict(), mask_request(request, masker)._to_dict()
    pairs = [(real["uri"], masked["uri"]), (real["body"], masked["body"])]
    pairs += [(real["headers"].get(name), value) for name, value in masked["headers"].items()]
    learned: dict[str, list[Occurrence]] = {}
    for real_item, masked_item in pairs:
        real_text, masked_text = _as_text(real_item), _as_text(masked_item)
        if real_text is None or masked_text is None or "<vault:" not in masked_text:
            continue
        if len(real_text) > _LEARN_LIMIT:
            continue
        pieces = _pattern(_TOKEN).split(masked_text)  # literal, name, literal, name, ..., literal
        pattern = "(.*?)".join(re.escape(piece) for piece in pieces[::2])
        found = re.fullmatch(pattern, real_text, re.DOTALL)
        if found is None:  # e.g. a Basic pair, masked decoded
            continue
        at = 0
        for index, name in enumerate(pieces[1::2]):
            at += len(pieces[2 * index])
            before = masked_text[max(0, at - _CONTEXT) : at]
            learned.setdefault(name, []).append(Occurrence(before, found.group(index + 1)))
            at += len(name) + len("<vault:>")
    return learned


def _as_text(item: Any) -> str | None:
    if isinstance(item, list):
        item = item[0] if item else None
    if isinstance(item, (bytes, bytearray)):
        return bytes(item).decode("utf-8", "surrogateescape")
    return item if isinstance(item, str) else None


def restore_response(
    response: Any, values: dict[str, str], learned: dict[str, list[Occurrence]] | None = None
) -> Any:
    """A copy of a played-back response with each ``<vault:NAME>`` of ``values`` given back.

    A token is replaced by the value in the form the replayed request carried it in
    (``learned``, see `request_forms`) when the text before it matches the text before
    that occurrence in the request (an echo of the request), by the value itself otherwise
    (JSON-escaped in a JSON body). A masked ``Basic`` pair is encoded again. A token that
    stood for a part of a value (a line of it, or a fragment) comes back as the whole value:
    the cassette does not say which part it was.
    """
    if not _may_hold_token(response):
        return response
    json_body = "json" in (_header(response, "content-type") or "").lower()
    restorer = _Restorer(values, learned or {})

    def restored(item: Any, *, in_json: bool = False) -> Any:
        if isinstance(item, str):
            return restorer.text(item, in_json=in_json)
        if isinstance(item, (bytes, bytearray)):
            text = bytes(item).decode("utf-8", "surrogateescape")
            return restorer.text(text, in_json=in_json).encode("utf-8", "surrogateescape")
        if isinstance(item, dict):
            return {key: restored(value) for key, value in item.items()}
        if isinstance(item, (list, tuple)):
            return type(item)(restored(value) for value in item)
        return item

    result = restored(response)
    body = _body(response)
    if body is not None:
        result["body"]["string"] = restored(body, in_json=json_body)
        if result["body"]["string"] != body:
            _set_content_length(result)
    return result


class _Restorer:
    def __init__(self, values: dict[str, str], learned: dict[str, list[Occurrence]]) -> None:
        self.values = values
        self.learned = learned

    def text(self, text: str, *, in_json: bool) -> str:
        if "<vault:" not in text and not _pattern(_MASKED_BASIC).search(text):
            return text
        text = _pattern(_MASKED_BASIC).sub(self._basic, text)
        return _pattern(_TOKEN).sub(functools.partial(self._token, in_json=in_json), text)

    def _token(self, match: re.Match[str], *, in_json: bool) -> str:
        value = self.values.get(match.group(1))
        if value is None:
            return match.group()
        before = match.string[max(0, match.start() - _CONTEXT) : match.start()]
        best, score = value, 0
        for occurrence in self.learned.get(match.group(1), ()):
            shared = _shared_tail(before, occurrence.before)
            if shared > score:
                best, score = occurrence.text, shared
        if best == value and in_json:
            return json.dumps(value, ensure_ascii=False)[1:-1]
        return best

    def _basic(self, match: re.Match[str]) -> str:
        pair = match.group(2)
        if "<vault:" not in pair:  # the base64 form of a pair that was not plain
            try:
                pair = base64.b64decode(pair, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return match.group()
            if "<vault:" not in pair:
                return match.group()

        def value(token: re.Match[str]) -> str:
            return self.values.get(token.group(1), token.group())

        real = _pattern(_TOKEN).sub(value, pair)
        return f"{match.group(1)} {base64.b64encode(real.encode('utf-8')).decode('ascii')}"


def _shared_tail(first: str, second: str) -> int:
    """How many characters ``first`` and ``second`` have in common at their ends."""
    count = 0
    for left, right in zip(reversed(first), reversed(second), strict=False):
        if left != right:
            break
        count += 1
    return count


def _may_hold_token(item: Any) -> bool:
    """Whether ``item`` holds a ``<vault:NAME>``, or a ``Basic`` pair that might hide one."""
    if isinstance(item, (bytes, bytearray)):
        item = bytes(item).decode("utf-8", "surrogateescape")
    if isinstance(item, str):
        return "<vault:" in item or _pattern(_BASIC_WORD).search(item) is not None
    if isinstance(item, dict):
        return any(_may_hold_token(key) or _may_hold_token(value) for key, value in item.items())
    if isinstance(item, (list, tuple)):
        return any(_may_hold_token(value) for value in item)
    return False


# -- wiring into vcrpy -----------------------------------------------------------------------


class MaskingPersister:
    """A cassette persister that masks what it saves, then hands it to the real one."""

    def __init__(self, persister: Any, masking: CassetteMasking) -> None:
        self._persister = persister
        self._masking = masking

    def load_cassette(self, cassette_path: Any, serializer: Any) -> Any:
        return self._persister.load_cassette(cassette_path, serializer=serializer)

    def save_cassette(self, cassette_path: Any, cassette_dict: Any, serializer: Any) -> None:
        masker = self._masking.masker()
        if masker is not None:
            cassette_dict = mask_cassette(cassette_dict, masker)
        self._persister.save_cassette(cassette_path, cassette_dict, serializer=serializer)

    def __getattr__(self, name: str) -> Any:  # whatever else a custom persister offers
        return getattr(self._persister, name)


class CassetteMasking:
    """The pytest plugin object that masks the cassettes of this run (see the module doc)."""

    def __init__(self, state: VaultState) -> None:
        self.state = state
        self.active = False
        self._cassette_class: Any = None
        self._originals: dict[str, Any] = {}
        self._wrappers: dict[str, Any] = {}

    # -- pytest hooks

    @pytest.hookimpl(optionalhook=True)
    def pytest_recording_configure(self, config: pytest.Config, vcr: Any) -> None:
        """pytest-recording is about to use a cassette (vcrpy is imported by now)."""
        self.install()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """vcrpy used directly: wrap it once a test module or conftest has imported it."""
        if not self.active and "vcr.cassette" in sys.modules:
            self.install()

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.uninstall()

    # -- the masker and the values

    def masker(self) -> Masker | None:
        """The opened vault's masker; None while the vault is closed or has nothing to mask."""
        masker = self.state.masker if self.state.is_open else None
        return masker if masker else None

    def restored(self, response: Any, request: Any) -> Any:
        """``response`` played back for ``request``, with the secrets given back."""
        masker = self.masker()
        if masker is None or not _may_hold_token(response):
            return response
        vault = self.state.vault()
        values = {name: vault[name] for name in vault}
        return restore_response(response, values, request_forms(request, masker))

    # -- wrapping vcr.cassette.Cassette for this run

    def install(self) -> None:
        if self.active:
            return
        from vcr.cassette import Cassette  # type: ignore[import-untyped]

        masking = self
        init, play = Cassette.__init__, Cassette.play_response

        @functools.wraps(init)
        def __init__(cassette: Any, *args: Any, **kwargs: Any) -> None:
            init(cassette, *args, **kwargs)
            if masking.active:
                masking.attach(cassette)

        @functools.wraps(play)
        def play_response(cassette: Any, request: Any) -> Any:
            response = play(cassette, request)
            return masking.restored(response, request) if masking.active else response

        self._cassette_class = Cassette
        self._originals = {"__init__": init, "play_response": play}
        self._wrappers = {"__init__": __init__, "play_response": play_response}
        for name, wrapper in self._wrappers.items():
            setattr(Cassette, name, wrapper)
        self.active = True

    def uninstall(self) -> None:
        """Undo `install`; a wrapper something else has wrapped since stays, inert."""
        self.active = False
        cassette_class = self._cassette_class
        for name, wrapper in self._wrappers.items():
            if cassette_class.__dict__.get(name) is wrapper:
                setattr(cassette_class, name, self._originals[name])
        self._wrappers = {}

    def attach(self, cassette: Any) -> None:
        """Mask what ``cassette`` compares and saves (its filter and its persister)."""
        if not hasattr(cassette, "_before_record_request") or not hasattr(cassette, "_persister"):
            warnings.warn(
                pytest.PytestWarning(
                    "pytest-vault does not know this version of vcrpy: cassettes are "
                    "recorded without masking the vault's secrets."
                ),
                stacklevel=2,
            )
            return
        cassette._before_record_request = self._masking_filter(cassette._before_record_request)
        cassette._persister = MaskingPersister(cassette._persister, self)

    def _masking_filter(self, user_filter: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def before_record_request(request: Any) -> Any:
            request = user_filter(request)  # the user's filters see the real values
            masker = self.masker()
            if not request or masker is None:  # vcrpy's filters return None to skip one
                return request
            return mask_request(request, masker)

        return before_record_request
