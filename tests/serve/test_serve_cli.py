"""``reasonrank serve`` argument handling, in process (no server started)."""
from __future__ import annotations

import pytest
from reasonrank.cli import EXIT_BAD_INPUT, main


def test_help_lists_the_service_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--api-key", "--api-key-file", "--max-in-flight", "--queue-limit", "--max-documents", "--max-document-bytes",
                 "--max-body-bytes", "--request-timeout", "--engine-factory", "--preset", "--engine"):
        assert flag in out


@pytest.mark.parametrize("argv, needle", [
    (["--engine-factory", "nocolon"], "must be MODULE:CALLABLE"),
    (["--engine-factory", "no_such_module_16:make"], "No module named 'no_such_module_16'"),
    (["--engine-factory", "reasonrank.errors:ReasonRankError"], "not an Engine"),
    (["--engine-factory", "reasonrank.testing.scripted_engines:instant", "--max-in-flight", "0"], "max_in_flight must be a positive"),
    (["--engine-factory", "reasonrank.testing.scripted_engines:instant", "--top-k", "0"], "--top-k must be a positive"),
    (["--engine-factory", "reasonrank.testing.scripted_engines:instant", "--depth", "0"], "--depth must be a positive"),
    (["--engine-factory", "reasonrank.testing.scripted_engines:instant", "--top-k", "2", "--port", "0"], "--top-k is deprecated; use --depth"),
    (["--engine-factory", "reasonrank.testing.scripted_engines:instant", "--port", "70000"], "--port must be 1-65535"),
])
def test_bad_flags_exit_2_with_a_message(argv, needle, capsys, monkeypatch):
    pytest.importorskip("fastapi")
    monkeypatch.delenv("REASONRANK_API_KEY", raising=False)
    assert main(["serve", *argv]) == EXIT_BAD_INPUT
    assert needle in capsys.readouterr().err


def test_repeated_api_key_flags(monkeypatch):
    import argparse

    from reasonrank.cli.serve import build_settings, register

    monkeypatch.delenv("REASONRANK_API_KEY", raising=False)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--api-key", "a", "--api-key", "b", "--api-key-file", "k.txt"])
    settings = build_settings(args, "m")
    assert settings.all_keys == ("a", "b") and settings.api_key_file == "k.txt"


def test_api_key_from_environment(monkeypatch):
    from reasonrank.serve import API_KEY_ENV, ServeSettings

    monkeypatch.setenv(API_KEY_ENV, "from-env")
    assert ServeSettings.api_key_from(None) == "from-env"
    assert ServeSettings.api_key_from("flag") == "flag"
    monkeypatch.delenv(API_KEY_ENV)
    assert ServeSettings.api_key_from(None) is None
