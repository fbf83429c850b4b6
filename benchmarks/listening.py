"""How well each shipped roll model listens: key, dynamics, register.

For every shipped roll model, phrases of this benchmark's own making are played as a prime
in each of the 24 major and minor keys, and ``render_roll`` (the live engine on a manual
clock, the code path ``livegen play`` runs) answers for 8 bars. Three kinds of prime, each at
two registers and with several seeds: a melody alone, block chords, and a melody over an
arpeggiated bass (minor keys use the harmonic-minor V).

Reported per model, with the listening defaults (``follow`` on: the model heard in all 12
keys; ``key_pull``, ``register_follow`` and ``density_follow`` at 0) and, beside them, with
``follow`` off (the model in its own key). benchmarks/continuations.py judges the answers
against the real music; this benchmark reads dynamics, register and density after primes of
its own:
- in-scale share: the answer's note onsets whose pitch class is in the prime's scale (minor:
  natural minor plus the leading tone), worst key and mean over keys;
- key kept: the keys whose answer's Krumhansl-Kessler estimate equals the prime's key;
- dynamics: mean answer velocity after a prime at velocity 40 and at 110;
- register: mean answer pitch after a low and a high prime two octaves apart (how far it
  moves with the performer);
- variety: the share of the answer's onsets outside the tonic triad (passing notes and
  other chords' tones), over all 24 keys and over the models' own keys alone (C major and
  A minor);
- density: the answer's onsets per beat (note-ons, a held key struck again included) after a
  sparse prime (block chords, 0.75 onsets a beat) and a busy one (melody over an arpeggio,
  about 2 a beat), in four keys (C major, A minor, G major, E minor) and every seed, with
  ``density_follow`` at its default (0) and at 1; the primes' own rates beside them.

    python -m benchmarks.listening [--models nottingham jsb] [--seeds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from livegen.controls.table import ControlState
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.music.keys import Key, all_keys, roll_key
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import read_manifest, resolve_model
from livegen.nets.runtime import configure_for_stepping
from livegen.offline.render import render_roll

RESULTS = Path(__file__).resolve().parent / "results" / "listening.json"
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
MELODY = (0, 2, 4, 2, 3, 5, 3, 1, 4, 6, 4, 1, 2, 1, 0, 0)  # scale degrees, one per beat
CHORDS = ((0, 2, 4), (3, 5, 7), (4, 6, 8), (0, 2, 4))  # I IV V I


def _pitch(key: Key, base: int, degree: int, leading: bool) -> int:
    scale = MAJOR if key.mode == "major" else MINOR
    step = scale[degree % 7] + (1 if leading and key.mode == "minor" and degree % 7 == 6 else 0)
    return base + key.tonic + 12 * (degree // 7) + step


def prime(kind: str, key: Key, spb: int, octave: int) -> np.ndarray:
    """A 4-bar ``(16 * spb, 88)`` prime: ``melody``, ``chords`` or ``both``; ``octave`` moves
    it (0: melody from C4, bass from C3)."""
    roll = np.zeros((16 * spb, N_KEYS), dtype=bool)
    base = 48 + 12 * octave - (12 if key.tonic >= 6 else 0)
    if kind in ("melody", "both"):
        for i, d in enumerate(MELODY):
            p = _pitch(key, base + 12, d, leading=i // 4 == 2)
            roll[i * spb:(i + 1) * spb - (1 if spb > 1 else 0), p - LOWEST_PITCH] = True
    if kind in ("chords", "both"):
        for b, chord in enumerate(CHORDS):
            if kind == "chords":
                for d in chord:
                    roll[b * 4 * spb:(b + 1) * 4 * spb, _pitch(key, base, d, b == 2) - LOWEST_PITCH] = True
            else:
                for j, d in enumerate((chord[0], chord[1], chord[2], chord[1])):
                    i = b * 4 + j
                    roll[i * spb:(i + 1) * spb, _pitch(key, base - 12, d, b == 2) - LOWEST_PITCH] = True
    return roll


def onsets(roll: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(step, key) indices of the note onsets of a ``(T, 88)`` roll."""
    on = np.diff(np.vstack([np.zeros((1, N_KEYS), bool), roll]).astype(int), axis=0) > 0
    steps, keys = np.nonzero(on)
    return steps, keys


def measure(name: str, seeds: int, follow: bool, log: Callable[[str], None]) -> dict[str, Any]:
    model, meta = load_checkpoint(resolve_model(name))
    spb = int(meta.get("steps_per_beat", 2))
    state = ControlState() if follow else ControlState(follow=False)
    per_key: dict[str, list[float]] = {}
    kept: dict[str, int] = {}
    triad_notes = all_notes = own_triad = own_all = 0
    own_keys = (Key(0, "major"), Key(9, "minor"))
    for key in all_keys():
        shares, hits, runs = [], 0, 0
        for kind in ("melody", "chords", "both"):
            for seed in range(seeds):
                r = render_roll(model, 8, state, seed=seed, prime=prime(kind, key, spb, 0), steps_per_beat=spb,
                                meta=meta)
                _, keys = onsets(r.generated)
                pcs = (keys + LOWEST_PITCH) % 12
                if len(pcs):
                    shares.append(float(np.array(key.scale_mask())[pcs].mean()))
                triad = {0, 3 if key.mode == "minor" else 4, 7}
                in_triad = sum(int((pc - key.tonic) % 12 in triad) for pc in pcs)
                triad_notes += in_triad
                all_notes += len(pcs)
                if key in own_keys:
                    own_triad += in_triad
                    own_all += len(pcs)
                hits += roll_key(r.generated) == key
                runs += 1
        per_key[key.name] = shares
        kept[key.name] = hits
        log(f"{name} follow={follow} {key.name}: in scale {np.mean(shares):.3f}, key kept {hits}/{runs}")
    mean_share = {k: float(np.mean(v)) if v else float("nan") for k, v in per_key.items()}
    runs_per_key = 3 * seeds
    # dynamics: the same phrase at velocity 40 and 110 (C major and A minor, every seed)
    velocity = {}
    for level in (40, 110):
        values: list[int] = []
        for key in (Key(0, "major"), Key(9, "minor")):
            for seed in range(seeds):
                p = prime("both", key, spb, 0)
                steps, _ = onsets(p)
                r = render_roll(model, 8, state, seed=seed, prime=p, steps_per_beat=spb,
                                prime_velocities=[level] * len(steps))
                s, k = onsets(r.generated)
                values += [int(v) for v in r.velocities[s, k]]
        velocity[level] = float(np.mean(values)) if values else float("nan")
    # register: the same melody two octaves apart
    register = {}
    for octave in (-1, 1):
        pitches: list[int] = []
        for seed in range(seeds):
            r = render_roll(model, 8, state, seed=seed, prime=prime("melody", Key(0, "major"), spb, octave),
                            steps_per_beat=spb)
            _, k = onsets(r.generated)
            pitches += [int(x) + LOWEST_PITCH for x in k]
        register[octave] = float(np.mean(pitches)) if pitches else float("nan")
    # density: a sparse prime and a busy one, the answer's onsets per beat, following on and off
    density, density_on, prime_rate = {}, {}, {}
    for kind in ("chords", "both"):
        density[kind], prime_rate[kind] = answer_density(model, spb, state, kind, seeds)
        on = dataclasses.replace(state, density_follow=1.0)
        density_on[kind] = density[kind] if on == state else answer_density(model, spb, on, kind, seeds)[0]
        log(f"{name} follow={follow} density after {kind} prime ({prime_rate[kind]:.2f} a beat): "
            f"{density[kind]:.2f} with density_follow {state.density_follow:g}, {density_on[kind]:.2f} at 1")
    return {
        "model": name, "follow": follow, "seeds": seeds, "density_follow": state.density_follow,
        "prime_density_sparse": round(prime_rate["chords"], 2), "prime_density_busy": round(prime_rate["both"], 2),
        "density_after_sparse": round(density["chords"], 2), "density_after_busy": round(density["both"], 2),
        "density_follow1_after_sparse": round(density_on["chords"], 2),
        "density_follow1_after_busy": round(density_on["both"], 2),
        "outside_tonic_triad": round(1 - triad_notes / max(1, all_notes), 4),
        "outside_tonic_triad_own_keys": round(1 - own_triad / max(1, own_all), 4),
        "in_scale_worst": round(min(mean_share.values()), 4),
        "in_scale_mean": round(float(np.mean(list(mean_share.values()))), 4),
        "worst_key": min(mean_share, key=lambda k: mean_share[k]),
        "keys_kept": sum(v * 2 > runs_per_key for v in kept.values()),  # a majority of its runs
        "key_kept_runs": f"{sum(kept.values())}/{24 * runs_per_key}",
        "velocity_soft": round(velocity[40], 1), "velocity_loud": round(velocity[110], 1),
        "register_low_prime": round(register[-1], 1), "register_high_prime": round(register[1], 1),
        "in_scale_by_key": {k: round(v, 4) for k, v in mean_share.items()},
    }


DENSITY_KEYS = (Key(0, "major"), Key(9, "minor"), Key(7, "major"), Key(4, "minor"))


def answer_density(model: Any, spb: int, state: ControlState, kind: str, seeds: int) -> tuple[float, float]:
    """Onsets per beat of the answers (note-ons, re-strikes included) after a ``kind`` prime in
    :data:`DENSITY_KEYS` with every seed, and of the prime itself."""
    n_onsets = n_steps = prime_onsets = prime_steps = 0
    for key in DENSITY_KEYS:
        p = prime(kind, key, spb, 0)
        prime_onsets += len(onsets(p)[0])
        prime_steps += len(p)
        for seed in range(seeds):
            r = render_roll(model, 8, state, seed=seed, prime=p, steps_per_beat=spb)
            n_onsets += int((r.velocities > 0).sum())
            n_steps += len(r.generated)
    return n_onsets / n_steps * spb, prime_onsets / prime_steps * spb


def density_table(rows: list[dict[str, Any]]) -> str:
    """The density rows (listening defaults): the primes' rates and the answers' with following off and on."""
    lines = ["| model | sparse prime | answer, `density_follow` 0 (default) / 1 | busy prime | "
             "answer, `density_follow` 0 (default) / 1 |", "|---|---|---|---|---|"]
    for r in rows:
        if r["follow"]:
            lines.append(f"| {r['model']} | {r['prime_density_sparse']:.2f} | {r['density_after_sparse']:.2f} / "
                         f"{r['density_follow1_after_sparse']:.2f} | {r['prime_density_busy']:.2f} | "
                         f"{r['density_after_busy']:.2f} / {r['density_follow1_after_busy']:.2f} |")
    return "\n".join(lines)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | follow | in scale, worst key | in scale, mean | keys kept (of 24) | velocity after 40 / 110 "
             "| mean pitch after low / high prime | onsets a beat after sparse / busy prime "
             "| outside the tonic triad: all keys / C major and A minor |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {'on' if r['follow'] else 'off'} | {r['in_scale_worst']:.1%} "
                     f"({r['worst_key']}) | {r['in_scale_mean']:.1%} | {r['keys_kept']} | "
                     f"{r['velocity_soft']:.0f} / {r['velocity_loud']:.0f} | "
                     f"{r['register_low_prime']:.0f} / {r['register_high_prime']:.0f} | "
                     f"{r['density_after_sparse']:.2f} / {r['density_after_busy']:.2f} | "
                     f"{r['outside_tonic_triad']:.0%} / {r['outside_tonic_triad_own_keys']:.0%} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    configure_for_stepping(1)
    names = args.models or sorted(n for n, e in read_manifest().items() if e["kind"].startswith("roll"))
    rows = [measure(n, args.seeds, follow, lambda line: print(line, flush=True))
            for n in names for follow in (True, False)]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # --models measures those again; the other models keep their last rows
    old = json.loads(RESULTS.read_text()).get("rows", []) if RESULTS.exists() else []
    rows = sorted([r for r in old if r["model"] not in names] + rows, key=lambda r: (r["model"], not r["follow"]))
    RESULTS.write_text(json.dumps({"command": "python -m benchmarks.listening " + " ".join(sys.argv[1:]),
                                   "rows": rows}, indent=2) + "\n")
    print(table(rows))
    print()
    print(density_table(rows))


if __name__ == "__main__":
    main()
