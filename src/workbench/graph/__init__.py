"""Numba graph kernels on an immutable CSR graph.

Every public function validates its arguments and then calls a private ``@njit`` kernel;
results follow networkx's semantics unless a docstring says otherwise.
"""

from workbench.graph.community import label_propagation, leiden, louvain, modularity
from workbench.graph.components import connected_components, relabel_by_first_vertex
from workbench.graph.csr import CSRGraph
from workbench.graph.generators import erdos_renyi, rmat, rmat_edges, stochastic_block_model
from workbench.graph.io import SNAP_GRAPHS, load_snap, read_edgelist, write_edgelist
from workbench.graph.pagerank import ConvergenceError, pagerank
from workbench.graph.search import local_search
from workbench.graph.traversal import bfs, k_hop, sssp

__all__ = [
    "SNAP_GRAPHS",
    "CSRGraph",
    "ConvergenceError",
    "bfs",
    "connected_components",
    "erdos_renyi",
    "k_hop",
    "label_propagation",
    "leiden",
    "load_snap",
    "local_search",
    "louvain",
    "modularity",
    "pagerank",
    "read_edgelist",
    "relabel_by_first_vertex",
    "rmat",
    "rmat_edges",
    "sssp",
    "stochastic_block_model",
    "write_edgelist",
]
