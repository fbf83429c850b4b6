"""Stepping the voice ahead: each step is computed before its deadline, off the engine's path.

Each step the engine observes the frame that just sounded (the performer's keys and its own)
and samples the next one. What it will observe at step ``n`` is known as soon as frame ``n``
is scheduled, ~one period early: the keys livegen sounds then plus the keys the performer
holds or has struck (a key struck later changes it, and the engine hands over the new
frame at once). :class:`StepAhead` passes that frame and the controls in force to the
voice's ``prepare`` on a worker thread, right after the previous step while the caches are
warm. The voice keeps the result; its ``step`` at the deadline takes it when the frame, the
controls and its state are the ones prepared, and computes as before otherwise. The output
is the same either way (same inputs, same ops, the random generator put back).

Why: measured in the running engine (``livegen bench``), a step computed at its deadline
took 2-3x its back-to-back time: caches cold after the 62.5 ms gap, and the stepping thread
preempted by JACK's realtime threads every period (README, *Per-step latency*).

With ``threaded=False`` the prepare runs at once on the caller's thread: deterministic, for
tests on a manual clock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol, runtime_checkable

import numpy as np

from livegen.sampling.constraints import RollControls

log = logging.getLogger(__name__)


@runtime_checkable
class Anticipating(Protocol):
    """A voice that can compute its next observation ahead (see the module docstring)."""

    def prepare(self, frame: np.ndarray, controls: RollControls | None = None) -> None:
        """Compute (and keep) what observing the ``(88,)`` bool ``frame`` and sampling under
        ``controls`` would give; the next ``step`` with the same frame and controls uses it.
        Never changes what the voice plays."""


class StepAhead:
    """Runs a voice's :meth:`Anticipating.prepare` on a worker thread of its own.

    :meth:`submit` and :meth:`wait` are called from the engine's thread only; the voice is
    touched by the worker only between a submit and the next :meth:`wait`, so the engine
    calls :meth:`wait` before it uses the voice.

    Args:
        voice: the voice stepped by the engine.
        threaded: prepare on the worker thread (live) or at once on the caller's (tests).

    Attributes:
        prepare_s: seconds each prepare took (on the worker).
        submitted: prepares asked for.
    """

    def __init__(self, voice: Anticipating, threaded: bool = True) -> None:
        self.voice = voice
        self.threaded = threaded
        self.prepare_s: list[float] = []
        self.submitted = 0
        self._cv = threading.Condition()
        self._job: tuple[np.ndarray, RollControls] | None = None
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None  # started by the first submit

    def submit(self, frame: np.ndarray, controls: RollControls) -> None:
        """Prepare the step that will observe ``frame`` and sample under ``controls`` (a
        later submit replaces one not yet begun)."""
        frame = np.array(frame, dtype=bool)
        self.submitted += 1
        if not self.threaded:
            self._prepare((frame, controls))
            return
        with self._cv:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="livegen-step-ahead", daemon=True)
                self._thread.start()
            self._job = (frame, controls)
            self._cv.notify_all()

    def warm_up(self, frame: np.ndarray, controls: RollControls) -> None:
        """Start the worker and prepare ``frame`` under ``controls`` on it, returning when
        done: a thread's first torch ops are slow (~50 ms measured here), so this runs
        before the first deadline, not after it."""
        self.submit(frame, controls)
        if not self.threaded:
            return
        with self._cv:
            while (self._job is not None or self._busy) and not self._closed:
                self._cv.wait()

    def wait(self) -> None:
        """Return once no prepare runs or waits (a pending one is dropped). Unbounded: a
        prepare is one model step, and the voice must not be stepped while it runs."""
        if not self.threaded:
            return
        with self._cv:
            self._job = None
            while self._busy:
                self._cv.wait()

    def close(self) -> None:
        """Stop the worker (after the prepare it is running, if any)."""
        with self._cv:
            self._closed = True
            self._job = None
            self._cv.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=2.0)

    def _prepare(self, job: tuple[np.ndarray, RollControls]) -> None:
        t0 = time.perf_counter()
        try:
            self.voice.prepare(*job)
        except Exception:  # a failed prepare only costs the step its head start
            log.exception("step-ahead prepare failed")
        self.prepare_s.append(time.perf_counter() - t0)

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._job is None and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                job, self._job = self._job, None
                self._busy = True
            assert job is not None
            try:
                self._prepare(job)
            finally:
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()
