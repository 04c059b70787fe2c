"""An editor for tests of `pytest-vault edit`: `python scripted_editor.py [ARGS...] FILE`.

It follows a plan, a JSON list in the file named by ``EDIT_PLAN``: step N is what the
editor does the Nth time it is opened, with any of these keys, in this order:
``replace`` (a list of [old, new] pairs applied to the text), ``write`` (the new text),
``sleep`` (seconds, after printing "editing" to standard output), ``signal`` (kill itself
with that signal), ``exit`` (its exit status; default 0). Each opening is appended to the
JSON-lines log named by ``EDIT_LOG``: the path, its mode, its folder's mode, the text the
editor saw, and the arguments before the path.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

path = sys.argv[-1]
plan = json.loads(Path(os.environ["EDIT_PLAN"]).read_text(encoding="utf-8"))
log_path = Path(os.environ["EDIT_LOG"])
opened = len(log_path.read_text(encoding="utf-8").splitlines()) if log_path.exists() else 0
step = plan[opened] if opened < len(plan) else {}
with open(path, encoding="utf-8", newline="") as stream:
    text = stream.read()
with open(log_path, "a", encoding="utf-8") as log:
    entry = {
        "path": path,
        "mode": os.stat(path).st_mode & 0o777,
        "folder_mode": os.stat(os.path.dirname(path)).st_mode & 0o777,
        "text": text,
        "args": sys.argv[1:-1],
    }
    log.write(json.dumps(entry) + "\n")
for old, new in step.get("replace", []):
    assert old in text, f"the scripted editor did not find {old!r}"
    text = text.replace(old, new)
if "write" in step:
    text = step["write"]
if "replace" in step or "write" in step:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        stream.write(text)
if "sleep" in step:
    print("editing", flush=True)
    time.sleep(step["sleep"])
if "signal" in step:
    os.kill(os.getpid(), step["signal"])
    time.sleep(5)
sys.exit(step.get("exit", 0))
