"""Numba vector kernels: L2 normalisation, exact top-k search and an IVF index.

Embedding retrieval for the GraphRAG and AI-core workloads (entity linking, similar-document
search), checked against numpy and benchmarked against numpy and FAISS.
"""

from workbench.vector.data import clustered_embeddings, recall_at_k
from workbench.vector.ivf import IVFIndex
from workbench.vector.kmeans import kmeans
from workbench.vector.normalize import normalize
from workbench.vector.topk import topk

__all__ = ["IVFIndex", "clustered_embeddings", "kmeans", "normalize", "recall_at_k", "topk"]
