"""``training.twin.mosfet`` of a spec (part of :mod:`eqprop_hw.circuit.spec`): the MOSFET every
trainable edge of a transistor twin network becomes (:mod:`eqprop_hw.twin.mosfet`).

Keys: ``model`` (a mapping: ``type: NMOS`` and level-1 model parameters, upper-case names,
numbers, the grammar of :mod:`eqprop_hw.circuit.transistors`), ``w`` and ``l`` (m, default
1e-5 and 1e-6) and ``bulk`` (V, default 0: the rail every edge's bulk terminal is tied to).
Everything is checked here, at load time, with the twin's own rules (NMOS, LEVEL 1, no body
effect or channel-length modulation, KP > 0, every model parameter within the physical range
of :data:`eqprop_hw.twin.mosfet.EDGE_PARAM_LIMITS` and KP W / L within
:data:`~eqprop_hw.twin.mosfet.BETA_LIMITS`, sizes within limits, VTO > 0 when edges are cut),
each refusal one SpecError naming the file, the line and the key.

Examples
--------
>>> from eqprop_hw.circuit.spec_checks import SpecChecker
>>> twin_mosfet(SpecChecker("s.yaml"), {"mosfet": {"model": {"type": "NMOS", "VTO": 0.5}}})
{'model': {'type': 'NMOS', 'VTO': 0.5}, 'w': 1e-05, 'l': 1e-06, 'bulk': 0.0}
>>> twin_mosfet(SpecChecker("s.yaml"), {"mosfet": {"model": {"type": "PMOS"}}})
Traceback (most recent call last):
...
eqprop_hw.errors.SpecError: s.yaml: training.twin.mosfet.model: the edges are n-channel MOSFETs; give a model of type NMOS
"""

from __future__ import annotations

from eqprop_hw.circuit.spec_checks import SpecChecker
from eqprop_hw.errors import CircuitError

#: Keys of ``training.twin.mosfet``.
MOSFET_KEYS = ("model", "w", "l", "bulk")
#: Most parameters a twin edge's model may carry (level 1 knows about 30).
MAX_EDGE_MODEL_PARAMS = 64


def mosfet_section(spec) -> dict | None:
    """The loaded spec's checked ``training.twin.mosfet`` (``model``, ``w``, ``l``, ``bulk``),
    or None: its twin edges are conductances (or it has no twin)."""
    training = spec.data.get("training") or {}
    twin = training.get("twin") or {} if isinstance(training, dict) else {}
    section = twin.get("mosfet") if isinstance(twin, dict) else None
    return section or None


def twin_mosfet(check: SpecChecker, twin: dict) -> dict:
    """``training.twin.mosfet`` checked: ``{"model": {"type", PARAM: value...}, "w", "l",
    "bulk"}``."""
    from eqprop_hw.circuit.transistors import DeviceModel, check_model_param
    from eqprop_hw.twin.mosfet import MosfetEdge, edge_param_problem
    where = "training.twin.mosfet"
    mosfet = check.mapping(twin["mosfet"], where, twin, "mosfet")
    check.keys(mosfet, MOSFET_KEYS, where)
    if mosfet.get("model") is None:
        check.fail(f"{where}.model is required (a mapping: type: NMOS and level-1 "
                   "parameters)", mosfet, "mosfet")
    model = check.mapping(mosfet["model"], f"{where}.model", mosfet, "model")
    if len(model) > MAX_EDGE_MODEL_PARAMS + 1:
        check.fail(f"{where}.model: {len(model) - 1} parameters, more than "
                   f"{MAX_EDGE_MODEL_PARAMS}", mosfet, "model")
    kind = model.get("type")
    if not isinstance(kind, str) or kind.upper() != "NMOS":
        check.fail(f"{where}.model: the edges are n-channel MOSFETs; give a model of type "
                   "NMOS", model if "type" in model else mosfet, "type" if "type" in model
                   else "model")
    out = {"type": "NMOS"}
    for key, value in model.items():
        if key == "type":
            continue
        name = key.upper() if isinstance(key, str) else key
        if name in out:
            check.fail(f"{where}.model: parameter {name} given twice", model, key)
        try:
            out[name] = check_model_param(name, value, "M", f"{where}.model")
        except CircuitError as error:
            check.fail(str(error), model, key)
        if not (name == "KP" and out[name] <= 0):      # (MosfetEdge: "must be positive")
            problem = edge_param_problem(name, out[name])
            if problem:
                check.fail(f"{where}.model: {problem}", model, key)
    result = {"model": out,
              "w": check.number(mosfet, "w", where, default=1e-5, positive=True),
              "l": check.number(mosfet, "l", where, default=1e-6, positive=True),
              "bulk": check.number(mosfet, "bulk", where, default=0.0)}
    params = tuple((k, v) for k, v in out.items() if k != "type")
    try:
        MosfetEdge(DeviceModel("TWMOS", "NMOS", params), w=result["w"], l=result["l"],
                   bulk=result["bulk"])
    except CircuitError as error:
        text = str(error)
        for prefix in ("twin mosfet model TWMOS: ", "twin mosfet: "):
            text = text.removeprefix(prefix)
        key = "model" if "model TWMOS" in str(error) else \
            next((k for k in ("w", "l", "bulk") if text.startswith(k + " ")), "model")
        check.fail(f"{where}{'.model' if key == 'model' else ''}: {text}", mosfet, key)
    if twin.get("damage") is not None and out.get("VTO", 0.0) <= 0:
        check.fail(f"{where}.model: a cut (training.twin.damage) pulls the edge's gate to the "
                   f"bulk rail, which turns it off only for VTO > 0 (VTO is "
                   f"{out.get('VTO', 0.0):g} V)", mosfet, "model")
    return result
