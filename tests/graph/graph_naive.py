"""Slow, obvious references for the graph tests, built on networkx where it has one."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np


def bfs_distances(G, source):
    dist = np.full(G.number_of_nodes(), -1, dtype=np.int64)
    for v, d in nx.single_source_shortest_path_length(G, source).items():
        dist[v] = d
    return dist


def k_hop(G, seeds, k):
    out = set()
    for s in seeds:
        out |= set(nx.single_source_shortest_path_length(G, int(s), cutoff=k))
    return np.array(sorted(out), dtype=np.int64)


def dijkstra(G, source):
    dist = np.full(G.number_of_nodes(), np.inf)
    for v, d in nx.single_source_dijkstra_path_length(G, source).items():
        dist[v] = d
    return dist


def pagerank(G, **kw):
    pr = nx.pagerank(G, **kw)
    return np.array([pr[v] for v in range(G.number_of_nodes())])


def components(G):
    comps = nx.weakly_connected_components(G) if G.is_directed() else nx.connected_components(G)
    labels = np.empty(G.number_of_nodes(), dtype=np.int64)
    for c, members in enumerate(sorted(comps, key=min)):
        labels[list(members)] = c
    return labels


def partition(labels):
    return [set(np.nonzero(labels == c)[0].tolist()) for c in np.unique(labels)]


def local_search(G, seeds, k, top, exclude_seeds=False):
    """(ids, scores) as the spec says: PPR from the seeds on the k-hop induced subgraph."""
    nodes = k_hop(G, seeds, k)
    H = G.subgraph(nodes.tolist())
    pr = nx.pagerank(H, personalization={int(s): 1.0 for s in seeds})
    ranked = sorted(pr.items(), key=lambda kv: (-kv[1], kv[0]))
    if exclude_seeds:
        ranked = [kv for kv in ranked if kv[0] not in set(int(s) for s in seeds)]
    ranked = ranked[:top]
    return np.array([v for v, _ in ranked], np.int64), np.array([s for _, s in ranked])


def nmi(a, b):
    """Normalised mutual information (arithmetic mean normalisation), written out."""
    a = np.asarray(a)
    b = np.asarray(b)
    n = a.size
    ua, ia = np.unique(a, return_inverse=True)
    ub, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ua.size, ub.size))
    np.add.at(table, (ia, ib), 1)
    pa = table.sum(1) / n
    pb = table.sum(0) / n
    mi = 0.0
    for i in range(ua.size):
        for j in range(ub.size):
            if table[i, j]:
                pij = table[i, j] / n
                mi += pij * math.log(pij / (pa[i] * pb[j]))
    ha = -sum(p * math.log(p) for p in pa if p > 0)
    hb = -sum(p * math.log(p) for p in pb if p > 0)
    if ha + hb == 0:
        return 1.0
    return 2 * mi / (ha + hb)
