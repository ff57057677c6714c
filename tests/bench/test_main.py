"""`python -m genimg bench <suite>`: the router hands each suite's options to its own module's `main`."""

from __future__ import annotations

import importlib

import pytest

from genimg.bench import main as router

MODULE_OF_SUITE = {"explore": "explore", "train": "train", "inference": "inference", "all": "combined",
                   "digits": "digits", "page-digits": "page", "load": "load", "faults": "faults",
                   "playground": "playground"}


def test_every_suite_has_a_module():
    assert set(router.SUITES) == set(MODULE_OF_SUITE)


@pytest.mark.parametrize("suite", sorted(MODULE_OF_SUITE))
def test_each_suite_reaches_its_modules_main_with_its_options(suite, monkeypatch):
    module = importlib.import_module(f"genimg.bench.{MODULE_OF_SUITE[suite]}")
    calls = []
    monkeypatch.setattr(module, "main", lambda options: calls.append(options) or 7)
    assert router.main([suite, "--seconds", "3"]) == 7
    assert calls == [["--seconds", "3"]]


@pytest.mark.parametrize("suite", sorted(MODULE_OF_SUITE))
def test_each_suites_help_goes_through_the_router(suite, capsys):
    with pytest.raises(SystemExit) as exited:
        router.main([suite, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m genimg bench {suite} ")


def test_the_cli_routes_bench_to_the_router(monkeypatch):
    from genimg.cli import main as cli_main

    calls = []
    monkeypatch.setattr(router, "main", lambda arguments: calls.append(arguments) or 5)
    assert cli_main(["bench", "faults", "--kills", "1"]) == 5
    assert calls == [["faults", "--kills", "1"]]


def test_an_unknown_or_missing_suite_is_refused_with_the_list(capsys):
    assert router.main(["bogus"]) == 2
    error = capsys.readouterr().err
    assert "unknown suite 'bogus'" in error and all(name in error for name in MODULE_OF_SUITE)
    assert router.main([]) == 2
    assert "name a suite" in capsys.readouterr().err
    assert router.main(["--help"]) == 0
    assert "page-digits" in capsys.readouterr().out
