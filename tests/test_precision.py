"""Precision: realistic secrets are masked completely, ordinary text sharing words with them
is left alone (issue 12, "Masking: complete and precise").

Each secret is written the ways tests and tools write it (printed, ``repr``, JSON, URL
quoting as urllib and requests do it, pytest's own truncation, a real ``-vv`` diff), and
every output is searched for any run of 10 characters of the secret's sensitive parts,
defined here by hand for each secret (not by the engine's rule). Ordinary output (test ids,
JSON of other configs, diffs of other URLs, source lines) must come back unchanged.
"""

from __future__ import annotations

import base64
import json
import random
import string
import sys
import textwrap
from collections.abc import Callable, Iterator
from urllib.parse import quote, quote_plus

import pytest
import requests.utils
from _pytest._io.saferepr import saferepr
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

import pytest_vault.vault  # noqa: F401  (imported before any pytester snapshot)
from pytest_vault.key import VaultKey
from pytest_vault.masking import Masker, github_add_mask_lines
from pytest_vault.masking.regions import sensitive_regions
from pytest_vault.vault import create_vault, set_secrets

RNG = random.Random(20261204)
ALNUM = string.ascii_letters + string.digits


def _random(alphabet: str, length: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(length))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PKCS8_PEM = _KEY.private_bytes(
    serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption(),
).decode()
RSA_PEM = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    .decode()
)
KEY_ID = _random("0123456789abcdef", 40)
CLIENT_ID = str(RNG.randrange(10**20, 10**21))
SERVICE_ACCOUNT = json.dumps(
    {
        "type": "service_account",
        "project_id": "acme-ci-prod",
        "private_key_id": KEY_ID,
        "private_key": PKCS8_PEM,
        "client_email": "ci-runner@acme-ci-prod.iam.gserviceaccount.com",
        "client_id": CLIENT_ID,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/"
        "ci-runner%40acme-ci-prod.iam.gserviceaccount.com",
        "universe_domain": "googleapis.com",
    },
    indent=2,
)
JWT = ".".join(
    [
        _b64url(b'{"alg":"HS256","typ":"JWT"}'),
        _b64url(json.dumps({"sub": "ci-runner", "iat": 1733318400, "scope": "deploy"}).encode()),
        _b64url(RNG.randbytes(32)),
    ]
)
DB_PASSWORD = "Xk9#mQ2$vL7p@R4s&T6w/z"
DATABASE_URL = (
    f"postgresql://app_user:{quote(DB_PASSWORD, safe='')}@db.internal.example.com:5432/appdb"
)
AWS_ACCESS_KEY_ID = "AKIA" + _random("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
AWS_SECRET_ACCESS_KEY = _random(ALNUM + "+/", 40)
GITHUB_TOKEN = "ghp_" + _random(ALNUM, 36)
PASSPHRASE = "tangerine ocelot glacier harbour 83"

SECRETS = {
    "SERVICE_ACCOUNT": SERVICE_ACCOUNT,
    "RSA_KEY": RSA_PEM,
    "JWT": JWT,
    "DATABASE_URL": DATABASE_URL,
    "AWS_ACCESS_KEY_ID": AWS_ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": AWS_SECRET_ACCESS_KEY,
    "GITHUB_TOKEN": GITHUB_TOKEN,
    "PASSPHRASE": PASSPHRASE,
}


def _pem_body(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if not line.startswith("-----")]


#: What must never show, by hand: a key's base64 body and id, the client id, a password,
#: tokens and passphrases whole.
SENSITIVE: dict[str, list[str]] = {
    "SERVICE_ACCOUNT": [*_pem_body(PKCS8_PEM), KEY_ID, CLIENT_ID],
    "RSA_KEY": _pem_body(RSA_PEM),
    "JWT": JWT.split("."),
    "DATABASE_URL": [DB_PASSWORD, quote(DB_PASSWORD, safe="")],
    "AWS_ACCESS_KEY_ID": [AWS_ACCESS_KEY_ID],
    "AWS_SECRET_ACCESS_KEY": [AWS_SECRET_ACCESS_KEY],
    "GITHUB_TOKEN": [GITHUB_TOKEN],
    "PASSPHRASE": [PASSPHRASE],
}

MASKER = Masker(SECRETS)


def _windows(text: str, length: int = 10) -> Iterator[str]:
    for start in range(len(text) - length + 1):
        yield text[start : start + length]


def _forms(part: str) -> set[str]:
    """A sensitive part and the ways it is escaped in output."""
    return {
        part,
        repr(part)[1:-1],
        json.dumps(part)[1:-1],
        quote(part, safe=""),
        quote(part),
        quote_plus(part),
        requests.utils.requote_uri(part),
    }


def leaks(output: str) -> list[str]:
    """ "NAME: window" for each run of 10 characters of a sensitive part found in output."""
    found = []
    for name, parts in SENSITIVE.items():
        for part in parts:
            for form in _forms(part):
                found.extend(f"{name}: {w!r}" for w in _windows(form) if w in output)
    return sorted(set(found))


# --- every secret, written the ways output writes it -------------------------------------------


def _saferepr_truncations(value: str) -> list[str]:
    """What pytest's saferepr shows of a value in a longer string, cut at many places."""
    shown = []
    for size in (40, 80, 240):
        shown.append(saferepr(value, maxsize=size))
        shown.append(saferepr("padding " * 20 + value, maxsize=size))
        shown.append(saferepr(value + " padding" * 20, maxsize=size))
    return shown


RENDERINGS: dict[str, Callable[[str], list[str]]] = {
    "printed": lambda value: [f"value: {value}\n"],
    "repr": lambda value: [repr(value), ascii(value), repr(value.encode())],
    "json": lambda value: [json.dumps(value), json.dumps(value, ensure_ascii=False)],
    "json-in-config": lambda value: [json.dumps({"credentials": value, "retries": 3}, indent=2)],
    "url-quoted": lambda value: [
        "https://api.example.com/v1?token=" + quote(value, safe=""),
        "https://api.example.com/v1/" + quote(value),
        "https://api.example.com/v1?" + "token=" + quote_plus(value),
        requests.utils.requote_uri("https://api.example.com/v1?token=" + value),
    ],
    "saferepr": _saferepr_truncations,
    "lines": lambda value: [
        f"line {index}: {line}" for index, line in enumerate(value.split("\n"))
    ],
    "header": lambda value: [f"Authorization: Bearer {value}"],
}


@pytest.mark.parametrize("rendering", sorted(RENDERINGS))
@pytest.mark.parametrize("name", sorted(SECRETS))
def test_no_sensitive_part_survives_any_rendering(name: str, rendering: str) -> None:
    outputs = RENDERINGS[rendering](SECRETS[name])

    masked = "\n".join(MASKER.mask(output) for output in outputs)

    assert leaks(masked) == []
    assert f"<vault:{name}>" in masked


def test_the_database_password_alone_and_url_quoted_is_masked() -> None:
    for output in (
        f"password={DB_PASSWORD}",
        f"password={quote(DB_PASSWORD, safe='')}",
        requests.utils.requote_uri(f"https://db.example.com/?p={DB_PASSWORD}"),
    ):
        masked = MASKER.mask(output)
        assert leaks(masked) == [], output
        assert "<vault:DATABASE_URL>" in masked


def test_a_private_key_line_alone_is_masked_with_its_armour_left() -> None:
    lines = RSA_PEM.splitlines()
    output = "\n".join([lines[0], lines[5], lines[-1]])

    masked = MASKER.mask(output)

    assert masked == "\n".join([lines[0], "<vault:RSA_KEY>", lines[-1]])


# --- ordinary output sharing words with the secrets --------------------------------------------

OTHER_CONFIG = json.dumps(
    {
        "type": "service_account",
        "project_id": "other-project",
        "client_email": "deploy@other-project.iam.gserviceaccount.com",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    },
    indent=2,
)

ORDINARY = {
    "test ids": (
        "tests/test_gcp.py::test_service_account PASSED\n"
        "tests/test_gcp.py::test_private_key_id_is_hex PASSED\n"
        "tests/test_gcp.py::test_auth_provider_x509_cert_url FAILED\n"
        "tests/test_db.py::test_database_url[postgresql] PASSED\n"
        "tests/test_aws.py::test_aws_secret_access_key_rotation SKIPPED (no AWS)\n"
        "tests/test_gh.py::test_github_token_scopes PASSED\n"
        "tests/test_auth.py::test_jwt_header_alg_is_hs256 PASSED\n"
    ),
    "other config json": OTHER_CONFIG,
    "other config compact": json.dumps(json.loads(OTHER_CONFIG)),
    "diff of other urls": (
        "E       AssertionError: assert 'postgresql://app_user:hunter2@db.internal.example.com"
        ":5432/appdb' == 'postgresql://app_user:hunter2@db.internal.example.com:5433/appdb'\n"
        "E         \n"
        "E         - postgresql://app_user:hunter2@db.internal.example.com:5433/appdb\n"
        "E         ?                                                          ^\n"
        "E         + postgresql://app_user:hunter2@db.internal.example.com:5432/appdb\n"
        "E         ?                                                          ^\n"
    ),
    "source lines": (
        'DATABASE_URL = os.environ["DATABASE_URL"]\n'
        "engine = create_engine(DATABASE_URL, pool_pre_ping=True)\n"
        "key = serialization.load_pem_private_key(pem, password=None)\n"
        "assert pem.startswith('-----BEGIN PRIVATE KEY-----')\n"
        "assert pem.rstrip().endswith('-----END RSA PRIVATE KEY-----')\n"
        'headers = {"Authorization": f"Bearer {token}"}\n'
        "session = boto3.Session(aws_access_key_id=key_id, aws_secret_access_key=secret)\n"
        'creds = service_account.Credentials.from_service_account_info(info, scopes=["cloud"])\n'
        'client_email = info["client_email"]  # ends with .iam.gserviceaccount.com\n'
        "token_uri = 'https://oauth2.googleapis.com/token'\n"
    ),
    "unrelated diff": (
        "@@ -12,7 +12,7 @@ def load_settings(path):\n"
        "-    timeout = 30\n"
        "+    timeout = 60\n"
        "     retries = 3\n"
        '     region = "europe-west1"\n'
    ),
    "pem armour": "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"
    "-----BEGIN RSA PRIVATE KEY-----\n-----END RSA PRIVATE KEY-----\n",
    # Its words, not 10 characters of it in a row (those are masked: the passphrase is
    # sensitive as a whole).
    "words of the passphrase": "an ocelot crossed the glacier to the harbour\n",
}


@pytest.mark.parametrize("kind", sorted(ORDINARY))
def test_ordinary_text_is_never_masked(kind: str) -> None:
    text = ORDINARY[kind]

    assert MASKER.find(text) == []
    assert MASKER.mask(text) is text
    assert not MASKER.contains_secret(text)


def test_ordinary_text_stays_unmasked_beside_a_secret() -> None:
    ordinary = "".join(ORDINARY.values())
    text = f"{ordinary}\ntoken={GITHUB_TOKEN}\n{ordinary}"

    assert MASKER.mask(text) == f"{ordinary}\ntoken=<vault:GITHUB_TOKEN>\n{ordinary}"


def test_what_is_masked_does_not_depend_on_what_was_masked_before() -> None:
    texts = [*ORDINARY.values(), *(f"x {value} y" for value in SECRETS.values())]
    alone = [Masker(SECRETS).mask(text) for text in texts]
    masker = Masker(SECRETS)

    for order in (texts, texts[::-1], texts[1::2] + texts[::2]):
        assert {text: masker.mask(text) for text in order} == dict(zip(texts, alone, strict=True))


# --- the rule's building blocks ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "sensitive"),
    [
        pytest.param("hunter22", ["hunter22"], id="password-whole"),
        pytest.param(PASSPHRASE, [PASSPHRASE], id="passphrase-whole"),
        pytest.param(JWT, [JWT], id="jwt-whole"),
        pytest.param(DATABASE_URL, [quote(DB_PASSWORD, safe="")], id="url-password"),
        pytest.param(
            "https://hooks.example.com/services/T024BE7LD/B01ABCDEF/jF3kL9mNpQ2rS5tU8vW1xY4z",
            ["T024BE7LD/B01ABCDEF/jF3kL9mNpQ2rS5tU8vW1xY4z"],
            id="url-path-token",
        ),
        pytest.param(
            "[default]\nregion = eu-west-1\npassword = correct-horse\n",
            ["correct-horse"],
            id="credential-field",
        ),
        pytest.param(
            '{\n  "name": "ci",\n  "retries": 3\n}',
            ['{\n  "name": "ci",\n  "retries": 3\n}'],
            id="nothing-random-so-all",
        ),
    ],
)
def test_sensitive_regions(value: str, sensitive: list[str]) -> None:
    assert [value[start:end] for start, end in sensitive_regions(value)] == sensitive


def test_service_account_regions_are_the_key_its_id_and_the_client_id() -> None:
    regions = [SERVICE_ACCOUNT[start:end] for start, end in sensitive_regions(SERVICE_ACCOUNT)]

    assert KEY_ID in regions
    assert CLIENT_ID in regions
    body = "\\n".join(_pem_body(PKCS8_PEM)).rstrip("=")  # the padding is not secret
    assert any(body in region for region in regions)
    joined = "\n".join(regions)
    for word in ("service_account", "client_email", "googleapis", "BEGIN PRIVATE KEY", "x509"):
        assert word not in joined


# --- keys and extra forms ------------------------------------------------------------------


def test_a_vault_key_is_masked_whole_and_in_runs() -> None:
    key = VaultKey.generate().text()
    masker = Masker({"TOKEN": GITHUB_TOKEN}, keys=[key])

    assert masker.mask(f"PYTEST_VAULT_KEY={key}") == "PYTEST_VAULT_KEY=<vault:key>"
    assert masker.mask(f"'{key[:30]}...'") == "'<vault:key>...'"
    assert masker.mask(json.dumps({"key": key})) == '{"key": "<vault:key>"}'
    assert masker.mask(masker.mask(key)) == "<vault:key>"
    assert masker.masked_names == {"TOKEN"}
    assert bool(Masker({}, keys=[key]))


def test_extra_forms_are_masked_whole() -> None:
    basic = base64.b64encode(f"app_user:{DB_PASSWORD}".encode()).decode()
    masker = Masker(SECRETS, extra_forms={"DATABASE_URL": [basic], "NEW": ["sh0rt-f0rm"]})

    assert masker.mask(f"Authorization: Basic {basic}") == (
        "Authorization: Basic <vault:DATABASE_URL>"
    )
    assert masker.mask("x sh0rt-f0rm y") == "x <vault:NEW> y"
    assert masker.mask(basic[:12]) == basic[:12]  # whole only


def test_find_says_where_and_which() -> None:
    text = f"a {GITHUB_TOKEN} b {AWS_ACCESS_KEY_ID}"

    spans = MASKER.find(text)

    assert spans == [
        (2, 2 + len(GITHUB_TOKEN), "GITHUB_TOKEN"),
        (text.index(AWS_ACCESS_KEY_ID), len(text), "AWS_ACCESS_KEY_ID"),
    ]


def test_github_add_mask_covers_a_one_line_value_ending_in_a_newline() -> None:
    lines = github_add_mask_lines({"TOKEN": GITHUB_TOKEN + "\n"}, keys=["PYTEST-VAULT-KEY-1abc"])

    assert f"::add-mask::{GITHUB_TOKEN}%0A" in lines
    assert f"::add-mask::{GITHUB_TOKEN}" in lines
    assert "::add-mask::PYTEST-VAULT-KEY-1abc" in lines


# --- forms generated by the real functions -------------------------------------------------

FORM_VALUES = {
    "ascii-symbols": "p@ss w0rd/+&=?#%~!*'()[];:,$\"\\",
    "non-ascii": "Passwört-ключ-密钥-🔑-ünïcödé",
}
FORM_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "quote": quote,
    "quote-safe-empty": lambda value: quote(value, safe=""),
    "quote_plus": quote_plus,
    "requote_uri": requests.utils.requote_uri,
    "json": json.dumps,
    "json-unicode": lambda value: json.dumps(value, ensure_ascii=False),
    "repr": repr,
    "ascii": ascii,
    "bytes-repr": lambda value: repr(value.encode()),
}


@pytest.mark.parametrize("function", sorted(FORM_FUNCTIONS))
@pytest.mark.parametrize("kind", sorted(FORM_VALUES))
@pytest.mark.parametrize("length", [1, 40, 300])
def test_every_form_of_any_length_is_masked(function: str, kind: str, length: int) -> None:
    value = FORM_VALUES[kind] * length
    masker = Masker({"SECRET": value})
    form = FORM_FUNCTIONS[function](value)

    masked = masker.mask(f"sent {form} done")

    assert "<vault:SECRET>" in masked
    assert masked.startswith("sent ")
    assert masked.endswith(" done")
    assert not any(window in masked for window in _windows(form))


# --- linear time ---------------------------------------------------------------------------


def _non_ascii_secret(length: int) -> str:
    rng = random.Random(length)
    return "".join(rng.choice("абвгдеёжзийклмнопрстуфхцчшщэюяüéß€Ω") for _ in range(length))


def _vv_like_diff(secret: str) -> str:
    other = secret[: len(secret) // 2] + "X" + secret[len(secret) // 2 + 1 :]
    return (
        f"E       AssertionError: assert {secret!r} == {other!r}\n"
        f"E         - {other}\nE         ?  ^\nE         + {secret}\n"
        + json.dumps(secret)
        + ascii(secret)
    )


def _work(length: int) -> int:
    """Python-level work (line events) for masking a diff of a secret of this length."""
    secret = _non_ascii_secret(length)
    masker = Masker({"BIG": secret})
    text = _vv_like_diff(secret)
    events = 0

    def count(frame: object, event: str, arg: object) -> Callable[..., object]:
        nonlocal events
        events += 1
        return count

    sys.settrace(count)
    try:
        masked = masker.mask(text)
    finally:
        sys.settrace(None)
    assert not any(window in masked for window in _windows(secret))
    return events


def test_masking_work_grows_linearly_with_the_secret() -> None:
    small, double = _work(1_250), _work(2_500)

    assert double < 2.5 * small


def test_a_vv_diff_of_a_5000_character_non_ascii_secret_is_masked() -> None:
    secret = _non_ascii_secret(5_000)
    masker = Masker({"BIG": secret})

    masked = masker.mask(_vv_like_diff(secret))

    assert not any(window in masked for window in _windows(secret))


def test_a_real_vv_diff_is_masked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = _non_ascii_secret(5_000)
    key = VaultKey.generate()
    path = pytester.path / "secrets.vault.toml"
    create_vault(path, key)
    set_secrets(path, key, {"BIG": secret, "SERVICE_ACCOUNT": SERVICE_ACCOUNT})
    monkeypatch.setenv("PYTEST_VAULT_KEY", key.text())
    monkeypatch.setenv("PYTHONIOENCODING", "utf-8")
    pytester.makepyfile(
        test_big=textwrap.dedent(
            """
            def test_service_account(vault):
                secret = vault["BIG"]
                assert secret == secret[:2500] + "X" + secret[2501:]
            """
        )
    )

    result = pytester.runpytest_subprocess("-vv", "-p", "no:hypothesispytest", timeout=120)

    output = result.stdout.str() + result.stderr.str()
    result.assert_outcomes(failed=1)
    assert "<vault:BIG>" in output
    assert "test_service_account" in output  # the test id keeps its name
    assert "test_<vault:" not in output
    assert not any(window in output for window in _windows(secret))


# --- fuzz: masked output never holds a sensitive run -----------------------------------------

_pieces = st.sampled_from(
    [
        *(value[: len(value) // 2] for value in SECRETS.values()),
        *(value[len(value) // 2 :] for value in SECRETS.values()),
        *SECRETS.values(),
        *(repr(value) for value in SECRETS.values()),
        *(json.dumps(value) for value in SECRETS.values()),
        *ORDINARY.values(),
        "...",
        "…",
        "\nE         - ",
        " ",
    ]
)


@given(parts=st.lists(_pieces, max_size=6), cut=st.integers(0, 400))
@settings(max_examples=150, deadline=None)
def test_masked_output_never_holds_a_sensitive_run(parts: list[str], cut: int) -> None:
    text = "".join(parts)
    text = text[cut:] if cut < len(text) else text  # a cut anywhere, like a truncation

    masked = MASKER.mask(text)

    assert leaks(masked) == []
    assert MASKER.mask(masked) == masked
