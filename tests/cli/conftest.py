"""Run the ``rnnlab`` command in-process through its real entry point, ``main``."""

from __future__ import annotations

import pytest

from rnnlab.cli.main import main


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out[-500:]!r}, err={self.err[-500:]!r})"


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """``cli(*argv)`` runs ``main(argv)`` in ``tmp_path``; usage errors give their exit code.

    Any other exception propagates and fails the test: that is what a traceback would be.
    """
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> Result:
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err + captured.out
        return Result(code, captured.out, captured.err)

    return run
