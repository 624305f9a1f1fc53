"""Trusted verdicts: grade cells run in the grader process, never in the student's kernel.

:class:`TrustedExecute` is :class:`~instructor.robust_execute.RobustExecute` (which starts and
confines the kernel) with one change. The kernel runs every cell of the student's notebook
except the grade cells (nbgrader ``grade: true`` code cells that are not solution cells: the
tests). For each of those, the grader:

1. takes the cell with the same ``grade_id`` from the MASTER notebook,
   ``<course>/<source_directory>/<assignment>/<notebook>.ipynb`` (hidden tests included), read
   once per worker and kept in memory (:func:`master_tests`);
2. finds the source's free names (:func:`free_names`: read but never bound by the cell, not
   builtins, not imported) and resolves them from the kernel in one round trip: a callable
   becomes a :class:`KernelFunction` proxy, anything else is fetched as plain data, and a name
   the kernel does not have stays unbound (the test's ``NameError`` becomes "X is not
   defined: ...");
3. executes the source in a fresh namespace inside the grader process. Calling a proxy sends
   its arguments to the kernel as JSON, never pickle (numbers, bool, None, str, lists, tuples,
   dicts, NumPy arrays and scalars with dtype and shape, proxies by name; anything else raises
   ``TypeError`` in the grader); a numeric or bool array travels as its raw bytes in base64
   beside its ``dtype.str`` (byte order included) and shape, exact by construction (the wire:
   instructor/wire.py). The kernel runs the call under the caller's ``np.geterr()`` settings
   and simple warning filters (so a test's ``np.errstate(over="raise")`` or
   ``warnings.simplefilter("error")`` keeps its meaning) and answers with the result in the same
   encoding (at most ``MAX_RESULT_CHARS`` characters), or the exception: a builtin
   ``Exception`` subclass comes back as itself (``ValueError``, ``FloatingPointError``,
   ``NotImplementedError``...), anything else as :class:`StudentCodeError`;
4. turns the outcome into nbgrader outputs: what the test printed becomes a stdout stream, a
   final expression's value an ``execute_result`` (nbgrader's partial credit), and an exception
   an error output whose message is the test's (its traceback never quotes the master; an
   exception from the student's code shows the student's traceback). ``SaveAutoGrades`` then
   scores as usual. A question whose data never arrives (a missing name, a kernel that died or
   hung, a collector the student broke) scores 0.

The channel: each grade cell is ONE execute request of the grader's own (``allow_stdin``,
``store_history=False``), sent on the kernel client's shell socket. Its source installs a small,
non-secret collector (instructor/collector.py) and runs its loop, which asks the grader for work
with input requests on the kernel's stdin socket (Jupyter's stdin channel, as the kernel's own
``raw_input`` asks): the grader's request (``resolve``, then
each ``call``, JSON with a sequence number) is the value of the ``input_reply``, and the
collector's answer is the prompt of its next ``input_request``; "done" ends the loop when the
test ends (passed, failed or raised), and the grader waits for the request's reply and its idle
status before nbclient runs the next cell. What the student's code prints during calls is
dropped. While the student's code runs, the collector turns the kernel's stdin off, so
``input()`` and ``getpass`` raise ``StdinNotImplementedError`` as in any other cell. The test's
time limit covers every wait: past it the kernel is interrupted and gets nbclient's grace
(``iopub_timeout``): an answer (the student's code got ``KeyboardInterrupt``) makes that call a
``TimeoutError`` and the loop starts again for the test's next call; no answer is a hung kernel
(``CellTimeoutError``: ``KernelHung``), and a kernel that dies during a wait (polled every
second) is ``DeadKernelError`` (``KernelDied``). Anything else on the channel (an input request
of the student's own, a prompt that is not the answer awaited, a loop that ends or never starts
because the student broke the collector) is a ``NoAnswer`` for that call, and the loop is ended
and started again before the next one, so it costs at most that test.

Only the collector and the test inputs enter the kernel, so monkeypatching, ``sys.modules``
poisoning, input transformers, ``sys.settrace``, a replaced ``builtins.input`` or a hidden
traceback in the kernel change the student's own data at most, never a verdict; and ``In``,
``_i``, ``_ih``, ``Out`` and the kernel's history never hold a test (nor a request: those travel
on the stdin channel, outside the cells' sources).

Two additions to the contract (the grading map), the smallest the existing masters needed:

* a ``numpy.random.Generator`` argument is sent as its bit generator's state, and the state the
  kernel's copy ends in is copied back into the grader's generator after the call (ps3 passes
  ``np.random.default_rng(seed)`` to the student's ``init_network``);
* a callable that the student's function returns (a closure) comes back as a proxy too.

Grade cells that are also solution cells (autograded answers) still run in the kernel: they are
the student's code. nbgrader's Validate and the Colab self-check are unchanged (they run the
visible tests in the student's own kernel).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import math
import os
import symtable
import time
import warnings

import numpy as np
import zmq
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils

from . import informational
from .collector import SERVE, SERVE_AGAIN
from .robust_execute import RobustExecute
from .wire import MAX_RESULT_CHARS, KernelFunction, from_wire, to_wire

class StudentCodeError(Exception):
    """An exception from the student's code that is not a builtin ``Exception`` subclass (a class
    of their own, ``SystemExit``, ``KeyboardInterrupt``...), or a call whose answer never came.

    Args:
        ename: the name of the exception's class in the kernel.
        message: its message.
        kernel_traceback: the traceback in the kernel (the student's code only).
    """

    def __init__(self, ename: str, message: str, kernel_traceback: str = ""):
        super().__init__(message)
        self.ename, self.kernel_traceback = ename, kernel_traceback


def _student_exception(ename: str, message: str, tb: str) -> Exception:
    """The grader-side exception for one the student's code raised in the kernel: the builtin
    class of that name when it is an ``Exception`` subclass, else :class:`StudentCodeError`."""
    cls = getattr(builtins, ename, None)
    exc = None
    if isinstance(cls, type) and issubclass(cls, Exception):
        with contextlib.suppress(Exception):
            exc = cls(message)
    if exc is None:
        return StudentCodeError(ename, message, tb)
    exc.kernel_traceback = tb
    return exc


class _KernelLost(BaseException):
    """The kernel died or hung during a call: not an ``Exception``, so a test's ``except
    Exception`` cannot swallow it; :meth:`TrustedExecute.execute_cell` re-raises its cause."""


def free_names(source: str) -> set[str]:
    """The names ``source`` reads but never binds: not assigned, defined or imported at its top
    level, not local where they are read, and not builtins.

    Args:
        source: Python code (a test cell).

    Returns:
        The names the code needs from the student's notebook.

    Reference: https://docs.python.org/3/library/symtable.html
    """
    top = symtable.symtable(source, "<test>", "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    names, todo = set(), [top]
    while todo:
        table = todo.pop()
        todo.extend(table.get_children())
        for s in table.get_symbols():
            if s.is_referenced() and (table is top or s.is_global()):
                names.add(s.get_name())
    return {n for n in names - bound if not hasattr(builtins, n)}


# --- the masters ------------------------------------------------------------------------------------

_MASTERS: dict = {}  # path -> (mtime_ns, {grade_id: (source, code, final expression or None, hidden lines)})


def master_tests(path: str) -> dict:
    """``{grade_id: (source, code, final_expression, hidden_lines)}`` of the test cells of the
    master notebook at ``path``, compiled once per worker process (again when the file changes).

    Args:
        path: the master notebook.

    Returns:
        For each grade cell that is not a solution cell: its source, the code of all but a
        final expression statement, that expression's code (``None`` if there is none), and the
        numbers of the lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``.
    """
    import nbformat

    mtime = os.stat(path).st_mtime_ns
    cached = _MASTERS.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    tests = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):
            gid = cell.metadata["nbgrader"]["grade_id"]
            tree = ast.parse(cell.source)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = compile(ast.Expression(tree.body.pop().value), f"<test {gid}>", "eval")
            hidden, inside = set(), False
            for number, line in enumerate(cell.source.splitlines(), 1):
                inside = (inside or "BEGIN HIDDEN TESTS" in line) and "END HIDDEN TESTS" not in line
                if inside:
                    hidden.add(number)
            tests[gid] = (cell.source, compile(tree, f"<test {gid}>", "exec"), last, hidden)
    _MASTERS[path] = (mtime, tests)
    return tests


def _error_output(ename: str, evalue: str, details: str = "") -> NotebookNode:
    lines = [f"\x1b[0;31m{ename}\x1b[0m: {evalue}"] + ([details] if details else [])
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=lines)


def is_trusted_cell(cell) -> bool:
    """Whether the grader decides ``cell`` itself: a grade cell of code that is not a solution."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


class TrustedExecute(RobustExecute):
    """``RobustExecute`` that decides grade cells in the grader process (module docstring)."""

    def preprocess(self, nb, resources=None, km=None):
        self._tests, self._master_error = {}, None
        self._loop, self._shadows = None, None
        # grade_id -> seconds / round trips / characters both ways (sources, requests, answers)
        self.trusted_seconds, self.trusted_round_trips, self.trusted_bytes = {}, {}, {}
        path = informational.master_path(self.config, resources)
        if path is not None:
            try:
                self._tests = master_tests(path)
            except (OSError, SyntaxError, ValueError) as exc:
                self._master_error = f"the master notebook {path} cannot be read: {exc}"
                self.log.error("%s", self._master_error)
        return super().preprocess(nb, resources, km)

    # -- the round trips: the collector's loop on the kernel's stdin channel ------------------

    def _sockets(self) -> tuple:
        """``(shell, stdin, iopub, poller)``: blocking twins (ZeroMQ shadows) of the kernel
        client's sockets, read here without an event loop (nbclient reads none of them between
        its cells), and a poller on the three."""
        if self._shadows is None or self._shadows[0] is not self.kc:
            kc = self.kc
            sockets = [zmq.Socket.shadow(channel.socket.underlying)
                       for channel in (kc.shell_channel, kc.stdin_channel, kc.iopub_channel)]
            poller = zmq.Poller()
            for socket in sockets:
                poller.register(socket, zmq.POLLIN)
            self._shadows = (kc, *sockets, poller)
        return self._shadows[1:]

    def _count(self, sent: int = 0, received: int = 0, trip: bool = False) -> None:
        gid = self._gid
        self.trusted_bytes[gid] = self.trusted_bytes.get(gid, 0) + sent + received
        if trip:
            self.trusted_round_trips[gid] = self.trusted_round_trips.get(gid, 0) + 1

    def _start_loop(self, source: str) -> None:
        """Send the execute request that runs the collector's loop (``source``) and wait for its
        first input request (the collector is ready); :class:`StudentCodeError` when the
        request ends without one (the student broke the collector)."""
        shell, stdin, _, _ = self._sockets()
        while True:  # stale input requests (a thread of the student's asking for input)
            try:
                stdin.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
        content = {"code": source, "silent": False, "store_history": False, "user_expressions": {},
                   "allow_stdin": True, "stop_on_error": False}
        msg = self.kc.session.msg("execute_request", content)
        self.kc.session.send(shell, msg)
        # the request's id, the last request's number, whether the kernel waits for an input reply,
        # the request's reply and idle status once they came, whether anything else came on the
        # channel (the loop is ended before the next request), when to check that the kernel lives
        self._loop = {"id": msg["header"]["msg_id"], "n": 0, "waiting": False, "reply": None, "idle": False,
                      "broken": False, "check": time.monotonic() + 1}
        self._count(sent=len(source))
        self._answer(*self._receive(), n=0)

    def _ask(self, request: dict) -> dict:
        """One round trip: ``request`` to the collector as the reply to its input request, and
        its answer, the prompt of its next one (the loop is started first if it is not running).

        Args:
            request: ``{"op": "resolve", "names": [...]}`` or ``{"op": "call", ...}``.

        Returns:
            The answer (a dict); :class:`StudentCodeError` when none came.
        """
        loop = self._loop
        if loop is not None and (loop["broken"] or loop["reply"] is not None):
            self._end_loop()
        if self._loop is None:
            self._start_loop(SERVE_AGAIN)
        loop = self._loop
        loop["n"] += 1
        text = json.dumps({"n": loop["n"], **request})
        self._count(sent=len(text), trip=True)
        self._reply(text)
        return self._answer(*self._receive(), n=loop["n"])

    def _reply(self, text: str) -> None:
        """Answer the kernel's pending input request with ``text``."""
        _, stdin, _, _ = self._sockets()
        self.kc.session.send(stdin, "input_reply", {"value": text})
        self._loop["waiting"] = False

    def _answer(self, kind: str, value, n: int) -> dict:
        """The collector's answer number ``n`` from the event ``(kind, value)`` of :meth:`_receive`;
        :class:`StudentCodeError` ("NoAnswer") for the end of the loop or a prompt that is not
        that answer (then the loop is ended before the next request)."""
        loop = self._loop
        if kind == "reply":
            status, ename, evalue = (str(value.get(k, "")) for k in ("status", "ename", "evalue"))
            self.log.warning("trusted test %s: no answer to request %d (the collector's loop ended: %s %s %s)",
                             self._gid, n, status, ename, evalue[:200])
            why = f"{ename}: {evalue}"[:300] if status == "error" else f"its reply: {status}"
            raise StudentCodeError("NoAnswer", f"the grader got no answer from your notebook's kernel ({why})")
        answer = None
        if isinstance(value, str) and len(value) <= MAX_RESULT_CHARS:
            self._count(received=len(value))
            with contextlib.suppress(ValueError, RecursionError):
                answer = json.loads(value)
        if not (isinstance(answer, dict) and answer.get("n") == n):
            loop["broken"] = True  # someone else asked for input: end the loop before the next request
            self.log.warning("trusted test %s: an input request that is not answer %d (%r...)", self._gid, n,
                             str(value)[:80])
            raise StudentCodeError("NoAnswer", "the grader got something else than its answer from your notebook's "
                                   "kernel (did your code ask for input?)")
        return answer

    def _receive(self) -> tuple:
        """The loop's next event within the test's time limit: ``("input", prompt)`` or
        ``("reply", content)``. After the limit the kernel is interrupted and gets nbclient's
        grace (``iopub_timeout``) to answer: then the call is a ``TimeoutError`` (and the loop is
        ended before the next request), else the kernel is lost (:class:`_KernelLost` from a
        ``CellTimeoutError``); a dead kernel, :class:`_KernelLost` from a ``DeadKernelError``."""
        event = self._next_event(self._until())
        if event is None:
            self._interrupt()
            event = self._next_event(time.monotonic() + self.iopub_timeout)
            if event is None:
                raise _KernelLost() from CellTimeoutError(
                    f"the kernel did not answer within {self.iopub_timeout} s of being interrupted")
            self._loop["broken"] = True
            raise StudentCodeError("TimeoutError", "your code ran past this test's time limit and was interrupted")
        return event

    def _until(self) -> float | None:
        """When a wait for the kernel gives up: the test's deadline, at least 1 s from now (as
        nbclient's limit of a cell), or ``None`` (no limit)."""
        if not self._test_deadline:
            return None
        return time.monotonic() + max(1, math.ceil(self._test_deadline - time.monotonic()))

    def _next_event(self, until: float | None):
        """Wait until ``until`` (monotonic seconds, ``None``: no limit) for the next message of
        the collector's loop: ``("input", prompt)`` (an input request; the kernel now waits for
        a reply), ``("reply", content)`` (the loop's execute reply: it ended), ``("idle", None)``
        (its idle status, once the reply came) or ``None`` at ``until``. Other messages are
        dropped (the student's prints). Checks every second that the kernel is alive."""
        shell, stdin, iopub, poller = self._sockets()
        loop = self._loop
        while True:
            now = time.monotonic()
            if now >= loop["check"]:
                self._check_alive()
                loop["check"] = now + 1
            if until is not None and now >= until:
                return None
            wait = min(loop["check"], until) if until is not None else loop["check"]
            ready = dict(poller.poll(math.ceil(max(0.0, wait - now) * 1000)))
            if iopub in ready:
                self._drain_iopub(iopub)
                if loop["idle"] and loop["reply"] is not None:
                    return "idle", None
            if stdin in ready:
                msg = self._recv(stdin)
                if msg is not None and msg["header"].get("msg_type") == "input_request":
                    loop["waiting"] = True
                    same = msg["parent_header"].get("msg_id") == loop["id"]
                    return "input", (msg["content"] or {}).get("prompt") if same else None
            if shell in ready:
                msg = self._recv(shell)
                if msg is not None and msg["parent_header"].get("msg_id") == loop["id"]:
                    # (the kernel may still wait for an input reply if the reply was forged: the
                    # loop's end answers "done" to it anyway)
                    loop["reply"] = msg["content"] or {"status": "?"}
                    return "reply", loop["reply"]

    def _recv(self, socket):
        """The next message on ``socket`` (deserialized, signature checked), or ``None``."""
        try:
            _, msg = self.kc.session.recv(socket, mode=zmq.NOBLOCK)
        except Exception as exc:  # a message that is not Jupyter's (the kernel is the student's)
            self.log.warning("trusted test %s: a malformed message from the kernel dropped (%s)", self._gid, exc)
            return None
        parts = ("header", "parent_header", "content")
        if not (isinstance(msg, dict) and all(isinstance(msg.get(k), dict) for k in parts)):
            return None
        return msg

    def _drain_iopub(self, iopub) -> None:
        """Read what iopub holds, noting the loop's idle status; the rest (the student's prints
        during calls) is dropped, as a transient cell's outputs were."""
        session, loop = self.kc.session, self._loop
        while True:
            try:
                frames = iopub.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                _, frames = session.feed_identities(frames)
                msg = session.deserialize(frames, content=False)
                if (msg["header"].get("msg_type") == "status" and msg["parent_header"].get("msg_id") == loop["id"]
                        and json.loads(msg["content"]).get("execution_state") == "idle"):
                    loop["idle"] = True
            except Exception:
                continue

    def _check_alive(self) -> None:
        if not run_sync(self._is_alive)():
            self.log.error("trusted test %s: the kernel died", self._gid)
            raise _KernelLost() from DeadKernelError("Kernel died")

    async def _is_alive(self) -> bool:
        return await ensure_async(self.km.is_alive())

    def _interrupt(self) -> None:
        """Interrupt the kernel, as nbclient does after a cell's time limit."""
        self.log.error("trusted test %s: past its time limit; interrupting the kernel", self._gid)
        run_sync(self._interrupt_async)()

    async def _interrupt_async(self) -> None:
        await ensure_async(self.km.interrupt_kernel())

    def _end_loop(self) -> None:
        """End the collector's loop: "done" to every input request until its execute reply, then
        its idle status, so that nbclient's next cell finds the kernel as after any cell.

        Within the test's time limit (at least 1 s), then the interrupt and nbclient's grace;
        :class:`_KernelLost` if the kernel still does not finish (or the idle status never
        comes and ``raise_on_iopub_timeout``).
        """
        loop = self._loop
        if loop is None:
            return
        try:
            if loop["waiting"]:
                self._reply("done")
            until, interrupted = self._until(), False
            while loop["reply"] is None:
                event = self._next_event(until)
                if event is None:
                    if interrupted:
                        raise _KernelLost() from CellTimeoutError(
                            f"the kernel did not finish within {self.iopub_timeout} s of being interrupted")
                    self._interrupt()
                    until, interrupted = time.monotonic() + self.iopub_timeout, True
                elif event[0] == "input":
                    self._reply("done")
            until = time.monotonic() + self.iopub_timeout
            while not loop["idle"]:
                event = self._next_event(until)
                if event is None:
                    if self.raise_on_iopub_timeout:
                        raise _KernelLost() from CellTimeoutError("Timeout waiting for IOPub output")
                    self.log.warning("Timeout waiting for IOPub output")
                    break
                if event[0] == "input":
                    self._reply("done")
        finally:
            self._loop = None

    def call_kernel(self, fn: KernelFunction, args, kwargs):
        """``fn(*args, **kwargs)`` run in the kernel (module docstring, step 3)."""
        gens = [a for a in list(args) + list(kwargs.values()) if isinstance(a, np.random.Generator)]
        simple = [[action, category.__name__] for action, message, category, module, lineno in warnings.filters
                  if (message is None or message.pattern == "") and module is None and not lineno
                  and getattr(builtins, category.__name__, None) is category][:20]
        request = {"op": "call", "f": fn._ref, "a": to_wire(list(args)),
                   "k": {"D": [[k, to_wire(v)] for k, v in kwargs.items()]}, "e": np.geterr(), "w": simple}
        answer = self._ask(request)
        proxy = lambda ref: KernelFunction(self, ref, f"the function {fn.__name__} returned")  # noqa: E731
        try:
            if "err" in answer:
                ename, message, tb = (str(v) for v in answer["err"])
            else:
                value = from_wire(answer["ok"], proxy)
                states = [from_wire(s, proxy) for s in answer.get("g", [])]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StudentCodeError("NoAnswer", f"the grader could not read what {fn.__name__} returned ({exc})") from None
        if "err" in answer:
            raise _student_exception(ename, message, tb)
        if len(states) == len(gens):
            for g, state in zip(gens, states):
                with contextlib.suppress(Exception):
                    g.bit_generator.state = state
        return value

    def resolve(self, names) -> tuple[dict, dict]:
        """Start the collector's loop, and one round trip: ``(namespace entries, {name: why it is
        absent})`` for ``names``."""
        self._start_loop(SERVE)
        answer = self._ask({"op": "resolve", "names": sorted(names)}).get("names")
        ns, absent = {}, {}
        for name in names:
            kind = answer.get(name) if isinstance(answer, dict) else None
            if not isinstance(kind, list) or not kind:
                absent[name] = "missing"
            elif kind[0] == "fn":
                ns[name] = KernelFunction(self, name)
            elif kind[0] == "data" and len(kind) == 2:
                try:
                    ns[name] = from_wire(kind[1], lambda ref: KernelFunction(self, ref, f"part of {name}"))
                except (ValueError, TypeError):
                    absent[name] = "malformed"
            elif kind[0] == "unsendable":
                absent[name] = f"unsendable:{kind[1] if len(kind) > 1 else '?'}"
            else:
                absent[name] = "missing"
        return ns, absent

    # -- the grade cells ---------------------------------------------------------------------

    def execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if not is_trusted_cell(cell):
            return super().execute_cell(cell, cell_index, execution_count, store_history)
        start = time.perf_counter()
        timeout = super()._get_timeout(cell)  # the cell's limit, cut to the notebook's budget
        self._test_deadline = time.monotonic() + timeout if timeout else None
        self._gid = cell.metadata["nbgrader"]["grade_id"]
        try:
            cell.outputs = self.run_test(cell)
        except _KernelLost as lost:
            self._loop = None
            cell.outputs = []
            raise lost.__cause__ from None  # RobustExecute records KernelDied / KernelHung
        finally:
            self.trusted_seconds[self._gid] = time.perf_counter() - start
            self.log.debug("trusted test %s: %.3f s, %d round trips, %d characters", self._gid,
                           self.trusted_seconds[self._gid], self.trusted_round_trips.get(self._gid, 0),
                           self.trusted_bytes.get(self._gid, 0))
        cell.execution_count = None
        self.nb.cells[cell_index] = cell
        return cell

    def run_test(self, cell) -> list:
        """The outputs of a grade cell: its master test, run here (module docstring, steps 1-4);
        the collector's loop is ended before it returns (not when the kernel was lost)."""
        gid = cell.metadata["nbgrader"]["grade_id"]
        if gid not in self._tests:
            why = self._master_error or f"the master notebook has no test '{gid}'"
            return [_error_output("GradingError", f"this cell could not be graded: {why}")]
        lost = False
        try:
            return self._outputs(gid)
        except _KernelLost:
            lost = True
            raise
        finally:
            if not lost:
                self._end_loop()

    def _outputs(self, gid: str) -> list:
        source, code, last, hidden = self._tests[gid]
        try:
            ns, absent = self.resolve(free_names(source))
        except StudentCodeError as exc:  # the kernel did not answer: the question's data never arrives
            return [verdict(exc)]
        namespace = {"__name__": "__main__", "__builtins__": builtins, **ns}
        printed, result, error = io.StringIO(), None, None
        saved = np.geterr()
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
                exec(code, namespace)
                if last is not None:
                    result = eval(last, namespace)
        except _KernelLost:
            raise
        except BaseException as exc:  # the test failed, or the student's code raised through it
            error = exc
        finally:
            np.seterr(**saved)
        outputs = []
        if printed.getvalue():
            outputs.append(NotebookNode(output_type="stream", name="stdout", text=printed.getvalue()))
        if error is not None:
            outputs.append(verdict(error, absent, _raised_in(error, f"<test {gid}>", hidden)))
        elif result is not None:
            outputs.append(NotebookNode(output_type="execute_result", execution_count=None, metadata=NotebookNode(),
                                        data=NotebookNode({"text/plain": repr(result)})))
        return outputs


def _raised_in(error: BaseException, filename: str, lines: set) -> bool:
    """Whether ``error`` passed through one of ``lines`` of the code compiled as ``filename``."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename and tb.tb_lineno in lines:
            return True
        tb = tb.tb_next
    return False


def verdict(error: BaseException, absent: dict | None = None, hidden: bool = False) -> NotebookNode:
    """The error output of a failed test: the test's message, never the master's source.

    Args:
        error: what the test raised.
        absent: ``{name: why}`` for the test's names that the kernel could not give.
        hidden: whether a hidden test raised it (the feedback says so).

    Returns:
        An nbgrader error output (``ename``, ``evalue``, a short traceback).
    """
    absent = absent or {}
    ename, evalue = type(error).__name__, str(error)
    if isinstance(error, NameError) and getattr(error, "name", None) in absent:
        name, why = error.name, absent[error.name]
        if why.startswith("unsendable:"):
            evalue = (f"{name} is a {why.split(':', 1)[1]} in your notebook: the grader can read only plain data "
                      "(numbers, strings, lists, tuples, dicts, NumPy arrays) and call your functions")
        else:
            evalue = (f"{name} is not defined: your notebook has no '{name}' when this test runs (check its "
                      "spelling, and that the cell defining it runs without an error)")
    elif isinstance(error, StudentCodeError):
        ename = error.ename
    tb = getattr(error, "kernel_traceback", "")
    details = f"raised by your code:\n{tb.rstrip()}" if tb else ""
    if hidden:
        details = "(raised by a hidden test; its code is not shown)" + (f"\n{details}" if details else "")
    return _error_output(ename, evalue or "(no message)", details)
