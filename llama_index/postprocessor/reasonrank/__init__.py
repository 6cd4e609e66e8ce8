"""``from llama_index.postprocessor.reasonrank import ReasonRankRerank``: LlamaIndex's usual
integration import path, re-exporting :mod:`llama_index_reasonrank`."""
import llama_index_reasonrank as _impl
from llama_index_reasonrank import *

__all__ = list(_impl.__all__)
