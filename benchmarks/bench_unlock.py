"""Figure 3: unlocking and decrypting vaults of 10, 1,000 and 10,000 secrets.

* in-process, what a test run pays when a test first asks for the vault: the imports,
  ``VaultFile.load`` + ``find_key`` (key from the environment) + ``decrypt_all``, and
  building the masker for the values; and a warm unlock without imports or masker (what
  the work costs, and how it grows);
* in a fresh process, imports included (``_unlock_worker.py``), side by side with
  ``sops -d`` (age key) and ``ansible-vault decrypt`` of the same values, alternately;
* ansible's ``VaultLib.decrypt`` in-process too, for the in-process comparison.

sops and ansible-vault come from the benchmark virtual environment (see run_all.py). The
age key is generated here (X25519 + Bech32, with ``cryptography``), so no ``age-keygen``
is needed. Run alone: ``python benchmarks/bench_unlock.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from _common import (
    BENCH_VENV,
    PYTHON,
    Row,
    Timing,
    alternate,
    base_env,
    make_vault,
    run_timed,
    secret_values,
    status_line,
)

SIZES = (10, 1_000, 10_000)
WORKER = Path(__file__).with_name("_unlock_worker.py")
IN_PROCESS_REPEAT = 7

_ANSIBLE_IN_PROCESS = """
import json, sys, time
start = time.process_time()
from ansible.parsing.vault import VaultLib, VaultSecret
data = open(sys.argv[1], "rb").read()
lib = VaultLib([("default", VaultSecret(open(sys.argv[2], "rb").read().strip()))])
lib.decrypt(data)
cold = time.process_time() - start
warm = []
for _ in range(int(sys.argv[3])):
    start = time.process_time()
    lib.decrypt(data)
    warm.append(time.process_time() - start)
print(json.dumps({"cold": cold, "warm": warm}))
"""

# -- an age key without age-keygen: X25519, written in Bech32 (BIP 173) ---------------------

_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for bit in range(5):
            if (top >> bit) & 1:
                check ^= generator[bit]
    return check


def bech32(hrp: str, data: bytes) -> str:
    bits = "".join(f"{byte:08b}" for byte in data)
    bits += "0" * (-len(bits) % 5)
    words = [int(bits[i : i + 5], 2) for i in range(0, len(bits), 5)]
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _polymod(expanded + words + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[w] for w in words + checksum)


def age_keypair() -> tuple[str, str]:
    """(AGE-SECRET-KEY-1..., age1...) of a new X25519 identity."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    private = X25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return bech32("age-secret-key-", raw).upper(), bech32("age", public)


# -- the contestants ---------------------------------------------------------------------------


class Contest:
    """One size: the same values in our vault, a sops file and an ansible vault."""

    def __init__(self, root: Path, size: int) -> None:
        self.size = size
        self.folder = root / f"unlock_{size}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.values = secret_values(size, seed=size)
        self.vault = self.folder / "secrets.vault.toml"
        self.key = make_vault(self.vault, self.values)
        self.env = base_env(PYTEST_VAULT_KEY=self.key)
        self.sops = BENCH_VENV / "bin" / "sops"
        self.ansible = BENCH_VENV / "bin" / "ansible-vault"
        self.notes: list[str] = []
        self.sops_ready = self._prepare_sops()
        self.ansible_ready = self._prepare_ansible()

    def _prepare_sops(self) -> bool:
        if not self.sops.exists():
            self.notes.append(f"sops not installed ({self.sops} missing)")
            return False
        secret, recipient = age_keypair()
        plain = self.folder / "plain.json"
        plain.write_text(json.dumps(self.values), encoding="utf-8")
        self.sops_file = self.folder / "secrets.sops.json"
        self.sops_env = base_env(SOPS_AGE_KEY=secret)
        _, done = run_timed(
            [
                str(self.sops),
                "encrypt",
                "--age",
                recipient,
                "--input-type",
                "json",
                "--output-type",
                "json",
                str(plain),
            ],
            cwd=self.folder,
            env=self.sops_env,
            capture=True,
        )
        self.sops_file.write_bytes(done.stdout)
        plain.unlink()
        check = self._sops_decrypt(capture=True)
        if json.loads(check) != self.values:
            raise RuntimeError("sops did not give back the same values")
        return True

    def _sops_decrypt(self, capture: bool = False) -> bytes:
        _, done = run_timed(
            [
                str(self.sops),
                "decrypt",
                "--input-type",
                "json",
                "--output-type",
                "json",
                str(self.sops_file),
            ],
            cwd=self.folder,
            env=self.sops_env,
            capture=capture,
        )
        return done.stdout or b""

    def _prepare_ansible(self) -> bool:
        if not self.ansible.exists():
            self.notes.append(f"ansible-vault not installed ({self.ansible} missing)")
            return False
        self.password = self.folder / "ansible-password"
        self.password.write_text("correct horse battery staple\n", encoding="utf-8")
        self.ansible_file = self.folder / "secrets.ansible.yml"
        self.ansible_file.write_text(
            "".join(f"{name}: {value!r}\n" for name, value in self.values.items()), "utf-8"
        )
        home = self.folder / "ansible-home"
        home.mkdir(exist_ok=True)
        self.ansible_env = base_env(HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"))
        run_timed(
            [
                str(self.ansible),
                "encrypt",
                "--vault-password-file",
                str(self.password),
                str(self.ansible_file),
            ],
            cwd=self.folder,
            env=self.ansible_env,
        )
        return True

    # Each returns a Timing of one run.

    def ours(self) -> Timing:
        timing, _ = run_timed([PYTHON, str(WORKER), str(self.vault)], cwd=self.folder, env=self.env)
        return timing

    def sops_run(self) -> Timing:
        timing, _ = run_timed(
            [
                str(self.sops),
                "decrypt",
                "--input-type",
                "json",
                "--output-type",
                "json",
                str(self.sops_file),
            ],
            cwd=self.folder,
            env=self.sops_env,
        )
        return timing

    def ansible_run(self) -> Timing:
        timing, _ = run_timed(
            [
                str(self.ansible),
                "decrypt",
                "--vault-password-file",
                str(self.password),
                "--output",
                "-",
                str(self.ansible_file),
            ],
            cwd=self.folder,
            env=self.ansible_env,
        )
        return timing

    def ours_in_process(self) -> tuple[float, float, float]:
        """CPU seconds of the first unlock (imports and building the masker included), of
        the masker's build alone, and of a warm unlock (the least of IN_PROCESS_REPEAT:
        noise on a busy machine only ever adds)."""
        _, done = run_timed(
            [PYTHON, str(WORKER), str(self.vault), str(IN_PROCESS_REPEAT)],
            cwd=self.folder,
            env={**self.env, "BENCH_EXPECTED": str(self.size)},
            capture=True,
        )
        times = json.loads(done.stdout)
        return times["cold"], times["masker"], min(times["warm"])

    def ansible_in_process(self) -> tuple[float, float] | None:
        if not self.ansible_ready:
            return None
        python = BENCH_VENV / "bin" / "python"
        _, done = run_timed(
            [
                str(python),
                "-c",
                _ANSIBLE_IN_PROCESS,
                str(self.ansible_file),
                str(self.password),
                str(IN_PROCESS_REPEAT),
            ],
            cwd=self.folder,
            env=self.ansible_env,
            capture=True,
        )
        times = json.loads(done.stdout)
        return times["cold"], min(times["warm"])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def _ratios(ours: float, others: dict[str, float]) -> tuple[str, bool | None]:
    if not others:
        return "n/a", None
    text = " / ".join(f"{ours / theirs:.2f}" for theirs in others.values())
    return text, all(ours < theirs for theirs in others.values())


UNLOCK_RUNS = 5
"""Runs per side at most (sops needs seconds for 10,000 values)."""


def rows(root: Path, runs: int) -> list[Row]:
    runs = min(runs, UNLOCK_RUNS)
    result: list[Row] = []
    warm_of: dict[int, float] = {}
    for size in SIZES:
        status_line(f"figure 3: unlock {size:,} secrets (ours, sops -d, ansible-vault decrypt)")
        contest = Contest(root, size)
        sides = [("pytest-vault", contest.ours)]
        if contest.sops_ready:
            sides.append(("sops -d", contest.sops_run))
        if contest.ansible_ready:
            sides.append(("ansible-vault decrypt", contest.ansible_run))
        samples = {s.label: s for s in alternate(sides, runs)}
        ours = samples.pop("pytest-vault")
        cold, masker, warm = contest.ours_in_process()
        warm_of[size] = warm
        ansible = contest.ansible_in_process()
        others = {label: other.cpu for label, other in samples.items()}
        against = " / ".join(others) or "nothing (tools missing)"
        tools = "; ".join(
            f"{label} {_ms(other.cpu)} CPU, {_ms(other.wall)} wall"
            for label, other in samples.items()
        )
        missing = f"; {'; '.join(contest.notes)}" if contest.notes else ""
        measured, ok = _ratios(cold, others)
        result.append(
            Row(
                f"3. {size:,} secrets: unlock in a test run / {against}",
                measured,
                "< 1 each",
                ok,
                f"first unlock in-process {_ms(cold)} CPU (imports of cryptography and the "
                f"vault modules and building the masker, {_ms(masker)}, included; "
                f"{_ms(warm)} warm, without the masker) vs one {tools}"
                + (
                    f"; ansible's VaultLib in-process: {_ms(ansible[0])} first, "
                    f"{_ms(ansible[1])} warm"
                    if ansible is not None
                    else ""
                )
                + missing,
            )
        )
        measured, ok = _ratios(ours.cpu, others)
        result.append(
            Row(
                f"3. {size:,} secrets: fresh process / {against}",
                measured,
                "< 1 each",
                ok,
                f"python _unlock_worker.py {_ms(ours.cpu)} CPU, {_ms(ours.wall)} wall "
                f"(medians of {runs} alternating runs with the tools)",
            )
        )
    growth = warm_of[SIZES[-1]] / warm_of[SIZES[-2]]
    result.append(
        Row(
            "3. growth of a warm unlock, 1,000 -> 10,000 secrets",
            f"x {growth:.1f}",
            "<= x 10 (linear; x 12 allowed for noise)",
            growth <= 12,  # 10 and a margin for noise; less is fixed costs amortised
            "CPU per secret: "
            + ", ".join(f"{size:,}: {warm_of[size] / size * 1e6:.1f} µs" for size in SIZES),
        )
    )
    return result


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pytest-vault-bench-") as folder:
        for row in rows(Path(folder), int(sys.argv[1]) if len(sys.argv) > 1 else 5):
            print(
                f"{row.figure}: {row.measured} (goal {row.goal}: {row.verdict})\n    {row.detail}"
            )
