"""The wire between the grader and the student's kernel: what a test may send, and what comes back.

Every value that crosses is JSON, never pickle: the grader's :func:`to_wire` encodes a test's
arguments, the collector in the kernel (instructor/collector.py) decodes them and encodes its
answer in the same form, and :func:`from_wire` decodes that answer strictly (anything malformed
is a ``ValueError``). Plain JSON carries None, bool, int, float and str; one-key objects tag the
rest: ``{"T": [...]}`` a tuple, ``{"D": [[key, value], ...]}`` a dict, ``{"C": [re, im]}`` a
complex, ``{"N": [dtype, value]}`` a NumPy scalar, ``{"A": [dtype, shape, data]}`` an array (its
raw bytes in base64 or in a binary buffer: exact by construction), ``{"R": ref}`` a function of
the kernel (a :class:`KernelFunction` proxy on the grader's side) and ``{"G": [bit generator,
state]}`` a ``numpy.random.Generator``. Nothing else travels: an object, a class or an array of
objects raises ``TypeError`` before it is sent.

Reference: https://jupyter-client.readthedocs.io/en/stable/messaging.html#messages-on-the-stdin-router-dealer-channel
"""

from __future__ import annotations

import base64
import math

import numpy as np

#: The largest JSON text one answer of the kernel may be (characters; an array whose base64 alone
#: would be longer, over 48 MB, is refused before it is encoded).
MAX_RESULT_CHARS = 64_000_000
_DTYPE_KINDS = "biufcU"  # bool, integers, floats, complex, str: nothing that holds objects
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def to_wire(x, depth: int = 0, *, buffers: list | None = None):
    """``x`` as the JSON value the collector decodes (strict: plain data and proxies only).

    A NumPy array of numbers or bools travels as its raw bytes in C order, beside its
    ``dtype.str`` (byte order included) and shape: ``{"A": [dtype, shape, data]}``, where
    ``data`` is the index of a binary message buffer appended to ``buffers``, or the bytes in
    base64 when ``buffers`` is ``None``. Exact by construction (float16 to longdouble, NaN
    payloads, big-endian, non-contiguous and 0-d arrays alike). A str array travels as a list.

    Args:
        x: numbers, bool, None, str, lists, tuples, dicts, NumPy arrays and scalars,
            :class:`KernelFunction` proxies, ``numpy.random.Generator``.
        depth: nesting so far (at most 100).
        buffers: where arrays' bytes go (a message's binary buffers), or ``None`` (base64: the
            form the stdin channel carries, whose input replies have no buffers).

    Returns:
        A JSON-serialisable value; ``TypeError`` for anything else.
    """
    if depth > 100:
        raise TypeError("an argument nested more than 100 levels deep cannot be sent to the student's kernel")
    if isinstance(x, KernelFunction):
        return {"R": x._ref}
    if isinstance(x, np.random.Generator):
        name = type(x.bit_generator).__name__
        if name not in _BIT_GENERATORS:
            raise TypeError(f"cannot send a Generator on {name} to the student's kernel")
        return {"G": [name, to_wire(x.bit_generator.state, depth + 1, buffers=buffers)]}
    if isinstance(x, np.generic):
        if x.dtype.kind not in "biufc":
            raise TypeError(f"cannot send a NumPy {x.dtype} scalar to the student's kernel")
        return {"N": [x.dtype.str, to_wire(x.item(), depth + 1)]}
    if x is None or isinstance(x, (bool, str, int, float)):
        return x
    if isinstance(x, complex):
        return {"C": [x.real, x.imag]}
    if isinstance(x, list):
        return [to_wire(v, depth + 1, buffers=buffers) for v in x]
    if isinstance(x, tuple):
        return {"T": [to_wire(v, depth + 1, buffers=buffers) for v in x]}
    if isinstance(x, dict):
        return {"D": [[to_wire(k, depth + 1, buffers=buffers), to_wire(v, depth + 1, buffers=buffers)]
                      for k, v in x.items()]}
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in _DTYPE_KINDS:
            raise TypeError(f"cannot send an array of dtype {x.dtype} to the student's kernel")
        if x.dtype.kind == "U":
            return {"A": [x.dtype.str, list(x.shape), x.ravel().tolist()]}
        raw = np.asarray(x).tobytes()  # C order, whatever the strides; a subclass's plain data
        if buffers is None:
            return {"A": [x.dtype.str, list(x.shape), base64.b64encode(raw).decode("ascii")]}
        buffers.append(raw)
        return {"A": [x.dtype.str, list(x.shape), len(buffers) - 1]}
    raise TypeError(f"cannot send a {type(x).__name__} to the student's kernel: a test may pass only plain data "
                    "(numbers, strings, lists, tuples, dicts, NumPy arrays) and the student's own functions")


def from_wire(x, proxy, depth: int = 0):
    """The value a JSON answer of the collector stands for; anything malformed raises ``ValueError``.

    Args:
        x: a value of ``json.loads``.
        proxy: ``proxy(ref)`` makes the :class:`KernelFunction` of a reference.
        depth: nesting so far (at most 100).

    Returns:
        Plain Python data, NumPy arrays (numeric, bool or str dtypes only; numeric and bool
        ones from the base64 of their bytes, exactly ``prod(shape) * itemsize`` of them, bools
        read as ``byte != 0``) and scalars, ``KernelFunction`` proxies and
        ``numpy.random.Generator``.
    """
    if depth > 100:
        raise ValueError("nested too deeply")
    if x is None or isinstance(x, (bool, str, int, float)):
        return x
    if isinstance(x, list):
        return [from_wire(v, proxy, depth + 1) for v in x]
    if not isinstance(x, dict) or len(x) != 1:
        raise ValueError("malformed answer")
    (tag, v), = x.items()
    if tag == "T" and isinstance(v, list):
        return tuple(from_wire(i, proxy, depth + 1) for i in v)
    if tag == "D" and isinstance(v, list):
        out = {}
        for pair in v:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise ValueError("malformed dict")
            key = from_wire(pair[0], proxy, depth + 1)
            try:
                out[key] = from_wire(pair[1], proxy, depth + 1)
            except TypeError:
                raise ValueError("a dict key that cannot be a key") from None
        return out
    if tag == "C" and isinstance(v, list) and len(v) == 2:
        return complex(float(v[0]), float(v[1]))
    if tag in ("N", "A") and isinstance(v, list) and len(v) == (2 if tag == "N" else 3) and isinstance(v[0], str):
        dtype = np.dtype(v[0])
        if dtype.kind not in (_DTYPE_KINDS if tag == "A" else "biufc"):
            raise ValueError(f"dtype {dtype} is not plain data")
        if tag == "N":
            value = from_wire(v[1], proxy, depth + 1)
            if not isinstance(value, (bool, int, float, complex)):
                raise ValueError("malformed scalar")
            return dtype.type(value)
        shape, data = v[1], v[2]
        if not (isinstance(shape, list) and len(shape) <= 64 and all(type(n) is int and n >= 0 for n in shape)):
            raise ValueError("malformed array")
        n = math.prod(shape)
        if dtype.kind == "U":
            if not (isinstance(data, list) and len(data) == n and all(isinstance(e, str) for e in data)):
                raise ValueError("malformed array")
            return np.array(data, dtype=dtype).reshape(shape)
        if not isinstance(data, str):
            raise ValueError("malformed array")
        raw = base64.b64decode(data, validate=True)  # binascii.Error is a ValueError
        if len(raw) != n * dtype.itemsize:
            raise ValueError(f"malformed array ({len(raw)} bytes for {n} elements of {dtype})")
        if dtype.kind == "b":  # only True and False: a byte other than 0 or 1 is True
            return (np.frombuffer(raw, dtype=np.uint8) != 0).reshape(shape)
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()  # writable, its own memory
    if tag == "R" and isinstance(v, str):
        return proxy(v)
    if tag == "G" and isinstance(v, list) and len(v) == 2 and v[0] in _BIT_GENERATORS:
        g = np.random.Generator(getattr(np.random, v[0])())
        g.bit_generator.state = from_wire(v[1], proxy, depth + 1)
        return g
    raise ValueError("malformed answer")


class KernelFunction:
    """A function of the student's kernel, called from the grader (see the module docstring).

    Args:
        channel: the :class:`TrustedExecute` whose kernel holds the function.
        ref: its name in the kernel's namespace (or ``#n`` for one that a call returned).
        name: the name shown in messages (default: ``ref``).
    """

    def __init__(self, channel, ref: str, name: str | None = None):
        self._channel, self._ref = channel, ref
        self.__name__ = self.__qualname__ = name or ref

    def __call__(self, *args, **kwargs):
        return self._channel.call_kernel(self, args, kwargs)

    def __repr__(self):
        return f"<your function {self.__name__} (it runs in your notebook's kernel)>"
