"""Several API keys at once (flags, the env var, a key file re-read when it changes: rotation
without a restart), and a canary key that no answer, log line, warning, metric or document of
the service ever contains."""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import InvalidInputError
from reasonrank.serve import API_KEY_ENV, ServeSettings, create_app
from reasonrank.spec import RerankerSpec
from reasonrank.testing.scripted_engines import reverse_window
from reasonrank.testing.servers.reasonrank_server import scripted_args, serve

CANARY = "sk-canary-5f1e9c0d"
BODY = {"query": "q", "documents": ["a", "b", "c"]}


def app(settings: ServeSettings):
    spec = RerankerSpec(method="listwise", engine=ScriptedEngine(reverse_window))
    return create_app(spec, settings)


def status(client: TestClient, key: str, path: str = "/v2/rerank") -> int:
    return client.post(path, json=BODY, headers={"Authorization": f"Bearer {key}"}).status_code


def write_keys(path: Path, *keys: str, bump: int = 0) -> None:
    path.write_text("# rotated keys\n" + "\n".join(keys) + "\n")
    st = path.stat()  # a new mtime even within the filesystem's timestamp resolution
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))


def test_several_keys_and_a_key_file_rotate_without_restart(tmp_path):
    keys = tmp_path / "keys.txt"
    write_keys(keys, "file-old")
    with TestClient(app(ServeSettings(api_keys=("flag-1", "flag-2"), api_key_file=str(keys)))) as c:
        assert [status(c, k) for k in ("flag-1", "flag-2", "file-old", "nope")] == [200, 200, 200, 401]
        write_keys(keys, "file-new", bump=5)
        assert status(c, "file-old") == 401 and status(c, "file-new") == 200 and status(c, "flag-1") == 200
        keys.unlink()  # a file being replaced: the keys read last stay valid
        assert status(c, "file-new") == 200
        assert c.get("/v1/stats", headers={"Authorization": "Bearer file-new"}).status_code == 200


def test_keys_from_flags_or_the_environment(monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, "env-a, env-b")
    assert ServeSettings.api_keys_from(None) == ("env-a", "env-b")
    assert ServeSettings.api_keys_from(["x", "y"]) == ("x", "y")
    with pytest.raises(Exception, match="no such file"):
        app(ServeSettings(api_key_file="/nonexistent/keys.txt"))


def test_the_canary_key_leaks_nowhere(tmp_path, caplog):
    keys = tmp_path / "keys.txt"
    write_keys(keys, CANARY)
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with TestClient(app(ServeSettings(api_key=CANARY, api_key_file=str(keys))),
                        raise_server_exceptions=False) as c:
            answers = [c.post(p, json=BODY, headers={"Authorization": f"Bearer {k}"})
                       for p in ("/v2/rerank", "/v1/rerank", "/rerank", "/score") for k in (CANARY, "wrong")]
            answers.append(c.post("/v2/rerank", content=b"{", headers={"Authorization": f"Bearer {CANARY}"}))
            pages = [c.get(p).text for p in ("/metrics", "/openapi.json", "/health")]
            pages.append(c.get("/v1/stats", headers={"Authorization": f"Bearer {CANARY}"}).text)
    seen = [a.text + str(dict(a.headers)) for a in answers] + pages
    seen += [r.getMessage() for r in caplog.records] + [str(w.message) for w in caught]
    assert [a.status_code for a in answers[:2]] == [200, 401]
    assert not [s for s in seen if CANARY in s]


def test_rotation_in_a_running_server(tmp_path):
    keys = tmp_path / "keys.txt"
    write_keys(keys, CANARY)
    args = scripted_args("instant", "--api-key-file", str(keys))
    with serve(args, env={API_KEY_ENV: ""}) as url:
        def call(key: str) -> int:
            return httpx.post(url + "/v2/rerank", json=BODY, headers={"Authorization": f"Bearer {key}"},
                              timeout=30).status_code

        assert call(CANARY) == 200 and call("next-key") == 401
        write_keys(keys, "next-key", bump=5)
        assert call("next-key") == 200 and call(CANARY) == 401
    assert CANARY not in serve.last_log and "keys" in serve.last_log  # counts only


def settings_from(*argv: str) -> ServeSettings:
    """The settings ``reasonrank serve ARGV`` starts with (the refusal included)."""
    import argparse

    from reasonrank.cli.serve import build_settings, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return build_settings(parser.parse_args(["serve", *argv]), "m")


def test_the_upstream_key_variable_is_never_a_client_key(monkeypatch, tmp_path, capsys):
    from reasonrank.cli import EXIT_BAD_INPUT, main

    monkeypatch.delenv("REASONRANK_SERVE_API_KEYS", raising=False)
    monkeypatch.setenv("REASONRANK_API_KEY", CANARY)  # an old deployment's client key, or an upstream key
    # No client key of its own: it refuses to start, naming the new variable (never the key).
    assert main(["serve", "--engine-factory", "reasonrank.testing.scripted_engines:instant"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "REASONRANK_SERVE_API_KEYS" in err and "REASONRANK_API_KEY is set" in err and CANARY not in err
    # With client keys of its own, REASONRANK_API_KEY is only the upstream's: not accepted from clients.
    monkeypatch.setenv("REASONRANK_SERVE_API_KEYS", "client-a,client-b")
    with TestClient(app(settings_from())) as c:
        assert [status(c, k) for k in ("client-a", "client-b", CANARY)] == [200, 200, 401]
    monkeypatch.delenv("REASONRANK_SERVE_API_KEYS")
    assert settings_from("--api-key", "flag").all_keys == ("flag",)
    keys = tmp_path / "keys.txt"
    write_keys(keys, "from-file")
    assert settings_from("--api-key-file", str(keys)).api_key_file == str(keys)


def test_no_key_anywhere_stays_open_and_says_so(monkeypatch, caplog):
    for name in ("REASONRANK_API_KEY", "REASONRANK_SERVE_API_KEYS"):
        monkeypatch.delenv(name, raising=False)
    caplog.set_level(logging.INFO, logger="reasonrank.serve")
    with TestClient(app(settings_from())) as c:
        assert status(c, "anything") == 200
    assert any(r.levelno == logging.WARNING and "open to anyone" in r.getMessage() for r in caplog.records)


def test_bad_key_files_are_clear_errors(tmp_path, monkeypatch):
    empty = tmp_path / "empty.txt"
    empty.write_text("# no keys yet\n\n")
    with pytest.raises(InvalidInputError, match=r"empty.txt: no keys in it"):
        app(ServeSettings(api_key_file=str(empty)))
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00key")
    with pytest.raises(InvalidInputError, match=r"binary.txt: cannot be read \(not UTF-8 text\)"):
        app(ServeSettings(api_key_file=str(binary)))
    locked = tmp_path / "locked.txt"
    write_keys(locked, CANARY)
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads a mode-0 file: the OS's refusal, simulated
        real = Path.read_text

        def refuse(self: Path, *args, **kwargs):
            if self == locked:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(InvalidInputError, match=r"locked.txt: cannot be read \(Permission denied\)") as err:
        app(ServeSettings(api_key_file=str(locked)))
    assert CANARY not in str(err.value)
