"""The simulator calls the operator API with a token like any client (ADR 0036)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.simulator.cli import api_token


def test_given_then_environment_then_the_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "api-token"
    path.write_text("file.token\n")
    monkeypatch.setenv("CSMS_API_TOKEN_FILE", str(path))
    monkeypatch.delenv("CSMS_API_TOKEN", raising=False)
    assert api_token("given.token") == "given.token"
    assert api_token(None) == "file.token"
    monkeypatch.setenv("CSMS_API_TOKEN", "env.token")
    assert api_token(None) == "env.token"


def test_no_token_anywhere_is_a_clear_exit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_API_TOKEN_FILE", str(tmp_path / "absent"))
    monkeypatch.delenv("CSMS_API_TOKEN", raising=False)
    with pytest.raises(SystemExit, match="needs a token"):
        api_token(None)
