"""The reference model's own minimiser (part of :mod:`eqprop_hw.learning.reference`): damped
Newton on ``E_beta`` over the free voltages with a backtracking (Armijo) line search, step
expansion deep in a diode's exponential region, and continuation in the source values when
``E_beta`` is infinite at the start.

It reads the model only through its public methods (``energy_terms``, ``gradient_hessian``,
``voltages_at``, ``chunk_rows``), so it is the same code whatever the model holds.

Examples
--------
>>> import numpy as np
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> from eqprop_hw.learning.reference_model import EnergyModel
>>> model = EnergyModel(build_circuit(parse_spec({"name": "t", "kind": "layered",
...                                               "layers": [2, 3, 1]})))
>>> s, y, beta = model.context([[0.5, -0.5]])
>>> z, iterations = minimise(model, np.zeros((1, model.n_free)), s, y, beta)
>>> bool(abs(model.gradient_hessian(z, s, y, beta, hessian=False)[0]).max() < 1e-9)
True
"""

from __future__ import annotations

import numpy as np

from eqprop_hw.errors import ConvergenceError

#: Relative Armijo constant of the line search on E.
ARMIJO = 1e-4

#: The line search tries longer steps when a full Newton step lowered E by more than this
#: fraction of the linear prediction (a quadratic gives exactly 0.5).
EXPANSION_RATIO = 0.6


def minimise(model, z, s, y, beta):
    """``(z, iterations)``: the minimum of ``E_beta`` (free voltages, V) per sample from the
    start ``z`` for the per-sample context ``s, y, beta`` (:meth:`EnergyModel.context`), and
    the Newton iterations it took.

    Samples whose starting energy is finite are solved in batches of ``model.chunk_rows``;
    the others by :func:`source_stepping`.

    Raises
    ------
    ConvergenceError
        As :func:`newton` and :func:`source_stepping`.
    """
    batch = z.shape[0]
    iterations = np.zeros(batch, dtype=int)
    if model.n_free == 0:
        return z, iterations
    with np.errstate(over="ignore", invalid="ignore"):
        energy, _ = model.energy_terms(z, s, y, beta)
    bad = np.flatnonzero(~np.isfinite(energy))
    good = np.flatnonzero(np.isfinite(energy))
    chunk = model.chunk_rows
    for start in range(0, good.size, chunk):
        rows = good[start:start + chunk]
        z[rows], iterations[rows] = newton(model, z[rows], s[rows], y[rows], beta)
    for row in bad:
        z[row], iterations[row] = source_stepping(model, s[row:row + 1], y[row:row + 1], beta)
    return z, iterations


def source_stepping(model, s, y, beta):
    """Continuation in the source values (0 -> s) of one sample when E is infinite at the
    start: ``(z, total Newton iterations)``."""
    lam, step, total = 0.0, 1.0, 0
    z = np.zeros((1, model.n_free))
    z, its = newton(model, z, 0.0 * s, y, beta)
    total += int(its[0])
    for _ in range(200):
        if lam >= 1.0:
            return z[0], total
        trial = min(1.0, lam + step)
        with np.errstate(over="ignore", invalid="ignore"):
            energy, _ = model.energy_terms(z, trial * s, y, beta)
        if not np.isfinite(energy[0]):
            step *= 0.5
            continue
        z, its = newton(model, z, trial * s, y, beta)
        total += int(its[0])
        lam, step = trial, step * 2.0
    raise ConvergenceError(f"reference model: source stepping failed for circuit "
                           f"{model.circuit.name!r}")


def line_search(model, za, dz, sa, ya, beta, energy, slope, tolerance):
    """Backtracking (Armijo) along the Newton steps ``dz`` of the active samples.

    Returns ``(t, accepted, e_new)``: the step fractions, which samples found a step, and the
    energies there. Round-off tolerant near the minimum: a Newton decrement
    (``-slope ~ 2 (E - E_min)``) below E's round-off ``tolerance`` accepts the full step.
    """
    n = za.shape[0]
    t = np.ones(n)
    accepted = np.zeros(n, dtype=bool)
    e_new = np.empty(n)
    for _ls in range(80):
        todo = np.flatnonzero(~accepted)
        if todo.size == 0:
            break
        trial = za[todo] + t[todo, None] * dz[todo]
        with np.errstate(over="ignore", invalid="ignore"):
            e_try, _ = model.energy_terms(trial, sa[todo], ya[todo], beta)
        ok = np.isfinite(e_try) & (e_try <= energy[todo] + ARMIJO * t[todo] *
                                   slope[todo] + tolerance[todo])
        # A Newton decrement below E's roundoff: E cannot resolve the step any more, and
        # the full Newton step is the best there is.
        ok |= (t[todo] == 1.0) & (-slope[todo] <= tolerance[todo]) & np.isfinite(e_try)
        accepted[todo[ok]] = True
        e_new[todo[ok]] = e_try[ok]
        t[todo[~ok]] *= 0.5
    return t, accepted, e_new


def expand_steps(model, za, dz, sa, ya, beta, t, e_new, expand) -> None:
    """Double the accepted full steps of the samples ``expand`` while E still falls (in
    place on ``t`` and ``e_new``).

    Deep in a diode's exponential region the Newton step is only ~Vte long and E falls almost
    linearly along it (a quadratic falls by exactly half the slope).
    """
    for _ex in range(60):
        if expand.size == 0:
            break
        trial = za[expand] + 2.0 * t[expand, None] * dz[expand]
        with np.errstate(over="ignore", invalid="ignore"):
            e_try, _ = model.energy_terms(trial, sa[expand], ya[expand], beta)
        better = np.isfinite(e_try) & (e_try < e_new[expand])
        t[expand[better]] *= 2.0
        e_new[expand[better]] = e_try[better]
        expand = expand[better]


def newton(model, z, s, y, beta):
    """Damped Newton on a batch whose starting energies are finite: ``(z, iterations)``.

    Raises
    ------
    ConvergenceError
        On a singular Hessian, a failed line search (naming the sample row) or no minimum
        within ``model.max_iterations``.
    """
    batch = z.shape[0]
    z = z.copy()
    iterations = np.zeros(batch, dtype=int)
    active = np.arange(batch)
    last_step = np.full(batch, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        energy, scale = model.energy_terms(z, s, y, beta)
    for _ in range(model.max_iterations):
        if active.size == 0:
            break
        za, sa, ya = z[active], s[active], y[active]
        grad, hess = model.gradient_hessian(za, sa, ya, beta)
        try:
            dz = -np.linalg.solve(hess, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            raise ConvergenceError(f"reference model: singular Hessian for circuit "
                                   f"{model.circuit.name!r} (a free node without a "
                                   "conductive path?)") from None
        slope = np.einsum("bi,bi->b", grad, dz)
        v_scale = np.maximum(np.abs(model.voltages_at(za, sa)).max(axis=1), 1e-3)
        size = np.abs(dz).max(axis=1)
        tolerance = 64 * np.finfo(float).eps * np.maximum(scale[active], 1e-300)
        t, accepted, e_new = line_search(model, za, dz, sa, ya, beta, energy[active], slope,
                                         tolerance)
        expand = np.flatnonzero(accepted & (t == 1.0) & (-slope > 1e3 * tolerance) &
                                (energy[active] - e_new > -EXPANSION_RATIO * slope))
        expand_steps(model, za, dz, sa, ya, beta, t, e_new, expand)
        moved = t[:, None] * dz
        tiny = size <= 1e-13 * v_scale + 1e-16
        stalled = (size <= 1e-9 * v_scale) & (size >= 0.5 * last_step[active])
        if not np.all(accepted | tiny | stalled):
            position = np.flatnonzero(~(accepted | tiny | stalled))[0]
            hint = " (E_beta is not convex there: is a negative beta too large?)" \
                if slope[position] >= 0 else ""
            raise ConvergenceError(f"reference model: line search failed for circuit "
                                   f"{model.circuit.name!r} (sample row "
                                   f"{active[position]}){hint}")
        z[active[accepted]] = za[accepted] + moved[accepted]
        with np.errstate(over="ignore", invalid="ignore"):
            energy[active[accepted]], scale[active[accepted]] = model.energy_terms(
                z[active[accepted]], sa[accepted], ya[accepted], beta)
        iterations[active] += 1
        done = (tiny | stalled) & ((t == 1.0) | ~accepted)
        last_step[active] = size
        active = active[~done]
    if active.size:
        raise ConvergenceError(
            f"reference model: no minimum of the energy for circuit {model.circuit.name!r} "
            f"(sample row(s) {', '.join(map(str, active[:5].tolist()))}) after "
            f"{model.max_iterations} Newton iterations")
    return z, iterations


__all__ = ["ARMIJO", "EXPANSION_RATIO", "minimise", "source_stepping", "newton",
           "line_search", "expand_steps"]
