"""Servers started for tests and benchmarks, always stopped after: real ones (llama.cpp,
vLLM, ``reasonrank serve``) as subprocesses, and fakes (:mod:`.instant_openai`,
:mod:`.fault_server`) speaking the OpenAI-compatible API."""
