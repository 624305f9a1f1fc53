"""Small checks for the assignments' test cells and self-check (NumPy and the standard library only).

The test cells of `assignments/` read like this::

    check(sigmoid_prime, GRID, slope(sigmoid, GRID), atol=1e-5, why="the slope of your sigmoid")

and a failing check says, in one line, which function, at which input, what it returned and what
was expected::

    sigmoid_prime(2.5123) = 0.2, expected 0.07 (the slope of your sigmoid) [40 of 321 values off]

Every call of a student's function is strict: NumPy overflow, invalid and divide warnings are
errors, so a naive `np.exp` is named with the input that overflowed. The module imports no
TensorFlow, so the checks run in a plain NumPy kernel, on Colab too.
"""

from __future__ import annotations

import re
import warnings

import numpy as np

__all__ = ["GRID", "EXTREMES", "values", "check", "slope", "gradient", "partials", "report"]

#: -8..8 in steps of 0.05, shifted so that it misses the kinks at 0 and 6.
GRID = np.linspace(-8.0, 8.0, 321) + 0.0123
#: Inputs where a naive `exp` overflows.
EXTREMES = np.array([-1e4, -1e3, -750.0, -40.0, 40.0, 750.0, 1e3, 1e4])


def _name(fn) -> str:
    return getattr(fn, "__name__", "your function")


def _short(a) -> str:
    """An input as a short literal (arrays as nested lists, long ones cut)."""
    if isinstance(a, np.ndarray):
        a = a.tolist()
    if isinstance(a, np.generic):
        a = a.item()
    text = repr(a)
    return text if len(text) <= 80 else text[:77] + "..."


def _call_text(fn, args, kwargs, out_shape=None, index=None) -> str:
    """`fn(inputs)`; for the output element `index`, each input's element or sample row at `index[0]`
    (and the output's column, `[j]`, when each sample has several outputs)."""
    parts, column = [], ""
    for a in args:
        arr = np.asarray(a) if isinstance(a, (list, tuple, np.ndarray)) else None
        if index is not None and arr is not None and arr.ndim and arr.shape[:1] == tuple(out_shape[:1]):
            a = arr[index[0]]
            if len(out_shape) > 1:
                column = f"[{', '.join(str(int(j)) for j in index[1:])}]"
        parts.append(_short(a))
    parts += [f"{k}={_short(v)}" for k, v in kwargs.items()]
    if index and not column and not any(
            isinstance(a, (list, tuple, np.ndarray)) and np.ndim(a) and np.shape(a)[:1] == tuple(out_shape[:1]) for a in args):
        column = f"[{', '.join(str(int(j)) for j in index)}]"  # an output array of scalar inputs: which element
    return f"{_name(fn)}({', '.join(parts)}){column}"


def _strict(fn, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            return fn(*args, **kwargs)


def _failing_row(fn, args, kwargs) -> str:
    """The call on the first sample (leading index) of the inputs that makes NumPy warn on its own."""
    rows = [np.asarray(a) if isinstance(a, (list, np.ndarray)) and np.ndim(a) else None for a in args]
    n = next((len(r) for r in rows if r is not None), 0)
    for i in range(n):
        sub = [r[i:i + 1] if r is not None and len(r) == n else a for r, a in zip(rows, args)]
        try:
            _strict(fn, sub, kwargs)
        except (FloatingPointError, RuntimeWarning):
            return _call_text(fn, [s[0] if r is not None and len(r) == n else s for r, s in zip(rows, sub)], kwargs)
        except Exception:  # noqa: BLE001  (fails another way on its own: name the whole input)
            break
    return _call_text(fn, args, kwargs)


def _as_input(a):
    """A list of numbers (nested or not) becomes a float64 array: the tasks promise NumPy arrays."""
    if isinstance(a, list) and not any(isinstance(v, (np.ndarray, dict)) for v in a):
        try:
            return np.asarray(a, dtype=np.float64)
        except (TypeError, ValueError):
            return a
    return a


def values(fn, *args, shape=None, strict=True, **kwargs) -> np.ndarray:
    """`fn(*args, **kwargs)` as a float64 array, after checking that it is a finite float array.

    With `strict` (the default) NumPy's overflow, invalid-value and divide-by-zero warnings are
    errors: a check fails with the function and the input that overflowed.

    Args:
        fn: The student's function.
        *args: Its arguments.
        shape: The output shape the task asks for (None: not checked).
        strict: Whether NumPy warnings are errors.
        **kwargs: Keyword arguments for `fn` (e.g. `alpha=0.5`).

    Returns:
        The output as a float64 NumPy array.
    """
    args = tuple(_as_input(a) for a in args)
    try:
        out = _strict(fn, args, kwargs) if strict else fn(*args, **kwargs)
    except (FloatingPointError, RuntimeWarning) as e:
        raise AssertionError(f"{_failing_row(fn, args, kwargs)}: {e} (NumPy warned; use a stable form: the tests run "
                             f"under np.errstate(over='raise'))") from None
    out = np.asarray(out)
    if shape is not None and out.shape != tuple(shape):
        raise AssertionError(f"{_call_text(fn, args, kwargs)} has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype.kind not in "fiub":
        raise AssertionError(f"{_call_text(fn, args, kwargs)} returns dtype {out.dtype}, expected a float array")
    out = out.astype(np.float64)
    bad = np.argwhere(~np.isfinite(out))
    if len(bad):
        i = tuple(bad[0])
        raise AssertionError(f"{_call_text(fn, args, kwargs, out.shape, i)} = {_short(out[i])}, expected a finite number")
    return out


def check(fn, args, want, rtol=1e-9, atol=1e-12, why="", shape=None, strict=True, inputs=None, **kwargs) -> None:
    """Assert `|fn(args) - want| <= atol + rtol |want|` element by element, naming the first miss.

    Args:
        fn: The student's function.
        args: Its argument, or a tuple of its arguments.
        want: The expected values (any shape that broadcasts to the output's).
        rtol, atol: The tolerances (default: "to the last digit" in float64).
        why: What `want` is, for the message (e.g. "the slope of your sigmoid").
        shape: The output shape the task asks for (None: not checked).
        strict: Whether NumPy warnings are errors (see `values`).
        inputs: How to name the inputs in the message (default: the inputs themselves).
        **kwargs: Keyword arguments for `fn`.
    """
    args = tuple(_as_input(a) for a in (args if isinstance(args, tuple) else (args,)))
    got = values(fn, *args, shape=shape, strict=strict, **kwargs)
    want = np.broadcast_to(np.asarray(want, dtype=np.float64), got.shape)
    off = ~(np.abs(got - want) <= atol + rtol * np.abs(want))
    if off.any():
        i = tuple(np.argwhere(off)[0])
        note = f" ({why})" if why else ""
        call = f"{_name(fn)}({inputs})[{', '.join(str(int(j)) for j in i)}]" if inputs else _call_text(fn, args, kwargs, got.shape, i)
        raise AssertionError(f"{call} = {_short(got[i])}, expected {_short(want[i])}{note} "
                             f"[{int(off.sum())} of {off.size} values off]")


def slope(fn, x, h=1e-6, **kwargs) -> np.ndarray:
    """The central difference `(fn(x + h) - fn(x - h)) / 2h`: the slope of `fn` at `x` (float64).

    Args:
        fn: A function of one array (the student's f).
        x: The points.
        h: The step.
        **kwargs: Keyword arguments for `fn`.
    """
    x = np.asarray(x, dtype=np.float64)
    return (values(fn, x + h, **kwargs) - values(fn, x - h, **kwargs)) / (2 * h)


def gradient(c, z, h=1e-6) -> np.ndarray:
    """dC_x/dz of every sample by central differences.

    Args:
        c: The per-sample cost: z of shape (batch, k) -> C_x of shape (batch,).
        z: The point, shape (batch, k).
        h: The step.

    Returns:
        An array of z's shape: `(c(z + h e_j) - c(z - h e_j)) / 2h` in column j.
    """
    z = np.asarray(z, dtype=np.float64)
    g = np.zeros_like(z)
    for j in range(z.shape[-1]):
        up, down = z.copy(), z.copy()
        up[..., j] += h
        down[..., j] -= h
        g[..., j] = (np.asarray(c(up)) - np.asarray(c(down))) / (2 * h)
    return g


def partials(c, arrays, h=1e-6) -> list:
    """The gradient of a scalar `c(arrays)` with respect to each array of a list, by central differences.

    Args:
        c: A function of a list of arrays, returning a number.
        arrays: The point: a list of float arrays.
        h: The step.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for k, a in enumerate(arrays):
        g = np.zeros_like(a)
        for j in np.ndindex(a.shape):
            up, down = [b.copy() for b in arrays], [b.copy() for b in arrays]
            up[k][j] += h
            down[k][j] -= h
            g[j] = (c(up) - c(down)) / (2 * h)
        grads.append(g)
    return grads


def nielsen_cost(weights, biases, x, y, activation="sigmoid", residual=False) -> float:
    """Nielsen's cost of a fully connected network: the forward pass only (ps3's reference for finite differences).

    C = (1/n) sum_x C_x, C_x = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] over the sigmoid outputs a = sigma(W h + b);
    hidden layers h_l = g(W_l h_(l-1) + b_l), or h_(l-1) + g(...) with `residual` where the widths match (not layer 1).

    Args:
        weights, biases: Lists of W_l, shape (n_l, n_(l-1)), and b_l, shape (n_l,), the output layer last.
        x, y: The inputs (n, n_0) and the one-hot targets (n, n_out).
        activation: "sigmoid", "tanh" or "relu".
        residual: Whether hidden layers after the first add their input (identity skips).
    """
    g = {"sigmoid": lambda z: 1 / (1 + np.exp(-z)), "tanh": np.tanh, "relu": lambda z: np.maximum(z, 0)}[activation]
    h = np.asarray(x, dtype=np.float64)
    for l, (W, b) in enumerate(zip(weights[:-1], biases[:-1])):
        z = h @ np.asarray(W).T + b
        h = h + g(z) if residual and l > 0 and z.shape == h.shape else g(z)
    a = 1 / (1 + np.exp(-(h @ np.asarray(weights[-1]).T + biases[-1])))
    return float(-np.mean(np.sum(y * np.log(a) + (1 - y) * np.log(1 - a), axis=1)))


def _syntax_error(name: str) -> str | None:
    """Where the last cell you ran that defines `name` has a syntax error (IPython's history), if it does."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    history = (shell.user_ns.get("_ih") or []) if shell is not None else []
    pattern = re.compile(rf"^\s*(def\s+{re.escape(name)}\b|{re.escape(name)}\s*=)", re.M)
    for source in reversed(history):
        if pattern.search(source):
            try:
                compile(source, "<cell>", "exec")
            except SyntaxError as e:
                return f"line {e.lineno}: {e.msg}: {(e.text or '').strip()}"
            return None
    return None


def report(questions: dict) -> None:
    """Run each question's visible test and print one line per question (the notebook's self-check).

    Args:
        questions: `{question: (points, test)}`; `test()` raises if the question fails.
    """
    width = max(len(q) for q in questions)
    passed = earned = total = 0
    print("Self-check: visible tests only, informational (NOT graded). The grader also runs hidden tests.\n")
    for question, (points, test) in questions.items():
        total += points
        try:
            test()
        except NotImplementedError:
            status = "not done yet (raise NotImplementedError)"
        except NameError as e:
            missing = getattr(e, "name", None) or str(e).split("'")[1 if "'" in str(e) else 0]
            where = _syntax_error(missing)
            status = (f"SYNTAX ERROR in the cell that defines {missing}, {where}" if where else
                      f"not defined yet: {e}. Run the cells above first")
        except AssertionError as failure:
            message = str(failure).strip()
            status = f"FAILED: {message.splitlines()[0] if message else 'assertion failed'}"
        except Exception as e:  # noqa: BLE001  (any other error in the student's code)
            status = f"ERROR: {type(e).__name__}: {e}"
        else:
            status, passed, earned = "ok", passed + 1, earned + points
        print(f"  {question:<{width}}  {points:>2} pts  {status}")
    print(f"\n{passed}/{len(questions)} questions pass their visible tests ({earned}/{total} automatic points).")


def _hint_states(notebook) -> dict:
    states = {}
    for cell in notebook["cells"]:
        if cell.get("cell_type") == "markdown" and "hint" in cell.get("metadata", {}).get("tags", []):
            question = str(cell.get("id", "")).removeprefix("hint-").replace("-", "_")
            states[question] = cell.get("metadata", {}).get("jupyter", {}).get("source_hidden") is True
    return states


def hints_opened(notebook, release=None) -> list[str]:
    """The hints a student opened: the hint cells no longer collapsed in the saved notebook.

    A hint is a markdown cell tagged `"hint"` with the id `hint-<question>`, released with the metadata
    `jupyter.source_hidden = true` (collapsed). JupyterLab, Notebook 7 and JupyterHub clear that flag when
    the student expands the cell, and save it with the notebook. Colab and VS Code show the cell instead
    (its `<details>` block opens with a click, unrecorded), so this is a note for the instructor, not a lock.

    Args:
        notebook: The submitted notebook, as nbformat or plain JSON (`{"cells": [...]}`).
        release: The released notebook; given, a hint cell missing from the submission counts as opened.

    Returns:
        The questions whose hint is open (or missing), sorted.
    """
    states = _hint_states(notebook)
    missing = set(_hint_states(release)) - set(states) if release is not None else set()
    return sorted({q for q, hidden in states.items() if not hidden} | missing)
