"""Numba vector kernels: L2 normalisation, exact top-k search and an IVF index.

Embedding retrieval for the GraphRAG and AI-core workloads (entity linking, similar-document
search), checked against numpy and benchmarked against numpy and FAISS.
"""

from workbench.vector.normalize import normalize
from workbench.vector.topk import topk

__all__ = ["normalize", "topk"]
