"""The worker side of ``HostPool``: the wire format both sides speak, and the worker's loop.

The pool runs this file as a script (``python worker.py``) under whichever interpreter it was
given, so it imports only the standard library and numpy, and loads this package's other
worker-side modules (``adapter``, and ``toy`` when a name asks for it) from their files
without importing ``diamond_marl`` (so no JAX). Python 3.8 or newer and numpy 1.17 or newer.

Wire format: a message is an 8-byte little-endian length and a pickle (protocol 4) of plain
Python values (dict, list, str, bytes, int, float, bool, None); an array travels as
``{"__ndarray__": [bytes, dtype string, shape]}``. Unpickling refuses every class and
function, so no numpy object ever crosses: numpy 1.x may sit at one end and 2.x at the other.

Commands and replies (each reply ``{"ok": value}`` or ``{"error": "config" | "env", "text":
one line, "trace": traceback}``):
- ``{"cmd": "make", "spec": FactorySpec.to_wire(), "envs": [global indices], "seed": s}``:
  build one env copy per index; replies with the first copy's ``Adapter.info()``;
- ``{"cmd": "reset"[, "seed": s]}``, ``{"cmd": "step", "actions": (K, N) int}``: a batch (see
  ``Copies``);
- ``{"cmd": "close"}`` or the end of input: close the envs and exit.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import pickle
import signal
import struct
import sys
import traceback

import numpy as np

PACKAGE = "diamond_marl.envs.host"  # this package, whose files the worker loads directly
HERE = os.path.dirname(os.path.abspath(__file__))
_ND = "__ndarray__"


# wire format ---------------------------------------------------------------------------------


def _plain(x):
    if isinstance(x, np.ndarray):
        a = np.ascontiguousarray(x)
        return {_ND: [a.tobytes(), a.dtype.str, list(a.shape)]}
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def _arrays(x):
    if isinstance(x, dict):
        if len(x) == 1 and _ND in x:
            data, dtype, shape = x[_ND]
            return np.frombuffer(data, np.dtype(dtype)).reshape(shape)
        return {k: _arrays(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_arrays(v) for v in x]
    return x


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"message holds {module}.{name}; only plain values cross")


def write_msg(stream, obj) -> None:
    """Send ``obj`` (plain values and numpy arrays); costs one pickle and one write."""
    payload = pickle.dumps(_plain(obj), protocol=4)
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


def read_msg(stream):
    """The next message, arrays rebuilt (read-only views of the bytes); ``EOFError`` at end."""
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError("the other end closed the pipe")
    size = struct.unpack("<Q", head)[0]
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("the other end closed the pipe mid-message")
    return _arrays(_PlainUnpickler(io.BytesIO(payload)).load())


# building envs -------------------------------------------------------------------------------


def sibling(name):
    """This package's worker-side module ``name``, loaded from its file if not yet imported
    (so the worker never imports ``diamond_marl`` or JAX)."""
    full = f"{PACKAGE}.{name}"
    if full not in sys.modules:
        spec = importlib.util.spec_from_file_location(full, os.path.join(HERE, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        spec.loader.exec_module(module)
    return sys.modules[full]


def import_module(name):
    short = name[len(PACKAGE) + 1 :] if name.startswith(PACKAGE + ".") else ""
    if short.isidentifier() and os.path.exists(os.path.join(HERE, short + ".py")):
        return sibling(short)
    return importlib.import_module(name)


def build_env(spec):
    """``spec["module"].spec["callable"](**spec["kwargs"])``; an unknown module or callable,
    or arguments the callable refuses, raise a one-line ``AdapterError``."""
    error = sibling("adapter").AdapterError
    module, name, kwargs = spec["module"], spec["callable"], dict(spec["kwargs"])
    try:
        mod = import_module(module)
    except ImportError as err:
        raise error(
            f"pz: cannot import module {module!r} ({type(err).__name__}: {err}) with "
            f"{sys.executable}; allowed: a module importable by that interpreter"
        ) from None
    fn = getattr(mod, name, None)
    if not callable(fn):
        found = sorted(
            n
            for n, v in vars(mod).items()
            if "env" in n.lower() and getattr(v, "__module__", None) == mod.__name__
        )
        raise error(
            f"pz: module {module!r} has no callable {name!r}; allowed: "
            + (", ".join(found[:8]) or "a callable the module defines")
        )
    try:
        return fn(**kwargs)
    except TypeError as err:
        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise error(
            f"pz: {module}.{name}({args}) failed ({err}); allowed: arguments it accepts"
        ) from None


def episode_seed(seed, env_index, episode):
    """The seed of episode ``episode`` of env copy ``env_index`` in a pool seeded ``seed``."""
    return int(np.random.SeedSequence([seed, env_index, episode]).generate_state(1)[0])


class Copies:
    """A worker's K env copies, auto-reset. A batch is the dict of the adapter's arrays stacked
    to (K, ...), plus ``episode_return`` (K,) float32, the sum over the episode's steps of the
    team reward per step (the mean over all N agents with ``team_reward``, else their sum),
    and ``episode_length`` (K,) int32, both of the running episode with this step included.
    A copy whose episode ends reports that final step's ``reward``, ``terminated``,
    ``truncated``, ``won``, return and length, with ``obs``, ``action_mask``, ``alive`` and
    ``state`` already those of its next episode's first step."""

    def __init__(self, spec, indices, seed):
        adapter = sibling("adapter")
        self.indices, self.seed = list(indices), int(seed)
        self.team_reward = bool(spec.get("team_reward"))
        self.adapters = []
        for _ in self.indices:
            env = build_env(spec)
            self.adapters.append(
                adapter.Adapter(env, spec.get("success"), spec.get("steps"), spec["layout"])
            )
        k = len(self.indices)
        self.episodes = [0] * k
        self.returns = [0.0] * k
        self.lengths = [0] * k

    def _first(self, j):
        seed = episode_seed(self.seed, self.indices[j], self.episodes[j])
        self.episodes[j] += 1
        self.returns[j], self.lengths[j] = 0.0, 0
        return self.adapters[j].reset(seed)

    def reset(self, seed=None):
        """Every copy starts its next episode (one ``env.reset`` each); with ``seed``, the
        copies are seeded anew and count their episodes from 0."""
        if seed is not None:
            self.seed, self.episodes = int(seed), [0] * len(self.adapters)
        return self._stack([self._first(j) for j in range(len(self.adapters))])

    def step(self, actions):
        """One ``env.step`` per copy, and one ``env.reset`` per copy whose episode ended."""
        out = []
        for j, adapter in enumerate(self.adapters):
            raw = adapter.step(actions[j])
            team = raw["reward"].mean() if self.team_reward else raw["reward"].sum()
            self.returns[j] += float(team)
            self.lengths[j] += 1
            ret, length = self.returns[j], self.lengths[j]
            if raw["terminated"] or raw["truncated"]:
                first = self._first(j)
                for key in ("obs", "action_mask", "alive", "state", "view_agents"):
                    if key in first:
                        raw[key] = first[key]
            raw["episode_return"], raw["episode_length"] = ret, length
            out.append(raw)
        return self._stack(out)

    def _stack(self, raws):
        batch = {k: np.stack([np.asarray(r[k]) for r in raws]) for k in raws[0]}
        batch.setdefault("episode_return", np.zeros(len(raws)))
        batch.setdefault("episode_length", np.zeros(len(raws)))
        batch["episode_return"] = batch["episode_return"].astype(np.float32)
        batch["episode_length"] = batch["episode_length"].astype(np.int32)
        return batch

    def close(self):
        for adapter in self.adapters:
            try:
                adapter.close()
            except Exception:
                pass


def _answer(copies, msg):
    cmd = msg.get("cmd")
    if cmd == "make":
        copies = Copies(msg["spec"], msg["envs"], msg["seed"])
        return copies, copies.adapters[0].info()
    if copies is None:
        raise RuntimeError(f"command {cmd!r} before 'make'")
    if cmd == "reset":
        return copies, copies.reset(msg.get("seed"))
    if cmd == "step":
        return copies, copies.step(msg["actions"])
    raise RuntimeError(f"unknown command {cmd!r}")


def main():
    """The worker loop: answer commands on stdin until 'close' or the end of input."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    if sys.path and os.path.abspath(sys.path[0] or ".") == HERE:
        del sys.path[0]  # this directory's files are not top-level modules
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)  # an env's prints go to stderr, never into the message stream
    config_error = sibling("adapter").AdapterError
    copies = None
    try:
        while True:
            try:
                msg = read_msg(inp)
            except EOFError:
                break
            if msg.get("cmd") == "close":
                break
            try:
                copies, value = _answer(copies, msg)
                reply = {"ok": value}
            except Exception as err:
                kind = "config" if isinstance(err, config_error) else "env"
                text = str(err) if kind == "config" else f"{type(err).__name__}: {err}"
                text = " ".join(text.split())
                reply = {"error": kind, "text": text, "trace": traceback.format_exc()}
            write_msg(out, reply)
    finally:
        if copies is not None:
            copies.close()


if __name__ == "__main__":
    main()
