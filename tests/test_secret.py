"""The core :class:`~reasonrank.secret.Secret`: redacted when shown, serialised as an
environment variable's name or a redacted marker, pickled only as a name, resolved by the OpenAI
engine at the moment of each request (a rotated variable is picked up), and an unset variable
named in one error when the first request needs it."""
from __future__ import annotations

import copy
import hashlib
import json
import pickle
import urllib.request

import pytest
from reasonrank.engines.base import ChatRequest, SamplingParams
from reasonrank.engines.openai import OpenAIEngine
from reasonrank.errors import EngineError, InvalidInputError
from reasonrank.secret import MissingSecretError, Secret, as_secret
from reasonrank.spec import RerankerSpec
from reasonrank.testing.servers.instant_openai import instant_server

KEY = "sk-test-4c1d9a"
ENV = "RR_TEST_SECRET_KEY"


def test_shown_and_serialised_without_the_value(monkeypatch):
    token = Secret.from_token(KEY)
    assert KEY not in repr(token) and KEY not in str(token) and KEY not in f"{token}"
    assert token.to_dict() == {"type": "token", "redacted": True}
    assert token.resolve() == KEY
    env = Secret.from_env_var(ENV, "RR_OTHER")
    assert env.to_dict() == {"type": "env_var", "env_vars": [ENV, "RR_OTHER"], "strict": True}
    assert Secret.from_dict(env.to_dict()) == env
    with pytest.raises(InvalidInputError, match="redacted key cannot be restored"):
        Secret.from_dict(token.to_dict())
    monkeypatch.setenv("RR_OTHER", "second")
    assert env.resolve() == "second"  # the first variable that is set, read now
    monkeypatch.setenv(ENV, "first")
    assert env.resolve() == "first"


def test_pickles_only_as_a_name():
    env = Secret.from_env_var(ENV)
    assert pickle.loads(pickle.dumps(env)) == env and ENV.encode() in pickle.dumps(env)
    with pytest.raises(pickle.PicklingError, match="use an environment variable|as an environment variable") as err:
        pickle.dumps(Secret.from_token(KEY))
    assert KEY not in str(err.value)
    token = Secret.from_token(KEY)
    assert copy.deepcopy({"k": token})["k"] is token  # deepcopy shares it, never pickles it


def test_unset_variable_is_one_error_naming_it(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(MissingSecretError, match=rf"\${ENV} is not set \(the engine's key\)"):
        Secret.from_env_var(ENV).resolve("the engine's key")
    assert Secret.from_env_var(ENV, strict=False).resolve() is None


def test_the_wrappers_secrets_map_onto_it(monkeypatch):
    from pydantic import SecretStr

    assert as_secret(SecretStr(KEY)) == Secret.from_token(KEY)
    haystack = pytest.importorskip("haystack.utils")
    assert as_secret(haystack.Secret.from_env_var([ENV], strict=False)) == Secret.from_env_var(ENV, strict=False)
    assert as_secret(haystack.Secret.from_token(KEY)) == Secret.from_token(KEY)
    assert as_secret({"type": "env_var", "env_vars": [ENV]}) == Secret.from_env_var(ENV)
    with pytest.raises(InvalidInputError, match="string or a Secret"):
        as_secret(42)


def test_a_spec_holds_every_credential_as_a_secret():
    spec = RerankerSpec(engine="openai", engine_options={
        "api_key": KEY, "headers": {"Authorization": f"Bearer {KEY}", "api-key": KEY, "X-Trace": "on"}})
    options = spec.engine_options
    assert isinstance(options["api_key"], Secret) and options["headers"]["X-Trace"] == "on"
    assert all(isinstance(options["headers"][h], Secret) for h in ("Authorization", "api-key"))
    assert KEY not in repr(spec) and KEY not in json.dumps(spec.to_dict())
    by_name = RerankerSpec(engine="openai", engine_options={"api_key": {"type": "env_var", "env_vars": [ENV]}})
    assert RerankerSpec.from_dict(json.loads(json.dumps(by_name.to_dict()))) == by_name
    assert pickle.loads(pickle.dumps(by_name)) == by_name


def auth_seen(url: str) -> dict[str, int]:
    return json.loads(urllib.request.urlopen(url.removesuffix("/v1") + "/stats", timeout=10).read())["auth"]


def digest(header: str) -> str:
    return hashlib.sha256(header.encode()).hexdigest()


def test_the_engine_resolves_the_key_at_each_request(monkeypatch):
    request = [ChatRequest(messages=[{"role": "user", "content": "I will provide you with 2 passages"}])]
    with instant_server() as url:
        engine = OpenAIEngine("instant", base_url=url, api_key=Secret.from_env_var(ENV), tokenizer=False,
                              max_retries=0)
        monkeypatch.delenv(ENV, raising=False)
        with pytest.raises(EngineError, match=rf"\${ENV} is not set \(the openai engine's api_key\)"):
            engine.generate(request, SamplingParams(max_tokens=4))
        monkeypatch.setenv(ENV, "key-one")
        engine.generate(request, SamplingParams(max_tokens=4))
        monkeypatch.setenv(ENV, "key-two")  # rotated: the next request sends the new key
        engine.generate(request, SamplingParams(max_tokens=4))
        seen = auth_seen(url)
        assert seen.get(digest("Bearer key-one")) == 1 and seen.get(digest("Bearer key-two")) == 1
        assert "key-two" not in repr(vars(engine))


def test_default_key_is_the_upstream_variable_read_per_request(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("REASONRANK_API_KEY", "upstream")
    engine = OpenAIEngine("m", base_url="http://127.0.0.1:9/v1")
    assert engine.auth_headers() == {"Authorization": "Bearer upstream"}
    monkeypatch.delenv("REASONRANK_API_KEY")
    assert engine.auth_headers() == {}  # unset: no key (a local server)
    assert OpenAIEngine("m", base_url="http://127.0.0.1:9/v1", api_key="").api_key is None
