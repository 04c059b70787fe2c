"""The git drivers with the real git: git-setup, merges, rebases, cherry-picks and diffs.

Every merge here is `git merge` / `git rebase` / `git cherry-pick` running the console
script as its merge driver, in a temporary repository set up by `pytest-vault git-setup`.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from gitrepo import GitRepo

from pytest_vault.key import VaultKey
from pytest_vault.vaultfile import VaultFile

if TYPE_CHECKING:
    from projects import ThrowawayKeyring
    from pty_session import Terminal

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

BASE_TOKEN = "base-token-5f2c9e81d7a4"


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.create(tmp_path / "repo")


@pytest.fixture
def key(repo: GitRepo) -> str:
    """A vault on main holding API_TOKEN, with the drivers configured."""
    key = repo.init()
    repo.set(key, "API_TOKEN", BASE_TOKEN)
    repo.commit("base secret")
    return key


def branch_and_main(
    repo: GitRepo, feature: dict[str, str | None], main: dict[str, str | None], key: str
) -> None:
    """Commit ``feature``'s changes on a branch and ``main``'s on main (None removes)."""
    for branch, changes in (("feature", feature), ("main", main)):
        if branch == "feature":
            repo.git("checkout", "-q", "-b", "feature")
        else:
            repo.git("checkout", "-q", "main")
        for name, value in changes.items():
            if value is None:
                repo.ok("rm", name)
            else:
                repo.set(key, name, value)
        repo.commit(f"{branch} changes")


def conflict_blocks(text: str) -> list[str]:
    return re.findall(r"(?ms)^<<<<<<< ours\n.*?^>>>>>>> theirs\n", text)


def assert_no_secret(output: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in output


# -- git-setup --------------------------------------------------------------------------------


def test_git_setup_writes_the_attributes_line_and_the_drivers_once(repo: GitRepo) -> None:
    repo.ok("init", "--no-keyring")
    repo.ok("git-setup")
    again = repo.ok("git-setup")
    attributes = (repo.root / ".gitattributes").read_text(encoding="utf-8")
    assert attributes == "secrets.vault.toml merge=pytest-vault diff=pytest-vault\n"
    assert "already marks" in again.stderr
    config = repo.git("config", "--get-regexp", "pytest-vault").stdout
    assert (
        "merge.pytest-vault.driver pytest-vault merge --marker-size=%L --path=%P %O %A %B" in config
    )
    assert "diff.pytest-vault.textconv pytest-vault textconv" in config
    check = repo.git("check-attr", "merge", "diff", "--", "secrets.vault.toml").stdout
    assert check.count(": pytest-vault") == 2


def test_git_setup_uses_the_vault_path_relative_to_the_repository(repo: GitRepo) -> None:
    (repo.root / "pytest.ini").write_text("[pytest]\nvault_file = ci/my vault.toml\n", "utf-8")
    (repo.root / "ci").mkdir()
    (repo.root / ".gitattributes").write_text("*.png binary", encoding="utf-8")
    repo.ok("init", "--no-keyring")
    repo.ok("git-setup")
    lines = (repo.root / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "*.png binary"
    assert lines[1].endswith(" merge=pytest-vault diff=pytest-vault")
    check = repo.git("check-attr", "merge", "--", "ci/my vault.toml").stdout
    assert check.strip().endswith("merge: pytest-vault")


def test_git_setup_in_a_worktree_configures_the_shared_repository(repo: GitRepo, key: str) -> None:
    repo.git("worktree", "add", "-q", str(repo.root.parent / "wt"), "-b", "other")
    worktree = GitRepo(repo.root.parent / "wt", repo.env)
    worktree.ok("git-setup")
    assert "pytest-vault merge" in worktree.git("config", "merge.pytest-vault.driver").stdout


def test_git_setup_outside_a_repository_is_a_plain_error(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    repo = GitRepo(folder, GitRepo.create(tmp_path / "unused").env)
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    done = repo.cli("git-setup")
    assert done.returncode == 2
    assert "not inside a git repository" in done.stderr
    assert "Traceback" not in done.output


def test_init_without_a_terminal_says_how_to_set_git_up(repo: GitRepo) -> None:
    done = repo.ok("init", "--no-keyring")
    assert "pytest-vault git-setup" in done.stderr
    assert not (repo.root / ".gitattributes").exists()


# -- merges -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours_name", "theirs_name"),
    [("CACHE_USER", "CACHE_URL"), ("AAA_FIRST", "ZZZ_LAST")],
    ids=["neighbouring", "far-apart"],
)
def test_different_secrets_on_each_side_merge_cleanly(
    repo: GitRepo, key: str, ours_name: str, theirs_name: str
) -> None:
    branch_and_main(
        repo, {theirs_name: "theirs-value-0a1b2c"}, {ours_name: "ours-value-3d4e5f"}, key
    )
    merged = repo.git("merge", "--no-edit", "feature", check=False)
    assert merged.returncode == 0, merged.output
    assert repo.names() == sorted(["API_TOKEN", ours_name, theirs_name])
    assert repo.get(theirs_name, [key]) == "theirs-value-0a1b2c"
    assert repo.get(ours_name, [key]) == "ours-value-3d4e5f"
    assert repo.get("API_TOKEN", [key]) == BASE_TOKEN
    repo.ok("check", keys=[key])


def test_without_the_driver_neighbouring_names_conflict(repo: GitRepo, key: str) -> None:
    """The control: the same merge conflicts line by line, so the driver is what merges it."""
    (repo.root / ".gitattributes").write_text("", encoding="utf-8")
    repo.commit("no drivers", ".gitattributes")
    branch_and_main(
        repo, {"CACHE_URL": "theirs-value-0a1b2c"}, {"CACHE_USER": "ours-value-3d4e5f"}, key
    )
    assert repo.git("merge", "--no-edit", "feature", check=False).returncode == 1


def test_a_secret_removed_on_one_side_is_removed(repo: GitRepo, key: str) -> None:
    repo.set(key, "OLD_TOKEN", "old-token-value-77aa")
    repo.commit("old token")
    branch_and_main(repo, {"OLD_TOKEN": None}, {"NEW_TOKEN": "new-token-value-88bb"}, key)
    assert repo.git("merge", "--no-edit", "feature", check=False).returncode == 0
    assert repo.names() == ["API_TOKEN", "NEW_TOKEN"]
    assert repo.get("NEW_TOKEN", [key]) == "new-token-value-88bb"


def test_the_same_secret_changed_on_both_sides_is_a_conflict_naming_it(
    repo: GitRepo, key: str
) -> None:
    branch_and_main(
        repo,
        {"API_TOKEN": "theirs-token-aaaa1111", "CACHE_URL": "cache-url-theirs-22"},
        {"API_TOKEN": "ours-token-bbbb2222", "ZZZ_OURS": "zzz-ours-value-33"},
        key,
    )
    merged = repo.git("merge", "--no-edit", "feature", check=False)
    assert merged.returncode == 1
    assert "API_TOKEN" in merged.output
    assert "left in conflict" in merged.output
    text = repo.vault.read_text(encoding="utf-8")
    blocks = conflict_blocks(text)
    assert len(blocks) == 1
    assert [line.split(" = ")[0] for line in blocks[0].splitlines()[1:-1] if " = " in line] == [
        "API_TOKEN",
        "API_TOKEN",
    ]
    outside = text.replace(blocks[0], "")
    assert "CACHE_URL = " in outside
    assert "ZZZ_OURS = " in outside
    check = repo.cli("check", keys=[key])
    assert check.returncode == 1
    assert re.search(
        r"Line \d+: unresolved merge conflict markers around the secret\(s\) API_TOKEN",
        check.stderr,
    )
    assert "run `pytest-vault merge`" in check.stderr
    # Keeping either line gives a complete vault.
    ours_line = blocks[0].splitlines()[1]
    repo.vault.write_text(text.replace(blocks[0], ours_line + "\n"), encoding="utf-8")
    repo.ok("check", keys=[key])
    assert repo.get("API_TOKEN", [key]) == "ours-token-bbbb2222"
    assert repo.get("CACHE_URL", [key]) == "cache-url-theirs-22"
    assert repo.get("ZZZ_OURS", [key]) == "zzz-ours-value-33"
    assert_no_secret(
        merged.output + check.output, "theirs-token-aaaa1111", "ours-token-bbbb2222", key
    )


def test_the_same_value_stored_on_both_sides_is_not_a_conflict(repo: GitRepo, key: str) -> None:
    branch_and_main(
        repo, {"API_TOKEN": "same-new-value-9911"}, {"API_TOKEN": "same-new-value-9911"}, key
    )
    assert repo.git("merge", "--no-edit", "feature", keys=[key], check=False).returncode == 0
    assert repo.get("API_TOKEN", [key]) == "same-new-value-9911"


def test_conflict_markers_honour_gits_marker_size(repo: GitRepo, key: str) -> None:
    (repo.root / ".gitattributes").write_text(
        "secrets.vault.toml merge=pytest-vault diff=pytest-vault conflict-marker-size=12\n",
        encoding="utf-8",
    )
    repo.commit("markers", ".gitattributes")
    branch_and_main(
        repo, {"API_TOKEN": "theirs-token-aaaa1111"}, {"API_TOKEN": "ours-token-bbbb2222"}, key
    )
    assert repo.git("merge", "--no-edit", "feature", check=False).returncode == 1
    text = repo.vault.read_text(encoding="utf-8")
    assert "<" * 12 + " ours\n" in text
    assert "\n" + "=" * 12 + "\n" in text


NEW_VALUE = "new-secret-value-4455"


def branch_adds_a_secret(repo: GitRepo, key: str) -> None:
    """Branch `feature` adds NEW_SECRET (value `NEW_VALUE`); back on main."""
    repo.git("checkout", "-q", "-b", "feature")
    repo.set(key, "NEW_SECRET", NEW_VALUE)
    repo.commit("feature adds")
    repo.git("checkout", "-q", "main")


def rotate(repo: GitRepo, key: str) -> str:
    new_key = repo.ok("rotate", "--no-keyring", keys=[key]).stdout.strip()
    assert new_key
    assert new_key != key
    return new_key


def test_a_rotation_merges_with_additions_when_both_keys_are_found(repo: GitRepo, key: str) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    repo.set(key, "NEW_SECRET", "new-secret-value-4455")
    repo.set(key, "API_TOKEN", "changed-token-6677")
    repo.commit("feature adds and changes")
    repo.git("checkout", "-q", "main")
    new_key = rotate(repo, key)
    repo.commit("rotate")
    merged = repo.git("merge", "--no-edit", "feature", keys=[key, new_key], check=False)
    assert merged.returncode == 0, merged.output
    assert repo.key_id() in merged.output  # says the result is under the new key
    assert repo.get("NEW_SECRET", [new_key]) == "new-secret-value-4455"
    assert repo.get("API_TOKEN", [new_key]) == "changed-token-6677"
    check = repo.ok("check", keys=[new_key])  # nothing left under the retired key
    assert "Every value decrypts" in check.stderr
    assert_no_secret(merged.output, key, new_key, "new-secret-value-4455", "changed-token-6677")


def test_a_rotation_merge_names_the_missing_key_and_loses_nothing(repo: GitRepo, key: str) -> None:
    branch_adds_a_secret(repo, key)
    old_key_id = repo.key_id()
    new_key = rotate(repo, key)
    repo.commit("rotate")
    merged = repo.git("merge", "--no-edit", "feature", keys=[new_key], check=False)
    assert merged.returncode == 1
    assert old_key_id in merged.output
    assert "NEW_SECRET" in merged.output
    text = repo.vault.read_text(encoding="utf-8")
    (block,) = conflict_blocks(text)
    assert "NEW_SECRET = " in block
    assert "API_TOKEN = " in text.replace(block, "")  # merged under the new key
    # With the old key at hand, merging the file again resolves it.
    again = repo.git("checkout", "-m", "--", "secrets.vault.toml", keys=[key, new_key], check=False)
    assert again.returncode == 0, again.output
    assert not conflict_blocks(repo.vault.read_text(encoding="utf-8"))
    assert repo.get("NEW_SECRET", [new_key]) == "new-secret-value-4455"
    repo.ok("check", keys=[new_key])


def test_a_hand_resolved_rotation_conflict_is_found_by_check_and_fixed_by_repair(
    repo: GitRepo, key: str
) -> None:
    branch_adds_a_secret(repo, key)
    old_key_id = repo.key_id()
    new_key = rotate(repo, key)
    repo.commit("rotate")
    repo.git("merge", "--no-edit", "feature", keys=[new_key], check=False)
    text = repo.vault.read_text(encoding="utf-8")
    (block,) = conflict_blocks(text)
    ours_line = next(line for line in block.splitlines() if line.startswith("NEW_SECRET"))
    repo.vault.write_text(text.replace(block, ours_line + "\n"), encoding="utf-8")
    only_new = repo.cli("check", keys=[new_key])
    assert only_new.returncode == 1  # does not decrypt; the old key is not at hand
    assert "NEW_SECRET" in only_new.stderr
    only_old = repo.cli("check", keys=[key])  # the old key alone: the line is under it
    assert only_old.returncode == 1
    assert "NEW_SECRET is still encrypted under the retired key" in only_old.stderr
    assert "pytest-vault repair" in only_old.stderr
    # Without the retired key, repair says which key ids it needs and changes nothing.
    before = repo.vault.read_bytes()
    unrepaired = repo.cli("repair", keys=[new_key])
    assert unrepaired.returncode == 1
    assert old_key_id in unrepaired.stderr
    assert "NEW_SECRET" in unrepaired.stderr
    assert repo.vault.read_bytes() == before
    repaired = repo.ok("repair", keys=[new_key, key])
    assert "Re-encrypted NEW_SECRET" in repaired.stderr
    repo.ok("check", keys=[new_key])
    assert repo.get("NEW_SECRET", [new_key]) == NEW_VALUE
    outputs = only_new.output + only_old.output + unrepaired.output + repaired.output
    assert_no_secret(outputs, key, new_key, NEW_VALUE)


def test_a_reset_on_one_side_keeps_the_others_new_secrets_when_both_keys_are_found(
    repo: GitRepo, key: str
) -> None:
    branch_adds_a_secret(repo, key)
    new_key = repo.ok("reset", "--yes", "--no-keyring").stdout.strip()
    repo.commit("reset")
    merged = repo.git("merge", "--no-edit", "feature", keys=[key, new_key], check=False)
    assert merged.returncode == 0, merged.output
    assert "reset the vault" in merged.output
    assert repo.names() == ["NEW_SECRET"]  # the reset deleted API_TOKEN; the new one stays
    assert repo.get("NEW_SECRET", [new_key]) == "new-secret-value-4455"
    repo.ok("check", keys=[new_key])


def test_a_reset_on_one_side_without_the_old_key_is_a_conflict_naming_the_reset(
    repo: GitRepo, key: str
) -> None:
    branch_adds_a_secret(repo, key)
    old_key_id = repo.key_id()
    new_key = repo.ok("reset", "--yes", "--no-keyring").stdout.strip()
    repo.set(new_key, "AFTER_RESET", "after-reset-value-66")
    repo.commit("reset")
    merged = repo.git("merge", "--no-edit", "feature", keys=[new_key], check=False)
    assert merged.returncode == 1
    assert "reset the vault" in merged.output
    assert old_key_id in merged.output
    text = repo.vault.read_text(encoding="utf-8")
    (block,) = conflict_blocks(text)
    assert "NEW_SECRET = " in block
    # Taking theirs... here "ours" is main (the reset): keep main's side of the block.
    repo.vault.write_text(text.replace(block, ""), encoding="utf-8")
    assert repo.names() == ["AFTER_RESET"]
    repo.ok("check", keys=[new_key])


def test_rebase_and_cherry_pick_use_the_driver(repo: GitRepo, key: str) -> None:
    branch_and_main(
        repo, {"CACHE_URL": "theirs-value-0a1b2c"}, {"CACHE_USER": "ours-value-3d4e5f"}, key
    )
    repo.git("checkout", "-q", "feature")
    rebased = repo.git("rebase", "main", check=False)
    assert rebased.returncode == 0, rebased.output
    assert repo.names() == ["API_TOKEN", "CACHE_URL", "CACHE_USER"]
    repo.git("checkout", "-q", "-b", "picker", "main~1")
    repo.set(key, "PICKER_ONLY", "picker-value-5566")
    repo.commit("picker")
    picked = repo.git("cherry-pick", "feature", check=False)
    assert picked.returncode == 0, picked.output
    assert repo.names() == ["API_TOKEN", "CACHE_URL", "PICKER_ONLY"]
    assert repo.get("CACHE_URL", [key]) == "theirs-value-0a1b2c"


def test_a_rebase_over_a_rotation_re_encrypts_the_rebased_secrets(repo: GitRepo, key: str) -> None:
    branch_adds_a_secret(repo, key)
    new_key = rotate(repo, key)
    repo.commit("rotate")
    repo.git("checkout", "-q", "feature")
    rebased = repo.git("rebase", "main", keys=[key, new_key], check=False)
    assert rebased.returncode == 0, rebased.output
    assert repo.get("NEW_SECRET", [new_key]) == "new-secret-value-4455"
    repo.ok("check", keys=[new_key])


def test_an_invalid_side_is_merged_line_by_line(repo: GitRepo, key: str) -> None:
    base, ours, theirs = (repo.root / n for n in ("b.toml", "o.toml", "t.toml"))
    text = repo.vault.read_text(encoding="utf-8")
    base.write_text(text, encoding="utf-8")
    ours.write_text(text + "garbage\n", encoding="utf-8")
    theirs.write_text(text, encoding="utf-8")
    done = repo.cli("merge", str(base), str(ours), str(theirs))
    assert done.returncode == 0
    assert "merged line by line" in done.stderr
    assert ours.read_text(encoding="utf-8") == text + "garbage\n"


# -- textconv ---------------------------------------------------------------------------------


def test_git_diff_and_log_show_names_and_fingerprints_never_values(repo: GitRepo, key: str) -> None:
    repo.set(key, "CACHE_URL", "redis://user:cache-pw-123@host")
    repo.commit("cache")
    repo.set(key, "API_TOKEN", "second-token-value-8899")
    diff = repo.git("diff", keys=[key]).stdout
    assert re.search(r"(?m)^-API_TOKEN = fp:[0-9a-f]{12}$", diff)
    assert re.search(r"(?m)^\+API_TOKEN = fp:[0-9a-f]{12}$", diff)
    assert "CACHE_URL" not in diff.replace(" CACHE_URL = fp:", "")  # unchanged: context only
    repo.commit("change")
    log = repo.git("log", "-p", keys=[key]).stdout
    show = repo.git("show", "HEAD", keys=[key]).stdout
    for output in (diff, log, show):
        assert_no_secret(output, key, BASE_TOKEN, "second-token-value-8899", "cache-pw-123")
    assert "key_id = k_" in log


def test_a_rotation_diff_shows_only_the_header_changing(repo: GitRepo, key: str) -> None:
    new_key = rotate(repo, key)
    diff = repo.git("diff", keys=[key, new_key]).stdout
    changed = [
        line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed, diff
    assert all(line[1:].startswith(("key_id = ", "retired_key_ids = ")) for line in changed), (
        changed
    )
    assert_no_secret(diff, key, new_key, BASE_TOKEN)


def test_textconv_without_a_key_shows_names_and_the_header(repo: GitRepo, key: str) -> None:
    shown = repo.ok("textconv", "secrets.vault.toml").stdout
    assert f"key_id = {repo.key_id()}" in shown
    assert re.search(r"(?m)^API_TOKEN = sealed:[0-9a-f]{12}$", shown)
    assert "no key" in shown
    with_key = repo.ok("textconv", "secrets.vault.toml", keys=[key]).stdout
    assert re.search(r"(?m)^API_TOKEN = fp:[0-9a-f]{12}$", with_key)
    assert_no_secret(shown + with_key, key, BASE_TOKEN)


def test_the_fingerprint_key_is_private_to_the_clone(repo: GitRepo, key: str) -> None:
    first = repo.ok("textconv", "secrets.vault.toml", keys=[key]).stdout
    key_file = repo.root / ".git" / "pytest-vault" / "fingerprint.key"
    assert key_file.stat().st_mode & 0o077 == 0
    assert repo.ok("textconv", "secrets.vault.toml", keys=[key]).stdout == first
    key_file.unlink()
    assert repo.ok("textconv", "secrets.vault.toml", keys=[key]).stdout != first


def test_textconv_of_a_conflicted_file_shows_no_values(repo: GitRepo, key: str) -> None:
    text = repo.vault.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("API_TOKEN"))
    broken = text.replace(
        line, f'<<<<<<< ours\n{line}\n=======\nAPI_TOKEN = "plain {BASE_TOKEN}"\n>>>>>>> theirs'
    )
    repo.vault.write_text(broken, encoding="utf-8")
    shown = repo.ok("textconv", "secrets.vault.toml", keys=[key]).stdout
    assert "not a valid vault file" in shown
    assert "<<<<<<< ours" in shown
    assert "API_TOKEN = sealed:" in shown
    assert_no_secret(shown, BASE_TOKEN, key)


# -- check: duplicates and markers, found leniently ------------------------------------------


def test_check_names_a_duplicated_secret_with_its_lines(repo: GitRepo, key: str) -> None:
    text = repo.vault.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("API_TOKEN"))
    repo.vault.write_text(text + line + "\n", encoding="utf-8")
    numbers = [i for i, x in enumerate(repo.vault.read_text().splitlines(), 1) if x == line]
    done = repo.cli("check", keys=[key])
    assert done.returncode == 1
    assert f"API_TOKEN is defined 2 times (lines {numbers[0]}, {numbers[1]})" in done.stderr
    assert "restore it from version control" not in done.stderr
    assert "Traceback" not in done.output


def test_check_advice_outside_a_merge_keeps_every_secrets_line(repo: GitRepo, key: str) -> None:
    text = repo.vault.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("API_TOKEN"))
    other = line.replace("API_TOKEN", "CACHE_URL")
    repo.vault.write_text(
        text.replace(line, f"<<<<<<< HEAD\n{line}\n=======\n{other}\n>>>>>>> feature"),
        encoding="utf-8",
    )
    done = repo.cli("check")
    assert done.returncode == 1
    assert "conflict markers around the secret(s) API_TOKEN, CACHE_URL" in done.stderr
    assert "lines of different secrets all stay" in done.stderr
    assert "pytest-vault merge" not in done.stderr


def test_both_sides_rotating_without_the_keys_is_a_whole_file_conflict(
    repo: GitRepo, key: str
) -> None:
    repo.git("checkout", "-q", "-b", "feature")
    theirs_key = rotate(repo, key)
    repo.commit("feature rotates")
    repo.git("checkout", "-q", "main")
    ours_key = rotate(repo, key)
    repo.commit("main rotates")
    merged = repo.git("merge", "--no-edit", "feature", keys=[ours_key], check=False)
    assert merged.returncode == 1
    assert "Both sides changed the key" in merged.output
    text = repo.vault.read_text(encoding="utf-8")
    assert text.startswith("<<<<<<< ours\n")
    assert text.endswith(">>>>>>> theirs\n")
    # With every key, the merge keeps ours' key and retires theirs.
    again = repo.git(
        "checkout", "-m", "--", "secrets.vault.toml", keys=[key, ours_key, theirs_key], check=False
    )
    assert again.returncode == 0, again.output
    assert repo.get("API_TOKEN", [ours_key]) == BASE_TOKEN
    retired = set(VaultFile.load(repo.vault).header.retired_key_ids)
    assert retired == {VaultKey.parse(k).key_id for k in (key, theirs_key)}


def test_merge_finds_old_and_new_keys_in_one_key_file(repo: GitRepo, key: str) -> None:
    branch_adds_a_secret(repo, key)
    new_key = rotate(repo, key)
    repo.commit("rotate")
    key_file = repo.root.parent / "keys.txt"
    key_file.write_text(f"# old and new\n{key}\n{new_key}\n", encoding="utf-8")
    repo.git(
        "config", "merge.pytest-vault.driver", f"pytest-vault --key-file {key_file} merge %O %A %B"
    )
    merged = repo.git("merge", "--no-edit", "feature", check=False)
    assert merged.returncode == 0, merged.output
    assert repo.get("NEW_SECRET", [new_key]) == "new-secret-value-4455"


def test_merge_finds_the_old_key_in_the_keyring_by_its_id(
    repo: GitRepo, key: str, test_keyring: ThrowawayKeyring
) -> None:
    branch_adds_a_secret(repo, key)
    test_keyring.put(repo.key_id(), key)
    new_key = rotate(repo, key)
    repo.commit("rotate")
    merged = repo.git("merge", "--no-edit", "feature", keys=[new_key], check=False)
    assert merged.returncode == 0, merged.output
    assert repo.get("NEW_SECRET", [new_key]) == "new-secret-value-4455"


def test_merge_without_files_settles_the_conflicts_git_is_merging(repo: GitRepo, key: str) -> None:
    branch_and_main(
        repo,
        {"API_TOKEN": "theirs-token-aaaa1111", "CACHE_URL": "cache-url-theirs-22"},
        {"API_TOKEN": "ours-token-bbbb2222", "ZZZ_OURS": "zzz-ours-value-33"},
        key,
    )
    assert repo.git("merge", "--no-edit", "feature", check=False).returncode == 1
    settled = repo.cli("merge", "--theirs")
    assert settled.returncode == 0, settled.output
    assert "Settled API_TOKEN with the theirs side's line" in settled.stderr
    assert repo.get("API_TOKEN", [key]) == "theirs-token-aaaa1111"
    assert repo.get("ZZZ_OURS", [key]) == "zzz-ours-value-33"  # ours' other change stays
    assert repo.get("CACHE_URL", [key]) == "cache-url-theirs-22"
    repo.git("add", "secrets.vault.toml")
    repo.git("commit", "-q", "--no-edit")
    assert repo.cli("merge").returncode == 2  # nothing being merged any more


def test_merge_without_files_re_runs_a_rotation_merge_once_the_key_is_found(
    repo: GitRepo, key: str
) -> None:
    branch_adds_a_secret(repo, key)
    new_key = rotate(repo, key)
    repo.commit("rotate")
    assert repo.git("merge", "--no-edit", "feature", keys=[new_key], check=False).returncode == 1
    refused = repo.cli("merge", "--theirs", keys=[new_key])
    assert refused.returncode == 1  # theirs' line is under the old key: never taken
    assert "under an old key" in refused.stderr
    done = repo.cli("merge", keys=[new_key, key])
    assert done.returncode == 0, done.output
    assert repo.get("NEW_SECRET", [new_key]) == "new-secret-value-4455"
    repo.ok("check", keys=[new_key])


# -- init offers git-setup on a terminal -----------------------------------------------------


def init_on_a_terminal(repo: GitRepo) -> Terminal:
    from pty_session import console_on_terminal

    return console_on_terminal(repo.root, "init", "--no-keyring", env=repo.env, width=80)


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a pty")
def test_init_on_a_terminal_offers_git_setup_default_yes(repo: GitRepo) -> None:
    term = init_on_a_terminal(repo)
    term.expect(r"Configure git to merge and diff secrets.vault.toml secret by secret\? \[Y/n\] ")
    term.send("")
    assert term.finish() == 0
    assert (
        (repo.root / ".gitattributes")
        .read_text(encoding="utf-8")
        .startswith("secrets.vault.toml merge=pytest-vault diff=pytest-vault")
    )
    assert (
        repo.git("config", "diff.pytest-vault.textconv").stdout.strip() == "pytest-vault textconv"
    )


@pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a pty")
def test_init_on_a_terminal_declined_says_how_to_set_git_up_later(repo: GitRepo) -> None:
    term = init_on_a_terminal(repo)
    term.expect(r"\[Y/n\] ")
    term.send("n")
    assert term.finish() == 0
    assert "Run `pytest-vault git-setup`" in term.text
    assert not (repo.root / ".gitattributes").exists()
    assert repo.git("config", "merge.pytest-vault.driver", check=False).returncode == 1


def test_check_with_only_the_old_key_in_the_keyring_finds_the_stale_line(
    repo: GitRepo, key: str, test_keyring: ThrowawayKeyring
) -> None:
    """The issue's case: whoever has only the old key used to see `check` pass."""
    branch_adds_a_secret(repo, key)
    old_key_id = repo.key_id()
    new_key = rotate(repo, key)
    repo.commit("rotate")
    repo.git("merge", "--no-edit", "feature", keys=[new_key], check=False)
    text = repo.vault.read_text(encoding="utf-8")
    (block,) = conflict_blocks(text)
    theirs_line = next(line for line in block.splitlines() if line.startswith("NEW_SECRET"))
    repo.vault.write_text(text.replace(block, theirs_line + "\n"), encoding="utf-8")
    test_keyring.put(old_key_id, key)
    done = repo.cli("check")
    assert done.returncode == 1
    assert f"NEW_SECRET is still encrypted under the retired key {old_key_id}" in done.stderr
    assert_no_secret(done.output, key, new_key, "new-secret-value-4455")
