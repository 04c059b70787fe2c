"""The two JUnit fixtures that write into the XML file directly, masked."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_vault.state import get_state


class JunitRecordMasks:
    """Overrides of the two JUnit fixtures that write into the XML file directly.

    ``record_xml_attribute`` and ``record_testsuite_property`` bypass the reports (unlike
    ``record_property``), so the values are masked before pytest's fixtures store them.
    Registered after pytest's own ``junitxml`` plugin, these definitions win and call it.
    (Class methods: pytest deprecates session-scoped fixtures that are instance methods.)
    """

    @staticmethod
    def masked(
        config: pytest.Config, record: Callable[[str, object], None]
    ) -> Callable[[str, object], None]:
        state = get_state(config)

        def masked_record(name: str, value: object) -> None:
            masker = state.masker
            if masker:
                name = masker.mask(name) if isinstance(name, str) else name
                value = masker.mask(value if isinstance(value, str) else str(value))
            record(name, value)

        return masked_record

    @pytest.fixture
    @classmethod
    def record_xml_attribute(
        cls, request: pytest.FixtureRequest, record_xml_attribute: Callable[[str, object], None]
    ) -> Callable[[str, object], None]:
        """pytest's ``record_xml_attribute``, with secret values masked."""
        return cls.masked(request.config, record_xml_attribute)

    @pytest.fixture(scope="session")
    @classmethod
    def record_testsuite_property(
        cls,
        request: pytest.FixtureRequest,
        record_testsuite_property: Callable[[str, object], None],
    ) -> Callable[[str, object], None]:
        """pytest's ``record_testsuite_property``, with secret values masked."""
        return cls.masked(request.config, record_testsuite_property)
