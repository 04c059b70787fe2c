"""A `keyflows.Prompter` that plays a script: fast, in-process tests of the human flows."""

from __future__ import annotations

from collections.abc import Iterable


class ScriptedPrompter:
    """Answers from a list, in order; records everything said and asked.

    An answer of ``None`` to ``ask_hidden`` is the end of input (Ctrl-D). Asking more than
    the script holds, or asking at all when not ``interactive``, fails the test.
    """

    def __init__(self, answers: Iterable[str | bool | None] = (), *, interactive: bool = True):
        self.answers = list(answers)
        self.interactive = interactive
        self.said: list[str] = []
        self.asked: list[str] = []

    def say(self, text: str) -> None:
        self.said.append(text)

    def _next(self, question: str) -> str | bool | None:
        assert self.interactive, f"asked {question!r} without a terminal"
        assert self.answers, f"asked {question!r} beyond the script"
        self.asked.append(question)
        return self.answers.pop(0)

    def ask_hidden(self, prompt: str) -> str:
        answer = self._next(prompt)
        if answer is None:
            raise EOFError
        assert isinstance(answer, str)
        return answer

    def ask_yes_no(self, question: str, *, default: bool) -> bool:
        answer = self._next(f"{question} {'[Y/n]' if default else '[y/N]'}")
        return default if answer is None else bool(answer)

    @property
    def text(self) -> str:
        """Everything said and asked, as one transcript."""
        return "\n".join(self.said + self.asked)
