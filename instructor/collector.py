"""The collector: the only code of ours that the student's kernel runs (instructor/trusted.py).

:data:`AGENT` is its source. The grader installs it in the kernel at the start of each grade
cell's one execute request (:data:`SERVE`), and its loop then asks the grader for work on the
kernel's stdin channel: ``resolve`` (what the test's free names are in the student's namespace)
and ``call`` (run one of the student's functions on arguments in the wire's JSON,
instructor/wire.py). It decides nothing and holds no secret: a student who breaks it loses the
answers to that test's calls, never anyone else's verdict.
"""

from __future__ import annotations

from .wire import MAX_RESULT_CHARS

#: Installed in the kernel before each grade cell, whose execute request then runs its
#: :meth:`serve` loop. It answers two requests: ``resolve`` (what the test's names are) and
#: ``call`` (run a function on JSON arguments). Nothing in it is secret.
AGENT = r"""
class _TrustedCollector:
    class ResultTooLarge(Exception):
        pass

    def __init__(self, ns):
        import base64, builtins, json, sys
        self.ns, self.refs, self.builtins, self.json, self.sys, self.b64 = ns, {}, builtins, json, sys, base64
        ip = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
        self.kernel = getattr(ip, "kernel", None)

    def enc(self, x, depth=0):
        if depth > 100:
            raise TypeError("nested too deeply")
        np = self.sys.modules.get("numpy")
        if np is not None and isinstance(x, np.random.Generator):
            return {"G": [type(x.bit_generator).__name__, self.enc(x.bit_generator.state, depth + 1)]}
        if np is not None and isinstance(x, np.generic):
            if x.dtype.kind not in "biufc":
                raise TypeError("cannot send a NumPy %s to the grader" % x.dtype)
            return {"N": [x.dtype.str, self.enc(x.item(), depth + 1)]}
        if x is None or isinstance(x, bool):
            return None if x is None else bool(x)
        if isinstance(x, str):
            return str(x)
        if isinstance(x, int):
            return int(x)
        if isinstance(x, float):
            return float(x)
        if isinstance(x, complex):
            return {"C": [x.real, x.imag]}
        if isinstance(x, list):
            return [self.enc(v, depth + 1) for v in x]
        if isinstance(x, tuple):
            return {"T": [self.enc(v, depth + 1) for v in x]}
        if isinstance(x, dict):
            return {"D": [[self.enc(k, depth + 1), self.enc(v, depth + 1)] for k, v in x.items()]}
        if np is not None and (isinstance(x, np.ndarray) or hasattr(x, "__array__")):
            a = np.asarray(x)
            if a.dtype.kind not in "biufcU":
                raise TypeError("cannot send an array of dtype %s to the grader" % a.dtype)
            if a.dtype.kind == "U":
                return {"A": [a.dtype.str, list(a.shape), a.ravel().tolist()]}
            if a.nbytes > __LIMIT__ // 4 * 3:  # its base64 alone would be over the limit
                raise self.ResultTooLarge("the result is larger than the grader accepts (%d bytes of arrays)" % a.nbytes)
            return {"A": [a.dtype.str, list(a.shape), self.b64.b64encode(a.tobytes()).decode("ascii")]}
        if callable(x):
            name = "#%d" % len(self.refs)
            self.refs[name] = x
            return {"R": name}
        raise TypeError("cannot send a %s to the grader (only numbers, strings, lists, tuples, dicts, "
                        "NumPy arrays and functions)" % type(x).__name__)

    def dec(self, x, gens):
        if isinstance(x, list):
            return [self.dec(v, gens) for v in x]
        if not isinstance(x, dict):
            return x
        (tag, v), = x.items()
        np = self.sys.modules.get("numpy")
        if tag == "T":
            return tuple(self.dec(i, gens) for i in v)
        if tag == "D":
            return {self.dec(k, gens): self.dec(i, gens) for k, i in v}
        if tag == "C":
            return complex(v[0], v[1])
        if tag == "N":
            return np.dtype(v[0]).type(self.dec(v[1], gens))
        if tag == "A":
            dtype, data = np.dtype(v[0]), v[2]
            if isinstance(data, list):  # str arrays
                return np.array(data, dtype=dtype).reshape(v[1])
            raw = self.b64.b64decode(data)
            return np.frombuffer(raw, dtype=dtype).reshape(v[1]).copy()  # a writable array of its own
        if tag == "R":
            return self.lookup(v)
        if tag == "G":
            g = np.random.Generator(getattr(np.random, v[0])())
            g.bit_generator.state = self.dec(v[1], gens)
            gens.append(g)
            return g
        raise ValueError("unknown tag %r" % tag)

    def lookup(self, name):
        return self.refs[name] if name.startswith("#") else self.ns[name]

    def serve(self):
        # The grader's requests arrive as the replies to input requests on the kernel's stdin
        # socket, and each answer travels as the prompt of the next one, until the grader says
        # "done". The requests are sent and read here as the kernel's raw_input does, less its
        # flushes of stdout and stderr and its polls every 10 ms (0.6 ms of the kernel's CPU a
        # round trip); a kernel without the attributes this needs uses its class's raw_input.
        kernel = self.kernel
        try:
            read = self.reader(kernel)
        except AttributeError:
            read = type(kernel).raw_input.__get__(kernel)
        prompt = self.text({"n": 0})  # ready
        while True:
            request = read(prompt)
            if request == "done":
                return
            prompt = self.text(self.answer(request))

    def reader(self, kernel):
        # ipykernel 7's names: an AttributeError here (another version) makes serve() use
        # raw_input. As in raw_input, each read looks up the kernel's session and stdin socket.
        import zmq
        ident, parent = kernel._get_shell_context_var(kernel._shell_parent_ident), kernel.get_parent("shell")

        def read(prompt):
            socket, session = kernel.stdin_socket, kernel.session
            while True:  # stale replies
                try:
                    socket.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
            session.send(socket, "input_request", {"prompt": prompt, "password": False}, parent, ident=ident)
            while True:
                try:
                    reply = session.recv(socket, mode=0)[1]
                except (KeyboardInterrupt, zmq.ContextTerminated):
                    raise
                except Exception:  # not a message of the session's (a bad signature): not the grader's
                    continue
                content = reply.get("content") if isinstance(reply, dict) else None
                if isinstance(content, dict):
                    return str(content.get("value", ""))

        return read

    def text(self, answer):
        try:
            text = self.json.dumps(answer)
        except (TypeError, ValueError) as exc:
            text = self.json.dumps({"n": answer.get("n"), "err": [type(exc).__name__, str(exc)[:2000], ""]})
        if len(text) > __LIMIT__:
            why = "the result is larger than the grader accepts (%d characters of JSON)" % len(text)
            text = self.json.dumps({"n": answer.get("n"), "err": ["ResultTooLarge", why, ""]})
        return text

    def answer(self, request):
        try:
            req = self.json.loads(request)
            n, op = req["n"], req["op"]
        except Exception:
            return {"n": None, "err": ["NoAnswer", "the collector could not read the grader's request", ""]}
        # while the student's code runs, input() and getpass raise as in any cell the grader runs
        # (no stdin): only the collector asks the grader anything
        self.kernel._allow_stdin = False
        try:
            answer = self.resolve(req["names"]) if op == "resolve" else self.call(req)
        finally:
            self.kernel._allow_stdin = True
        answer["n"] = n
        return answer

    def resolve(self, names):
        out = {}
        for name in names:
            if name not in self.ns:
                out[name] = ["missing"]
            elif callable(self.ns[name]):
                out[name] = ["fn"]
            else:
                try:
                    out[name] = ["data", self.enc(self.ns[name])]
                except Exception:
                    out[name] = ["unsendable", type(self.ns[name]).__name__]
        return {"names": out}

    def call(self, req):
        import contextlib, traceback, warnings
        gens = []
        np = self.sys.modules.get("numpy")
        try:
            fn = self.lookup(req["f"])
            args, kwargs = self.dec(req["a"], gens), self.dec(req["k"], gens)
            with warnings.catch_warnings():
                for action, category in reversed(req["w"]):
                    warnings.simplefilter(action, getattr(self.builtins, category))
                with np.errstate(**req["e"]) if np is not None else contextlib.nullcontext():
                    value = fn(*args, **kwargs)
            return {"ok": self.enc(value), "g": [self.enc(g.bit_generator.state) for g in gens]}
        except BaseException as exc:
            tb = traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
            tb = "" if isinstance(exc, self.ResultTooLarge) else "".join(tb)[-6000:]  # not the student's code
            return {"err": [type(exc).__name__, str(exc)[:4000], tb]}


__instructor_trusted__ = _TrustedCollector(globals())
del _TrustedCollector
""".replace("__LIMIT__", str(MAX_RESULT_CHARS))
#: The source that starts the loop again within a test (after a time limit, or anything that
#: ended it): the installed collector keeps the functions that earlier calls returned.
SERVE_AGAIN = "__instructor_trusted__.serve()"


def serve_source(agent: str = AGENT) -> str:
    """The source of a grade cell's one execute request: the line that installs the collector
    ``agent`` (one string literal, compiled by Python itself: IPython's input transformers would
    tokenize its 6 KB line by line, ~50 ms a test), then its loop."""
    return f"exec(compile({agent!r}, '<instructor collector>', 'exec'))\n{SERVE_AGAIN}"


#: The source of a grade cell's one execute request (:func:`serve_source` of :data:`AGENT`).
SERVE = serve_source()
