"""The RNN Encoder–Decoder of Cho et al. (2014): a GRU reads the source, a GRU writes the target.

The encoder's final state ``c`` summarises the source. The decoder starts from it and also
reads it at every step beside the previous target symbol, as in the paper (section 2.2):

    c    = h_enc(S)                                   encoder GRU over the source embeddings
    s(0) = c                                          (the paper: tanh(V · c); a plain copy here)
    s(t) = GRU(s(t-1), [e(y(t-1)), c])                decoder, teacher forcing while training
    p(y(t) | y(<t), x) = softmax(W_hy · s(t) + b_y)

Backward runs the decoder, then hands the gradient on ``c`` — through the decoder's initial
state (``decoder.grad_initial_state``) and through every step's copy of ``c`` — to the encoder
as the gradient of its final state. So ``fit`` trains it like any other model.

One input array carries both halves, so that :func:`rnnlab.fit` batches it like any per-step
data set: step t of ``x`` holds the decoder's input at t (``BOS``, then the target shifted
right) followed by the whole source, padded with ``PAD`` (id 0) to ``source_steps`` — as the
paper's decoder sees c at every step. ``x`` is (T, B, 1 + S) time-major (samples-first data
sets are (N, T, 1 + S): :meth:`Seq2Seq.pack` builds them); the output is the (T, B, V) logits.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from ..grad_mode import no_grad
from ..layers import GRULayer
from ..models import Embedding
from ..models.base import Module, make_rng
from ..registry import register

__all__ = ["BOS", "PAD", "Seq2Seq"]

#: Token id of padding in the source and of the start symbol in the target.
PAD = 0
BOS = 0


@register
class Seq2Seq(Module):
    """GRU encoder–decoder with the context fed to every decoder step (Cho et al. 2014).

    Parameters
    ----------
    source_vocab, target_vocab : vocabulary sizes (id 0 is PAD in the source, BOS in the target).
    source_steps : length S of the padded source part of the input.
    embed : embedding size of both vocabularies.
    hidden : hidden size of encoder and decoder.
    dtype, seed : parameter dtype; an int or numpy Generator for the initialisation.

    Shapes: x (T, B, 1 + S) int -> logits (T, B, target_vocab).
    """

    batch_first = False

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        *,
        source_steps: int,
        embed: int = 16,
        hidden: int = 128,
        dtype: DTypeLike = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        if isinstance(source_steps, bool) or not isinstance(source_steps, int | np.integer):
            raise TypeError(f"source_steps: expected a positive integer, got {source_steps!r}")
        if source_steps < 1:
            raise ValueError(f"source_steps: expected a positive integer, got {source_steps}")
        rng = make_rng(seed)
        self.source_steps = int(source_steps)
        self.dtype = np.dtype(dtype)
        self.source_embedding = Embedding(source_vocab, embed, dtype=dtype, seed=rng)
        self.encoder = GRULayer(embed, hidden, dtype=dtype, seed=rng)
        self.target_embedding = Embedding(target_vocab, embed, dtype=dtype, seed=rng)
        self.decoder = GRULayer(embed + hidden, hidden, target_vocab, dtype=dtype, seed=rng)
        self._cache: tuple[int, int] | None = None

    def children(self) -> list[tuple[str, object]]:
        return [
            ("source_embedding", self.source_embedding),
            ("encoder", self.encoder),
            ("target_embedding", self.target_embedding),
            ("decoder", self.decoder),
        ]

    def get_config(self) -> dict:
        return {
            "source_vocab": self.source_embedding.num_embeddings,
            "target_vocab": self.target_embedding.num_embeddings,
            "source_steps": self.source_steps,
            "embed": self.source_embedding.dim,
            "hidden": self.encoder.hidden_size,
            "dtype": self.dtype.name,
        }

    @staticmethod
    def pack(source: ArrayLike, decoder_inputs: ArrayLike) -> np.ndarray:
        """Samples-first model input (N, T, 1 + S) from source ids (N, S), PAD after the
        symbols, and decoder input ids (N, T) (BOS, then the target shifted right)."""
        source, decoder_inputs = np.asarray(source), np.asarray(decoder_inputs)
        if source.ndim != 2 or decoder_inputs.ndim != 2 or len(source) != len(decoder_inputs):
            raise ValueError(
                f"source, decoder_inputs: expected (N, S) and (N, T) ids, got shapes "
                f"{source.shape} and {decoder_inputs.shape}"
            )
        copies = np.broadcast_to(source[:, None, :], (*decoder_inputs.shape, source.shape[1]))
        return np.concatenate([decoder_inputs[..., None], copies], axis=-1)

    def _check_input(self, x: ArrayLike) -> np.ndarray:
        x = np.asarray(x)
        width = 1 + self.source_steps
        if x.ndim != 3 or x.dtype.kind not in "iu" or x.shape[2] != width:
            raise ValueError(
                f"x: expected (T, B, {width}) integer token ids (decoder input, then the "
                f"source_steps={self.source_steps} source ids), got shape {x.shape} dtype "
                f"{x.dtype}"
            )
        if (x[1:, :, 1:] != x[:1, :, 1:]).any():
            raise ValueError("x: every step must carry the same source (see Seq2Seq.pack)")
        return x

    def source_lengths(self, source: np.ndarray) -> np.ndarray:
        """Length of each source (S, B): its steps before the first PAD; at least one symbol."""
        valid = source != PAD
        lengths = valid.sum(axis=0)
        if (lengths == 0).any():
            raise ValueError("x: a source sequence is empty (all PAD)")
        if (valid != (np.arange(len(source))[:, None] < lengths[None, :])).any():
            raise ValueError("x: PAD (id 0) may only follow the source symbols, not precede them")
        return lengths

    def encode(self, source: np.ndarray) -> np.ndarray:
        """Source ids (S, B) -> the context c (B, H), each sequence's state at its last symbol."""
        lengths = self.source_lengths(source)
        self.encoder.forward(self.source_embedding.forward(source), lengths=lengths)
        return self.encoder.final_state

    def _decoder_input(self, ids: np.ndarray, context: np.ndarray) -> np.ndarray:
        embedded = self.target_embedding.forward(ids)  # (T, B, E)
        copies = np.broadcast_to(context, (len(ids), *context.shape))  # (T, B, H)
        return np.concatenate([embedded, copies], axis=-1)

    def forward(self, x: ArrayLike) -> np.ndarray:
        """Teacher-forced logits (T, B, V); x (T, B, 1 + S) from :meth:`pack`, time-major."""
        x = self._check_input(x)
        context = self.encode(np.ascontiguousarray(x[0, :, 1:].T))  # source (S, B)
        decoder_input = self._decoder_input(np.ascontiguousarray(x[:, :, 0]), context)
        self._cache = (x.shape[0], x.shape[1])
        return self.decoder.forward(decoder_input, context)

    def backward(self, dy: np.ndarray) -> None:
        """Gradients of every part; the context's gradient flows back into the encoder."""
        if self._cache is None:
            raise RuntimeError("backward: called before forward; run forward(x) first")
        d_input = self.decoder.backward(dy)  # (T, B, E + H)
        embed = self.target_embedding.dim
        self.target_embedding.backward(np.ascontiguousarray(d_input[..., :embed]))
        d_context = self.decoder.grad_initial_state + d_input[..., embed:].sum(axis=0)
        # the encoder has no head: its outputs are its states, which the loss does not read
        d_states = np.zeros((self.source_steps, *d_context.shape), self.dtype)  # (S, B, H)
        d_source = self.encoder.backward(d_states, d_final_state=d_context)
        self.source_embedding.backward(d_source)
        return None

    def translate(self, source: ArrayLike, steps: int) -> np.ndarray:
        """Greedy decoding: source ids (B, S) samples-first -> target ids (B, steps)."""
        source = np.asarray(source)
        if source.ndim != 2 or source.shape[1] != self.source_steps:
            raise ValueError(
                f"source: expected (B, {self.source_steps}) token ids, got shape {source.shape}"
            )
        was_training = self.training
        self.eval()
        try:
            with no_grad():
                context = self.encode(np.ascontiguousarray(source.T))
                state, previous = context, np.full((1, source.shape[0]), BOS, np.int64)
                out = []
                for _ in range(steps):
                    step = self._decoder_input(previous, context)
                    logits = self.decoder.forward(step, state)[0]  # (B, V)
                    state = self.decoder.final_state
                    previous = logits.argmax(axis=-1)[None, :]
                    out.append(previous[0])
        finally:
            self.train(was_training)
        return np.stack(out, axis=1)
