"""Parameter storage shared by every module: named live views, and the seed rule.

A layer keeps its parameters in one flat buffer; :class:`ParamDict` maps the guide's names
(``W_f``, ``U_z``, ``b_h`` ...) to views into it, so reading a name gives the live array and
assigning a name copies into the buffer. :func:`make_rng` is the one rule for turning a ``seed``
argument into a NumPy Generator.
"""

from __future__ import annotations

import copy
import numbers

import numpy as np

from .backend import xp_of

__all__ = ["ParamDict", "make_rng"]


class ParamDict(dict):
    """name -> array view into a layer's storage.

    Reading gives the live array (writing into it, ``p["W_f"][...] = 0``, changes the layer).
    Assigning a key copies the new values into the storage, after a shape check, so the layer
    and the dict can never drift apart; ``update`` and ``|=`` assign key by key the same way.
    The set of names is fixed: keys cannot be added or removed.
    """

    def __setitem__(self, key, value):
        if key not in self:
            raise KeyError(f"no parameter named {key!r}; the names are {list(self)}")
        target = dict.__getitem__(self, key)
        xp = xp_of(target)
        new = xp.asarray(value)
        if new.dtype.kind not in "fiu":
            raise TypeError(f"{key}: expected real numbers, got dtype {new.dtype}")
        if new.shape != target.shape:
            raise ValueError(f"{key}: expected shape {target.shape}, got {tuple(new.shape)}")
        target[...] = new

    def update(self, other=(), /, **kwargs):
        # dict.update would replace the views by the caller's arrays, detaching the dict from
        # the layer without a word; copy through __setitem__ instead.
        items = other.items() if hasattr(other, "items") else other
        for key, value in (*items, *kwargs.items()):
            self[key] = value

    def __ior__(self, other):  # type: ignore[misc]  # dict | merges; here it assigns
        self.update(other)
        return self

    def _fixed_keys(self, *args, **kwargs):
        raise TypeError("params: the parameter names of a layer are fixed; assign values instead")

    __delitem__ = pop = popitem = clear = setdefault = _fixed_keys

    def __copy__(self):
        return ParamDict(self)  # the same live views

    def __reduce__(self) -> tuple:
        # pickle would rebuild a dict subclass key by key through __setitem__, which refuses
        # new names; build it in one go instead. A module re-creates its views after unpickling
        # (a view pickled on its own is a copy), see _RecurrentLayer.__setstate__.
        return (ParamDict, (dict(self),))

    def __deepcopy__(self, memo):
        # A snapshot (e.g. the best parameters so far): the same names over copies of the
        # arrays, detached from the layer. dict's constructor bypasses __setitem__ on purpose.
        return ParamDict({name: copy.deepcopy(value, memo) for name, value in self.items()})


def make_rng(seed, name="seed") -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:  # NumPy's own message would not say which argument was wrong
            raise ValueError(f"{name}: expected a non-negative integer, got {seed}")
        return np.random.default_rng(int(seed))
    raise TypeError(f"{name}: expected None, an integer or a numpy Generator, got {seed!r}")


_make_rng = make_rng  # the name the models used before this module existed
