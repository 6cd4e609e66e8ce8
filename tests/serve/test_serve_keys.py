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
