"""Keras 3 <-> rnnlab: ``SimpleRNN``, ``LSTM``, ``GRU`` (both forms), ``Dense`` heads.

Keras stores the transpose of our matrices, gate blocks side by side in columns:

=========  ===================  ==================  ==========================================
cell       Keras column blocks  rnnlab row blocks   biases
=========  ===================  ==================  ==========================================
SimpleRNN  (one block)          W_xh / W_hh         b_h = bias
LSTM       i, f, c, o           f, i, c, o          b = bias (one vector)
GRU        z, r, h              z, r, h             reset_after=False: b = bias (3H,)
                                                    reset_after=True: bias (2, 3H) = [input row,
                                                    recurrent row]; b = row0 + [row1_z, row1_r, 0],
                                                    b_hn = row1_h
=========  ===================  ==================  ==========================================

``kernel`` is (I, G·H) = Wᵀ and ``recurrent_kernel`` (H, G·H) = Uᵀ. Keras'
``GRU(reset_after=False)`` is the guide's GRU exactly; ``reset_after=True`` (Keras' default) is
``GRULayer(reset_after=True)``. Keras models are batch-major, (B, T, I).

Keras is imported inside the functions; when ``KERAS_BACKEND`` is unset it is set to ``torch``
(rnnlab's test dependency) before the import.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._common import (
    host,
    inverse,
    layer_kind,
    new_layer,
    reorder,
    require,
    set_head,
    set_params,
)
from ._stacks import levels_of, model_from_levels

# rnnlab block k comes from Keras block _KERAS_BLOCK[kind][k]
_KERAS_BLOCK = {"rnn": (0,), "lstm": (1, 0, 2, 3), "gru": (0, 1, 2)}


def _keras(caller: str = "rnnlab.interop.keras") -> Any:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return require("keras", caller)


# ----------------------------------------------------------------------------- checks
def _cell_kind(klayer: Any, backwards: bool = False) -> str:
    """'rnn', 'lstm' or 'gru' for a Keras recurrent layer, after refusing what has no twin."""
    keras = _keras()
    layers = keras.layers
    if not isinstance(klayer, layers.RNN):
        raise TypeError(
            f"layer: expected a Keras SimpleRNN, LSTM, GRU or RNN(cell), got "
            f"{type(klayer).__name__}"
        )
    _check_plain_layer(klayer, (layers.SimpleRNN, layers.LSTM, layers.GRU, layers.RNN))
    cell = klayer.cell
    kinds = ((layers.SimpleRNNCell, "rnn"), (layers.LSTMCell, "lstm"), (layers.GRUCell, "gru"))
    kind = next((k for cls, k in kinds if type(cell) is cls), None)
    if kind is None:
        raise TypeError(
            f"layer {klayer.name!r}: expected a SimpleRNNCell, LSTMCell or GRUCell, got "
            f"{type(cell).__name__} (stacked or custom cells have no rnnlab counterpart)"
        )
    problems = []
    if cell.activation is not keras.activations.tanh:
        problems.append(f"activation={getattr(cell.activation, '__name__', cell.activation)!r}")
    rec = getattr(cell, "recurrent_activation", keras.activations.sigmoid)
    if rec is not keras.activations.sigmoid:
        problems.append(f"recurrent_activation={getattr(rec, '__name__', rec)!r}")
    if not cell.use_bias:
        problems.append("use_bias=False")
    for flag in ("stateful", "return_state", "go_backwards"):
        if getattr(klayer, flag, False) and not (flag == "go_backwards" and backwards):
            problems.append(f"{flag}=True")
    if problems:
        raise ValueError(
            f"layer {klayer.name!r}: cannot convert {'; '.join(problems)}: rnnlab layers use "
            "tanh, sigmoid gates, biases, and run forward and stateless (expected activation="
            "'tanh', recurrent_activation='sigmoid', use_bias=True, stateful=False, "
            "return_state=False, go_backwards=False)"
        )
    return kind


def _check_plain_layer(klayer, bases) -> None:
    """Refuse a subclass with its own ``call`` and reduced-precision compute: its weights would
    convert, its outputs would not be rnnlab's."""
    base = next(b for b in bases if isinstance(klayer, b))
    if type(klayer).call is not base.call:
        raise TypeError(
            f"layer {klayer.name!r}: {type(klayer).__name__} subclasses keras.layers."
            f"{base.__name__} with its own call(), so converting its weights would not give its "
            f"outputs; if call() computes what {base.__name__}'s does, copy the weights into a "
            f"plain keras.layers.{base.__name__} first"
        )
    compute = getattr(getattr(klayer, "dtype_policy", None), "compute_dtype", "float32")
    if compute not in ("float32", "float64"):
        raise ValueError(
            f"layer {klayer.name!r}: computes in {compute} (dtype policy "
            f"{klayer.dtype_policy.name!r}); rnnlab computes in float32 or float64, which gives "
            "other outputs. Rebuild the layer with dtype='float32' to convert it"
        )


def _check_not_masking(klayer, keras) -> None:
    if isinstance(klayer, keras.layers.Masking):
        raise ValueError(
            f"layer {klayer.name!r}: Masking makes Keras skip padded steps (the state is carried "
            "over them and the previous output repeated); rnnlab takes the true lengths instead, "
            "forward(x, lengths=...), and outputs zeros at padded steps. No exact conversion "
            "exists: convert the model without the Masking layer and pass lengths= to forward "
            "(final states and outputs at valid steps then agree)"
        )


def _dense_parts(klayer):
    """(W_hy (O, H), b_y (O,)) of a linear Dense or TimeDistributed(Dense); else None."""
    keras = _keras()
    if isinstance(klayer, keras.layers.TimeDistributed):
        klayer = klayer.layer
    if not isinstance(klayer, keras.layers.Dense):
        return None
    _check_plain_layer(klayer, (keras.layers.Dense,))
    if klayer.activation is not keras.activations.linear:
        raise ValueError(
            f"layer {klayer.name!r}: expected a linear Dense head (activation=None), got "
            f"activation={klayer.activation.__name__!r}; rnnlab's output head y = W_hy · h + b_y "
            "is linear"
        )
    kernel = np.asarray(klayer.get_weights()[0])
    bias = np.asarray(klayer.get_weights()[1]) if klayer.use_bias else np.zeros(kernel.shape[1])
    return kernel.T, bias  # Keras' kernel is W_hyᵀ


# ----------------------------------------------------------------------------- Keras -> rnnlab
def layer_from_keras(
    klayer: Any, *, dtype: Any = None, head: tuple[Any, Any] | None = None, backwards: bool = False
) -> Any:
    """The rnnlab layer equivalent to one Keras recurrent layer.

    ``head`` is an optional (W_hy (O, H), b_y (O,)) pair from a Dense that follows it;
    ``backwards`` accepts ``go_backwards=True`` (the reverse half of a Bidirectional).
    """
    kind = _cell_kind(klayer, backwards)
    if not klayer.built:
        raise ValueError(f"layer {klayer.name!r}: not built yet; call it once or build() it")
    kernel, recurrent, bias = (np.asarray(w) for w in klayer.get_weights())
    input_size, width = kernel.shape
    H = klayer.cell.units
    blocks = _KERAS_BLOCK[kind]
    if width != len(blocks) * H or recurrent.shape != (H, width):
        raise ValueError(
            f"layer {klayer.name!r}: expected kernel (I, {len(blocks) * H}) and recurrent_kernel "
            f"({H}, {len(blocks) * H}), got {kernel.shape} and {recurrent.shape}"
        )
    reset_after = kind == "gru" and klayer.cell.reset_after
    layer = new_layer(
        kind,
        input_size,
        H,
        dtype=dtype or kernel.dtype,
        reset_after=reset_after,
        batch_first=True,
        output_size=None if head is None else int(head[0].shape[0]),
    )
    W, U = reorder(kernel.T, blocks, H), reorder(recurrent.T, blocks, H)
    if reset_after:
        # row 0 is added to x·kernel, row 1 to h·recurrent_kernel; for z and r both rows sit
        # outside any product and add, for h the recurrent row sits inside r ⊙ (.) and is b_hn
        b = bias[0] + np.concatenate([bias[1, : 2 * H], np.zeros(H, bias.dtype)])
        set_params(layer, W, U, b, bias[1, 2 * H :])
    else:
        set_params(layer, W, U, reorder(bias, blocks, H))
    if head is not None:
        set_head(layer, head[0], head[1])
    return layer


def from_keras(obj: Any, *, dtype: Any = None) -> Any:
    """Convert a Keras recurrent layer or model to rnnlab.

    Parameters
    ----------
    obj : a built Keras ``SimpleRNN`` / ``LSTM`` / ``GRU`` (or ``RNN`` of such a cell), a
        ``Bidirectional(merge_mode="concat")`` of one, or a model whose layers are such layers
        followed by at most one linear ``Dense`` (or ``TimeDistributed(Dense)``) head.
    dtype : float32 or float64; defaults to the Keras weights' dtype.

    Returns
    -------
    ``batch_first=True`` (Keras' layout) rnnlab model: a layer for one recurrent layer (with
    its output head when a Dense follows); ``rnnlab.models.RNN/LSTM/GRU`` for a stack of one
    cell type (Bidirectional levels included); else ``rnnlab.models.Sequential``.

    Notes
    -----
    rnnlab layers return every step; a Keras layer with ``return_sequences=False`` returns the
    last one, which is ``y[:, -1]`` of the converted model.
    """
    keras = _keras("from_keras")
    if isinstance(obj, keras.Model):
        chain = [lay for lay in obj.layers if not isinstance(lay, keras.layers.InputLayer)]
        if not isinstance(obj, keras.Sequential):  # a Sequential is a chain by construction
            _check_linear_chain(obj, chain)
        # Dropout layers are the identity at inference, which is what the converted model runs
        layers = [lay for lay in chain if not isinstance(lay, keras.layers.Dropout)]
    else:
        layers = [obj]
    if not layers:
        raise ValueError("model: has no layers to convert")
    for lay in layers:
        _check_not_masking(lay, keras)
    head = _dense_parts(layers[-1])
    recurrent = layers[:-1] if head is not None else layers
    if not recurrent:
        raise ValueError("model: has no recurrent layer before its Dense head")
    levels = []
    for index, lay in enumerate(recurrent):
        if _dense_parts(lay) is not None:
            raise ValueError(
                f"layer {lay.name!r}: a Dense layer is convertible only as the last layer (the "
                "output head)"
            )
        is_last = index == len(recurrent) - 1
        levels.append(_level_from_keras(lay, dtype, is_last))
    if len(levels) == 1 and len(levels[0]) == 1:
        return layer_from_keras(recurrent[0], dtype=dtype, head=head)
    return model_from_levels(levels, head, batch_first=True)


def _check_linear_chain(model, layers):
    """Each layer must read the previous one's output (the model's input for the first) and
    the model must return the last one's: branches and re-used layers have no rnnlab twin."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"model: expected one input and one output, got {len(model.inputs)} and "
            f"{len(model.outputs)}"
        )
    expected = model.inputs[0]
    for lay in layers:
        if lay.input is not expected:
            raise ValueError(
                f"layer {lay.name!r}: expected it to read the previous layer's output; only a "
                "linear chain of layers converts"
            )
        expected = lay.output
    if model.outputs[0] is not expected:
        raise ValueError("model: its output is not the last layer's output")


def _level_from_keras(klayer, dtype, is_last):
    keras = _keras()
    if not isinstance(klayer, keras.layers.Bidirectional):
        if not is_last and not klayer.return_sequences:
            raise ValueError(
                f"layer {klayer.name!r}: expected return_sequences=True inside a stack"
            )
        return [layer_from_keras(klayer, dtype=dtype)]
    problems = []
    if klayer.merge_mode != "concat":
        problems.append(f"merge_mode={klayer.merge_mode!r} (expected 'concat')")
    if not klayer.return_sequences:
        # Keras then concatenates the reverse direction's *final* state (time step 1), which
        # is not rnnlab's last output step
        problems.append("return_sequences=False (expected True)")
    fwd, bwd = klayer.forward_layer, klayer.backward_layer
    if not bwd.go_backwards or fwd.go_backwards:
        problems.append("the backward layer must read backwards and the forward one forwards")
    if problems:
        raise ValueError(f"layer {klayer.name!r}: cannot convert {'; '.join(problems)}")
    forward = layer_from_keras(fwd, dtype=dtype)
    reverse = layer_from_keras(bwd, dtype=dtype, backwards=True)
    if forward.get_config() != reverse.get_config():
        raise ValueError(
            f"layer {klayer.name!r}: the two directions differ ({forward.get_config()} vs "
            f"{reverse.get_config()}); rnnlab's Bidirectional needs one configuration"
        )
    return [forward, reverse]


# ----------------------------------------------------------------------------- rnnlab -> Keras
def keras_dtype(dtype: Any) -> str:
    return np.dtype(dtype).name


def layer_to_keras(
    layer: Any,
    *,
    return_sequences: bool = True,
    go_backwards: bool = False,
    name: str | None = None,
) -> Any:
    """A built Keras layer with ``layer``'s recurrent weights (the head is not included)."""
    keras = _keras()
    kind = layer_kind(layer)
    H = layer.hidden_size
    dtype = keras_dtype(layer.dtype)
    common = {
        "return_sequences": return_sequences,
        "go_backwards": go_backwards,
        "dtype": dtype,
        "name": name,
    }
    if kind == "rnn":
        klayer = keras.layers.SimpleRNN(H, **common)
    elif kind == "lstm":
        klayer = keras.layers.LSTM(H, **common)
    else:
        klayer = keras.layers.GRU(H, reset_after=layer.reset_after, **common)
    klayer.build((None, None, layer.input_size))
    blocks = inverse(_KERAS_BLOCK[kind])
    kernel = reorder(host(layer._w["W"]), blocks, H).T
    recurrent = reorder(host(layer._w["U"]), blocks, H).T
    b = reorder(host(layer._w["b"]), blocks, H)
    if kind == "gru" and layer.reset_after:
        # the folded z, r biases go into the input row; the recurrent row holds only b_hn
        bias = np.zeros((2, 3 * H), layer.dtype)
        bias[0] = b
        bias[1, 2 * H :] = host(layer._w["b_hn"])
    else:
        bias = b
    klayer.set_weights([kernel, recurrent, bias])
    return klayer


def dense_to_keras(W_hy: Any, b_y: Any, dtype: Any, name: str | None = None) -> Any:
    """A built Keras Dense with kernel W_hyᵀ and bias b_y."""
    keras = _keras()
    output_size, hidden = W_hy.shape
    dense = keras.layers.Dense(output_size, dtype=keras_dtype(dtype), name=name)
    dense.build((None, None, hidden))
    dense.set_weights([host(W_hy).T, host(b_y)])
    return dense


def to_keras(model: Any, *, return_sequences: bool = True) -> Any:
    """Convert an rnnlab model to a ``keras.Sequential`` model.

    Parameters
    ----------
    model : RNNLayer, LSTMLayer or GRULayer (an output head becomes a Dense layer),
        ``rnnlab.models.Bidirectional``, an ``RNN``/``LSTM``/``GRU`` stack, or a ``Sequential``
        of those ending in at most one ``Dense``.
    return_sequences : bool; False makes the last recurrent layer return only its final step,
        as Keras classifiers usually do (not available when that layer is bidirectional).

    Returns
    -------
    ``keras.Sequential`` taking batch-major input (B, T, I) of the model's dtype.
    """
    keras = _keras("to_keras")
    levels, head, _ = levels_of(model)
    first = levels[0][0]
    if not return_sequences and len(levels[-1]) == 2:
        raise ValueError(
            "return_sequences: False is not available for a bidirectional last layer (Keras "
            "would concatenate the reverse direction's final state, not rnnlab's last step)"
        )
    layers = [keras.Input((None, first.input_size), dtype=keras_dtype(first.dtype))]
    for index, level in enumerate(levels):
        sequences = return_sequences or index < len(levels) - 1
        if len(level) == 1:
            layers.append(layer_to_keras(level[0], return_sequences=sequences))
        else:
            layers.append(_bidirectional_to_keras(level))
    if head is not None:
        layers.append(dense_to_keras(head[0], head[1], first.dtype))
    return keras.Sequential(layers)


def _bidirectional_to_keras(level):
    """A built Keras Bidirectional (concat) whose two halves hold ``level``'s weights."""
    keras = _keras()
    forward, reverse = level
    wrapper = keras.layers.Bidirectional(
        layer_to_keras(forward),
        backward_layer=layer_to_keras(reverse, go_backwards=True),
        merge_mode="concat",
        dtype=keras_dtype(forward.dtype),
    )
    wrapper.build((None, None, forward.input_size))
    # Keras may rebuild the wrapped layers from their configs, so set the weights afterwards
    for klayer, layer in ((wrapper.forward_layer, forward), (wrapper.backward_layer, reverse)):
        klayer.set_weights(layer_to_keras(layer).get_weights())
    return wrapper
