"""A pool of worker processes stepping copies of one PettingZoo env on the host (main side).

``HostPool(spec, num_envs, workers, seed, python)`` starts ``workers`` fresh interpreters
(``python worker.py``; ``python=PATH`` runs them under another interpreter, e.g. a venv with
the env's own dependencies), each holding ``num_envs / workers`` env copies behind
``worker.Copies``. ``reset()`` and ``step(actions)`` send one command to every worker, let
them work in parallel, and join their answers into one raw batch of B = ``num_envs`` rows:

=================== ================= =====================================================
key                 shape, dtype      meaning
=================== ================= =====================================================
``obs``             (B, N, *obs) f32  (B, N, O) flat, or (B, N, C, H, W) grid views
``action_mask``     (B, N, A) bool    absent agents: action 0 only
``alive``           (B, N) bool       the agent is in ``env.agents`` (acts next)
``reward``          (B, N) f32        this step's reward per agent
``terminated``      (B,) bool         the episode ended by the env's rules
``truncated``       (B,) bool         the episode was cut (time limit)
``state``           (B, S) f32        ``env.state()`` or all agents' obs concatenated
``view_agents``     (B, N, H, W) i32  grid views only: the agent in each view cell, or -1
``won``             (B,) f32          the ``success`` info value on a final step, else 0
``episode_return``  (B,) f32          sum over the episode's steps of the team reward: the
                                      sum over all N agents (the mean with ``team_reward``;
                                      running; final on a done step)
``episode_length``  (B,) int32        steps of the episode so far, this one included
=================== ================= =====================================================

Auto-reset: a row whose episode ends holds that final step's ``reward``, ``terminated``,
``truncated``, ``won``, ``episode_return`` and ``episode_length``, and already the next
episode's first ``obs``, ``action_mask``, ``alive``, ``state`` and ``view_agents``. Env copy
i of a pool seeded s starts its k-th episode with ``worker.episode_seed(s, i, k)``, so pools
with the same seed give the same batches whatever their number of workers.

Why subprocesses and not ``multiprocessing``: a spawned ``multiprocessing`` child gets the
parent's ``sys.path`` and re-imports its main module, which breaks a worker running another
Python. The workers here import only numpy and the env; messages carry plain values and
arrays as (bytes, dtype, shape) (``worker`` module). Workers ignore Ctrl-C; the pool ends
them on ``close()``, on leaving a ``with`` block, when garbage-collected, at interpreter
exit, and whenever a call fails (an exception, a worker that raised or died,
KeyboardInterrupt): each is asked to exit, then terminated and killed after 2 s and 1 s.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from typing import Any

import numpy as np

from diamond_marl.envs.host.names import FactorySpec, parse_pz_name
from diamond_marl.envs.host.worker import read_msg, write_msg
from diamond_marl.errors import ConfigError

WORKER_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")
EXIT_WAIT = 2.0  # seconds every worker gets to exit on its own when the pool closes


class HostEnvError(RuntimeError):
    """A worker raised or died; ``brief`` is one line, ``trace`` the worker's traceback (or
    the end of its stderr), ``worker`` its index."""

    def __init__(self, brief: str, worker: int | None = None, trace: str = "") -> None:
        detail = f"\n--- worker {worker} ---\n{trace.rstrip()}" if trace.strip() else ""
        super().__init__(brief + detail)
        self.brief, self.worker, self.trace = brief, worker, trace


@dataclasses.dataclass(frozen=True)
class HostInfo:
    """Static facts about the pool's env (hashable: a jit static argument of ``to_timestep``)."""

    agents: tuple[str, ...]  # possible_agents: the fixed agent order
    num_actions: int  # A
    obs_shape: tuple[int, ...]  # (O,) flat or (C, H, W) grid, as in raw["obs"]
    obs_sizes: tuple[int, ...]  # per agent: true flat length (flat views are zero-padded)
    tokens: str  # "flat" (chunk tokens) or "grid" (one token per cell)
    state_dim: int  # S
    state_source: str  # "state()" or "obs" (all agents' obs concatenated)
    max_steps: int  # episode limit, 0 if the env does not say and no steps= was given
    success: str | None  # info key path behind "won"
    success_metric: str | None  # what "won" measures (EnvSpec.success_metric)
    env_type: str  # module.Class of the env in the workers
    python: str  # the workers' Python version
    numpy: str  # the workers' numpy version
    cells: int = 0  # grid views: tokens for the K non-empty cells nearest the centre (0: all)

    @property
    def num_agents(self) -> int:
        return len(self.agents)


_INFO_KEYS = {f.name for f in dataclasses.fields(HostInfo)} - {"success_metric", "cells"}


class _Worker:
    """One worker process: its pipes and a temporary file holding its stderr."""

    def __init__(self, index: int, python: str, env: dict[str, str]) -> None:
        self.index = index
        self.log = tempfile.TemporaryFile()
        cmd = [python, WORKER_FILE]
        pipe = subprocess.PIPE
        self.proc = subprocess.Popen(cmd, stdin=pipe, stdout=pipe, stderr=self.log, env=env)

    def send(self, msg: dict[str, Any]) -> None:
        write_msg(self.proc.stdin, msg)

    def recv(self) -> dict[str, Any]:
        return read_msg(self.proc.stdout)

    def death(self) -> HostEnvError:
        """The error for a worker that stopped answering, with the end of its stderr."""
        try:
            code = self.proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            how = "closed its pipe"
        elif code < 0:
            how = f"was killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with status {code}"
        self.log.seek(0)
        tail = self.log.read()[-4000:].decode("utf-8", "replace")
        return HostEnvError(f"worker {self.index} (pid {self.proc.pid}) {how}", self.index, tail)


def _shutdown(workers: list[_Worker]) -> None:
    """Ask every worker to exit, then terminate / kill the ones still running; close files."""
    for w in workers:
        try:
            w.send({"cmd": "close"})
            w.proc.stdin.close()
        except Exception:
            pass
    deadline = time.monotonic() + EXIT_WAIT
    for w in workers:
        try:
            w.proc.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.proc.terminate()
            try:
                w.proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
        for f in (w.proc.stdin, w.proc.stdout, w.log):
            try:
                f.close()
            except Exception:
                pass


class HostPool:
    """``num_envs`` copies of one env in ``workers`` processes; see the module docstring.

    ``spec``: a ``FactorySpec`` or a ``pz:`` name. ``python=None`` runs the workers under
    this interpreter with this process's ``sys.path``; ``python=PATH`` under that one with its
    own ``sys.path`` (and ``$PYTHONPATH``); ``~`` and ``$VARIABLES`` in PATH are expanded.
    Starting costs one interpreter start and env import per worker plus one env construction
    per copy; a ``step`` costs one message round trip per worker (in parallel) plus the env
    steps, B / workers per worker.
    """

    def __init__(
        self,
        spec: FactorySpec | str,
        num_envs: int,
        workers: int = 2,
        seed: int = 0,
        python: str | os.PathLike | None = None,
    ) -> None:
        self.spec = parse_pz_name(spec) if isinstance(spec, str) else spec
        if not isinstance(self.spec, FactorySpec):
            raise ConfigError(f"host env {spec!r}; allowed: a FactorySpec or a 'pz:' name")
        if workers < 1 or num_envs < workers or num_envs % workers:
            raise ConfigError(
                f"num_envs={num_envs}, workers={workers}; allowed: workers >= 1 dividing "
                "num_envs (every worker holds num_envs / workers env copies)"
            )
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ConfigError(f"seed={seed!r}; allowed: an integer >= 0")
        seed = int(seed)
        python = python if python is not None else self.spec.python
        given = os.fspath(python) if python is not None else sys.executable
        exe = os.path.expandvars(os.path.expanduser(given))  # a suite file may say $VENV/...
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            shown = repr(given) + (f" (read as {exe!r})" if exe != given else "")
            shown += " (a variable in it is not set)" if "$" in exe else ""
            raise ConfigError(
                f"python={shown} is not an executable file; allowed: a Python path, with "
                "~ and $VARIABLES expanded"
            )
        env = dict(os.environ)
        if python is None:  # the same interpreter: let workers import what this process can
            env["PYTHONPATH"] = os.pathsep.join(p or os.getcwd() for p in sys.path)
        self.num_envs, self.num_workers, self.seed, self.python = num_envs, workers, seed, exe
        self._per = num_envs // workers
        self._workers: list[_Worker] = []
        self._failure: str | None = None
        self._finalizer = weakref.finalize(self, _shutdown, self._workers)
        try:
            for k in range(workers):
                self._workers.append(_Worker(k, exe, env))
        except BaseException:
            self.close()
            raise
        wire_spec = self.spec.to_wire()
        envs = [list(range(k * self._per, (k + 1) * self._per)) for k in range(workers)]
        make = [{"cmd": "make", "spec": wire_spec, "envs": e, "seed": seed} for e in envs]
        infos = self._call(make)
        if any(i != infos[0] for i in infos):
            self._fail("workers built different envs")
            raise HostEnvError(f"workers report different envs: {infos[0]} vs {infos[-1]}")
        first = {k: v for k, v in infos[0].items() if k in _INFO_KEYS}
        for key in ("agents", "obs_shape", "obs_sizes"):
            first[key] = tuple(first[key])
        self._info = HostInfo(
            **first, success_metric=self.spec.success_metric, cells=self.spec.cells or 0
        )

    # calls ---------------------------------------------------------------------------------

    def info(self) -> HostInfo:
        """The env's facts as the first worker reported them (no call: read at start)."""
        return self._info

    @property
    def pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Every env copy starts its next episode; the raw batch (module docstring). With
        ``seed``, the pool is seeded anew: episodes count from 0 again, so two resets with
        one seed replay the same episodes (greedy and sampled evaluation)."""
        msg = {"cmd": "reset"} if seed is None else {"cmd": "reset", "seed": int(seed)}
        return self._join(self._call([msg] * self.num_workers))

    def step(self, actions: Any) -> dict[str, np.ndarray]:
        """Step every env copy with ``actions`` (B, N) ints (numpy or JAX); auto-resets."""
        a = np.asarray(actions)
        want = (self.num_envs, self._info.num_agents)
        if a.shape != want or not np.issubdtype(a.dtype, np.integer):
            raise ValueError(f"actions: got {a.dtype}{list(a.shape)}, want int{list(want)}")
        a = a.astype(np.int64)
        parts = [a[k * self._per : (k + 1) * self._per] for k in range(self.num_workers)]
        return self._join(self._call([{"cmd": "step", "actions": p} for p in parts]))

    def close(self) -> None:
        """End every worker (idempotent; at most about 3 s)."""
        self._finalizer()

    def __enter__(self) -> HostPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # internals -----------------------------------------------------------------------------

    def _fail(self, why: str) -> None:
        self._failure = self._failure or why
        self.close()

    def _call(self, msgs: list[dict[str, Any]]) -> list[Any]:
        """Send one message to every worker, then collect every answer; any failure closes
        the pool first."""
        if self.closed:
            why = f" after an earlier failure: {self._failure}" if self._failure else ""
            raise HostEnvError("the host pool is closed" + why)
        try:
            for w, msg in zip(self._workers, msgs, strict=True):
                self._guard(w, w.send, msg)
            replies = [self._guard(w, w.recv) for w in self._workers]
        except HostEnvError as err:
            self._fail(err.brief)
            raise
        except BaseException as err:  # KeyboardInterrupt included: no worker outlives it
            self._fail(f"interrupted by {type(err).__name__}")
            raise
        for w, reply in zip(self._workers, replies, strict=True):
            if "error" in reply:
                self._fail(reply["text"])
                if reply["error"] == "config":
                    raise ConfigError(reply["text"])
                raise HostEnvError(f"worker {w.index}: {reply['text']}", w.index, reply["trace"])
        return [reply["ok"] for reply in replies]

    @staticmethod
    def _guard(w: _Worker, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except (OSError, EOFError, ValueError):  # broken or closed pipe: the worker is gone
            raise w.death() from None

    @staticmethod
    def _join(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}
