"""Controlled-source structures that leave a circuit's operating point undetermined (part of
:mod:`eqprop_hw.circuit.graph`, which re-exports every name and runs these checks in
:func:`~eqprop_hw.circuit.graph.validate_circuit`): loops of voltage-controlled voltage
sources and of current-controlled current sources whose gain matrix makes ``I - M`` singular,
and the DC matrix of the whole circuit with a pivot that vanishes.

Examples
--------
>>> from eqprop_hw.circuit.graph import Circuit, Element
>>> els = [Element("V1", "V", ("a", "0"), 1.0), Element("R1", "R", ("a", "0"), 1e-3)]
>>> check_dc_matrix(Circuit("ok", "graph", els, {}, [], [], []))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from eqprop_hw.circuit.spice_grammar import GROUND
from eqprop_hw.circuit.transistors import TRANSISTOR_NODES, conducting_pairs
from eqprop_hw.errors import CircuitError

if TYPE_CHECKING:
    from eqprop_hw.circuit.graph import Circuit


#: A loop of controlled sources is refused when ``I - M`` (M: the loop's gain matrix) has a
#: smallest singular value below this fraction of its largest (at least 1).
SINGULAR_TOLERANCE = 1e-9


def voltage_forest(circuit: Circuit) -> dict:
    """The forest of voltage-defining branches (V, E, H, L): node -> (parent, branch, sign).

    ``v(node) - v(parent) = sign * v(branch)`` with ``v(branch) = v(n+) - v(n-)``; a root maps
    to ``None``. Every tree is rooted at its first node (ground first). Assumes no loops
    (:func:`~eqprop_hw.circuit.graph.check_voltage_loops` ran).
    """
    adjacent: dict = {}
    for element in circuit.elements:
        if element.type in "VEHL":
            a, b = element.nodes[0], element.nodes[1]
            adjacent.setdefault(a, []).append((b, element.name, 1.0))
            adjacent.setdefault(b, []).append((a, element.name, -1.0))
    tree: dict = {}
    for start in circuit.nodes:
        if start in tree:
            continue
        tree[start] = None
        stack = [start]
        while stack:
            node = stack.pop()
            for other, branch, sign in adjacent.get(node, ()):
                if other not in tree:
                    # v(other) - v(node) = -sign * v(branch) seen from `other`
                    tree[other] = (node, branch, -sign)
                    stack.append(other)
    return tree


def _to_root(tree: dict, node: str) -> list:
    """[(node, branch, sign), ...] from ``node`` up to its tree's root."""
    path = []
    while tree.get(node) is not None:
        parent, branch, sign = tree[node]
        path.append((node, branch, sign))
        node = parent
    return path + [(node, None, 0.0)]


def path_voltage(tree: dict, x: str, y: str) -> dict | None:
    """``v(x) - v(y)`` as {branch: coefficient} over the voltage forest, or None.

    None when ``x`` and ``y`` lie in different trees (their difference then depends on the
    rest of the circuit).
    """
    up_x, up_y = _to_root(tree, x), _to_root(tree, y)
    if up_x[-1][0] != up_y[-1][0]:
        return None
    on_y = {node: k for k, (node, _b, _s) in enumerate(up_y)}
    coefficients: dict = {}
    for node, branch, sign in up_x:
        if node in on_y:
            for _node, branch_y, sign_y in up_y[:on_y[node]]:
                coefficients[branch_y] = coefficients.get(branch_y, 0.0) - sign_y
            break
        coefficients[branch] = coefficients.get(branch, 0.0) + sign
    return {branch: c for branch, c in coefficients.items() if c != 0.0}


def _singular_loops(names: list, gains: dict) -> list | None:
    """The elements of a dependency loop whose matrix ``I - M`` is singular, or None.

    ``gains[(i, j)]`` is d(quantity i)/d(quantity j) for the loop's elements.
    """
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    graph.add_edges_from(edge for edge, gain in gains.items() if gain != 0.0)
    for component in nx.strongly_connected_components(graph):
        members = [name for name in names if name in component]
        if len(members) == 1 and not graph.has_edge(members[0], members[0]):
            continue
        index = {name: k for k, name in enumerate(members)}
        matrix = np.eye(len(members))
        for (i, j), gain in gains.items():
            if i in index and j in index:
                matrix[index[i], index[j]] -= gain
        singular = np.linalg.svd(matrix, compute_uv=False)
        if singular[-1] <= SINGULAR_TOLERANCE * max(1.0, singular[0]):
            return members
    return None


def check_vcvs_loops(circuit: Circuit) -> None:
    """Raise CircuitError for a VCVS loop that leaves its output undetermined.

    An E element whose control pair (nc+, nc-) lies in the same tree of voltage-defining
    branches has a control voltage fixed by those branches; when that involves E outputs,
    the E outputs solve ``(I - M) v = b``. A VCVS whose control is exactly its own output
    (E n+ n- n+ n-) is always refused (its output is 0 V whatever the gain, or undetermined);
    otherwise the loop is refused when ``I - M`` is singular (e.g. a unity follower loop
    with gain -1, or two VCVS of gains 2 and 0.5 driving each other's control nodes):
    ngspice then returns an arbitrary answer and the native solver a singular matrix.
    """
    tree = voltage_forest(circuit)
    vcvs = [e for e in circuit.elements if e.type == "E"]
    gains: dict = {}
    for element in vcvs:
        control = path_voltage(tree, element.nodes[2], element.nodes[3])
        if control is None:
            continue
        if set(control) == {element.name}:
            raise CircuitError(
                f"element {element.name}: a VCVS controlled by its own output (control nodes "
                f"{element.nodes[2]!r}, {element.nodes[3]!r} are its output nodes): its output "
                "is 0 V whatever the gain, or undetermined at gain 1; drive it from another node")
        for branch, coefficient in control.items():
            if branch.startswith("E") and circuit.element(branch).type == "E":
                gains[(element.name, branch)] = element.value * coefficient
    loop = _singular_loops([e.name for e in vcvs], gains)
    if loop:
        raise CircuitError(
            f"elements {', '.join(loop)}: a loop of voltage-controlled voltage sources with "
            "loop gain 1 (each control voltage is fixed by the outputs of the loop): the "
            "circuit has no solution or infinitely many; change a gain or break the loop with "
            "a resistance")


def check_cccs_loops(circuit: Circuit) -> None:
    """Raise CircuitError for a CCCS loop that leaves a controlling current undetermined.

    When the controlling source of an F element is a bridge of the DC-path graph, its current
    is fixed by the current sources crossing that cut (KCL). If such currents are F outputs
    controlled by the same sources, the controlling currents solve ``(I - N) i = b``; a
    singular ``I - N`` (e.g. an F of gain 1 returning the current of its own control source
    through a node reached only by that source) is refused.
    """
    controls = sorted({e.control for e in circuit.elements if e.type == "F"})
    if not controls:
        return
    paths = nx.MultiGraph()
    paths.add_nodes_from(circuit.nodes)
    for element in circuit.elements:
        if element.type in ("C", "I", "G", "F"):
            continue
        if element.type == "B" and (element.expr or "").strip().upper().startswith("I"):
            continue
        if element.type in TRANSISTOR_NODES:
            for k, (x, y) in enumerate(conducting_pairs(element)):
                paths.add_edge(x, y, key=f"{element.name}#{k}")
            continue
        paths.add_edge(element.nodes[0], element.nodes[1], key=element.name)
    gains: dict = {}
    for name in controls:
        source = circuit.element(name)
        p, n = source.nodes[0], source.nodes[1]
        paths.remove_edge(p, n, key=name)
        side_p = nx.node_connected_component(paths, p)
        side_n = nx.node_connected_component(paths, n) if n not in side_p else None
        paths.add_edge(p, n, key=name)
        if side_n is None:
            continue                      # not a bridge: other paths carry the current
        inside, sigma = (side_p, 1.0) if GROUND not in side_p else (side_n, -1.0)
        for element in circuit.elements:
            if element.type != "F":
                continue
            a_in, b_in = element.nodes[0] in inside, element.nodes[1] in inside
            if a_in != b_in:
                leaving = 1.0 if a_in else -1.0
                key = (name, element.control)
                gains[key] = gains.get(key, 0.0) - sigma * leaving * element.value
    loop = _singular_loops(controls, gains)
    if loop:
        users = sorted(e.name for e in circuit.elements if e.type == "F" and e.control in loop)
        raise CircuitError(
            f"elements {', '.join(users)} (controlled by {', '.join(loop)}): a loop of "
            "current-controlled current sources with loop gain 1 (the controlling current "
            "is fixed only by these sources): the circuit has no solution or infinitely "
            "many; change a gain or add a DC path (a resistance) beside the controlling source")


def dc_matrix(circuit: Circuit):
    """The linear DC circuit matrix (modified nodal analysis) with every diode at gmin.

    Unknowns: the non-ground node voltages, then the currents of V, E, H and L branches.
    Capacitors are open, diodes are their smallest conductance (``options.gmin``, the
    junction conductance of a reverse-biased diode). Returns ``(matrix (csc), labels)``; None
    for a circuit with behavioural (B) sources or transistors, whose linearisation is not
    known here.
    """
    if any(e.type == "B" or e.type in TRANSISTOR_NODES for e in circuit.elements):
        return None
    nodes = [node for node in circuit.nodes if node != GROUND]
    column = {node: k for k, node in enumerate(nodes)}
    branches = [e.name for e in circuit.elements if e.type in "VEHL"]
    column.update({name: len(nodes) + k for k, name in enumerate(branches)})
    rows, cols, values = [], [], []

    def add(row, col, value):
        if row in column and col in column:        # ground rows and columns are dropped
            rows.append(column[row])
            cols.append(column[col])
            values.append(value)

    def conductance(a, b, g):
        for row, sign in ((a, 1.0), (b, -1.0)):
            add(row, a, sign * g)
            add(row, b, -sign * g)

    gmin = float(circuit.options.get("gmin", 1e-12))
    for element in circuit.elements:
        a, b = element.nodes[0], element.nodes[1]
        kind = element.type
        if kind == "R":
            conductance(a, b, element.value)
        elif kind == "D":
            conductance(a, b, gmin * element.value)
        elif kind == "G":
            for row, sign in ((a, 1.0), (b, -1.0)):
                add(row, element.nodes[2], sign * element.value)
                add(row, element.nodes[3], -sign * element.value)
        elif kind == "F":
            add(a, element.control, element.value)
            add(b, element.control, -element.value)
        elif kind in "VEHL":
            add(a, element.name, 1.0)
            add(b, element.name, -1.0)
            add(element.name, a, 1.0)
            add(element.name, b, -1.0)
            if kind == "E":
                add(element.name, element.nodes[2], -element.value)
                add(element.name, element.nodes[3], element.value)
            elif kind == "H":
                add(element.name, element.control, -element.value)
    size = len(column)
    matrix = sp.csc_matrix((values, (rows, cols)), shape=(size, size))
    return matrix, nodes + branches


def check_dc_matrix(circuit: Circuit) -> None:
    """Raise CircuitError when the linear DC circuit matrix is singular.

    Only circuits with controlled sources (E, F, G, H) are checked: a network of positive
    conductances, diodes, independent sources, capacitors and inductors that passes
    :func:`~eqprop_hw.circuit.graph.check_voltage_loops` and :func:`~eqprop_hw.circuit.graph.check_dc_paths` always has a regular matrix. The
    singular cases left are numeric coincidences, e.g. a G element whose negative
    transconductance cancels the conductance at its node: the native solver then finds a
    singular matrix and ngspice returns a huge, arbitrary voltage (its gmin regularisation).
    A pivot of the sparse LU below 1e-13 of its column's largest entry counts as singular.
    """
    if not any(e.type in "EFGH" for e in circuit.elements):
        return
    built = dc_matrix(circuit)
    if built is None or built[0].shape[0] == 0:
        return
    matrix, labels = built
    column_max = np.asarray(abs(matrix).max(axis=0).todense()).ravel()
    bad = None
    try:
        factor = spla.splu(matrix, permc_spec="COLAMD")
    except RuntimeError:               # an exactly zero pivot
        bad = "exactly"
    else:
        pivots = np.abs(factor.U.diagonal())
        scale = column_max[factor.perm_c]
        small = np.flatnonzero(pivots <= 1e-13 * scale)
        if small.size:
            bad = f"near ({labels[factor.perm_c[small[0]]]})"
    if bad is not None:
        controlled = sorted(e.name for e in circuit.elements if e.type in "EFGH")
        raise CircuitError(
            f"circuit {circuit.name!r}: its DC matrix is {bad} singular: the controlled "
            f"source(s) {', '.join(controlled[:6])}{' ...' if len(controlled) > 6 else ''} "
            "cancel a conductance or close a loop of gain 1, so there is no unique operating "
            "point; change a gain or add a conductance")
