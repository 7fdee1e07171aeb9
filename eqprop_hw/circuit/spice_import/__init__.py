"""Import SPICE netlists as ``graph`` specs: the inverse of :mod:`eqprop_hw.circuit.netlist`.

:func:`import_netlist` reads a netlist file and returns a plain ``graph`` spec mapping that
:func:`eqprop_hw.circuit.spec.parse_spec` accepts; :func:`spec_to_yaml` writes such a mapping as
deterministic YAML. A netlist written by :func:`eqprop_hw.circuit.netlist.write_netlist` round-trips:
export -> import -> build -> export gives the same bytes (input values are baked into the source
DC values and nudging elements become ordinary elements).

Nothing in a netlist is ever executed. Values and ``.param`` expressions are evaluated by a
small evaluator over Python's :mod:`ast` that allows only numbers, parameter names,
``+ - * / ** ^``, parentheses and math functions.

Supported subset
----------------
* The first line is the title. ``eqprop-hw NAME`` (our exporter) gives the spec name ``NAME``;
  any other title gives a name made from the file stem (or ``imported``).
* ``*`` comment lines, ``;`` and ``$ `` end-of-line comments, ``+`` continuation lines.
  Element names are upper-cased, node names lower-cased, ``gnd`` is ground ``0``.
* Elements ``R C L D V I E G F H B`` (see :data:`ELEMENT_SYNTAX`) and ``X`` subcircuit
  instances. Values are numbers with SPICE suffixes (``f p n u m k meg g t mil``, optionally
  followed by a unit: ``10k``, ``2.2uF``, ``1meg``; note ``3MEG`` is 3e6 but ``3M`` is 3e-3),
  or ``{expr}`` / ``'expr'`` (with ngspice's ``c ? a : b``, comparisons and ``&& || !``).
  V and I take ``[DC] x``, ``AC`` and one waveform (PULSE SIN PWL EXP SFFM): the value is the
  DC value, else the waveform at t = 0 as ngspice defines it (:func:`~eqprop_hw.circuit.spice_import.sources.waveform_at_zero`).
  ``m=`` is folded into R, C, L and diode values; ``ic=``, ``ac=`` and ``tc1=``/``tc2=`` (at
  TNOM only) are accepted.
* Behavioural sources ``B n+ n- V=expr`` / ``I=expr`` whose identifiers are math functions,
  ``v(node)``, ``v(a,b)``, ``i(VSOURCE)``, numbers, ``time``, ``temper``, ``hertz``, ``pi`` or
  ``.param`` names (replaced by their values). The spec keeps the text after the nodes.
* Transistors ``M`` (drain gate source bulk; up to 7 nodes with an SOI model), ``Q``
  (collector base emitter [substrate [thermal]]), ``J`` and ``Z`` (drain gate source) with
  ``.model NAME NMOS|PMOS|NPN|PNP|NJF|PJF|NMF|PMF|NHFET|PHFET`` cards, switches ``S`` (n+ n-
  nc+ nc- MODEL, ``.model NAME SW``) and ``W`` (n+ n- VCONTROL MODEL, ``CSW``), transmission
  lines ``T`` (four nodes, ``z0`` and ``td`` or ``f``), ``O`` (``LTRA`` model) and ``Y``
  (``TXL`` model) (see :mod:`eqprop_hw.circuit.spice_import.devices` and
  :mod:`eqprop_hw.circuit.line_devices`): fixed elements that only the ngspice backend
  simulates.
* CIDER numerical devices: ``D`` with a ``.model NAME numd``, ``Q`` (collector base emitter)
  with ``nbjt``, ``M`` with ``numos``; the model's ``+`` lines are sub-cards read by the strict
  grammar of :mod:`eqprop_hw.circuit.cider` (see :mod:`.cider_devices`): fixed elements that
  only the ngspice backend simulates. Files read or written by a device (``infile=``,
  ``ic.file=``, ``rootfile=``, ``save``/``print``) are refused.
* Cards: ``.param``, ``.model NAME D(...)`` (diode parameters of
  :data:`eqprop_hw.circuit.graph.DIODE_DC_PARAMS` and :data:`~eqprop_hw.circuit.graph.DIODE_AC_PARAMS`
  only), ``.subckt``/``.ends``, ``.include``/``.inc``, ``.lib FILE SECTION`` (and ``.lib
  SECTION`` ... ``.endl`` definitions), ``.options`` (the numeric options of
  :data:`eqprop_hw.circuit.spec.OPTION_NAMES` are kept, every other option is ignored),
  ``.temp``, ``.global``, ``.func`` (expanded, no recursion), ``.if``/``.elseif``/``.else``/
  ``.endif`` (constant conditions), and ``.control`` blocks and the analysis/output cards of
  :data:`IGNORED_CARDS`, left out (never run, never written). Models of other types and
  subcircuits that nothing uses are ignored. Vendor node names (``IN+``) and model names
  (``1N4148``) are mapped to grammar names. Everything left out, renamed, folded, accepted
  or ignored is listed in the ``notes`` (see :func:`import_netlist_text`).
* Metadata comments written by the exporter: ``*@ input NAME SRC:gain ...``,
  ``*@ output NAME NODE``, ``*@ trainable PATTERN ...``. Without a ``*@ eqprop-hw netlist``
  header and without ``*@ trainable`` lines the spec has no ``trainable`` key (so the spec's
  default applies); with the header and no ``*@ trainable`` line nothing is trainable.
  Each input name, output name and pattern is given once, a source is driven by one input,
  port names follow the port grammar and ``|gain| <= 1e9`` (the source limit of
  :mod:`eqprop_hw.circuit.limits`); a breach is refused at its line.

Subcircuit flattening
---------------------
Instances are expanded in place. Inside instance ``XA`` (path ``XA``; an instance ``XB`` inside
it has path ``XA_XB``) an element ``R1`` becomes ``R1_XA`` (``R1_XA_XB``): the element letter
stays first. An internal node ``mid`` becomes ``mid_xa`` (``mid_xa_xb``); pins map to the
nodes of the instance line, ground ``0`` stays global. ``.model`` cards inside a subcircuit are
global; nested ``.subckt`` definitions are hoisted to global scope. The controlling source of an
F or H element, and ``i(...)`` in a B expression, is renamed when it names an element of the
same subcircuit and otherwise refers to a top-level element. Every flattened element and node
name is checked for collisions with all other names; a collision is an error naming both lines.
Parameters: instance overrides (``XA n1 n2 NAME a=5``) are evaluated with the caller's values;
the defaults of ``.subckt NAME pins [params:] a=1 b={2*a}`` that are not overridden are then
evaluated in order with the global ``.param`` values, the overrides and the earlier defaults;
``.param`` cards inside the body are evaluated last, in the instance's scope.

Not checked here
----------------
The import checks names, node counts, values, models, references (F/H controls, ``v()`` and
``i()`` in B expressions, metadata) and validates the result with
:func:`~eqprop_hw.circuit.spec.parse_spec`; whether the circuit is simulable (floating nodes) is checked
by :func:`eqprop_hw.circuit.build.build_circuit`. Negative resistances (a netlist nudged with a negative
beta) are refused: eqprop-hw circuits need positive conductances.

Refused
-------
ngspice control commands outside a ``.control`` block (``shell``, ``exec``, ``source``, ...),
``.exec``, ``.csparam``, ``.nodeset`` and every ``.`` card not listed above, a ``.param``
defined twice at the top level, ``4k7`` notation (ngspice reads it as 4k), a ``.lib`` section
without ``.endl`` (before the end of the file or the next ``.lib SECTION``), an ``.endl NAME``
closing another section, a section defined twice, a ``.control`` without ``.endc``,
``.include``/``.lib``
of a file outside the netlist's folder (after resolving symlinks and ``..``), include recursion
deeper than :data:`MAX_INCLUDE_DEPTH`, behavioural expressions with other identifiers or
characters, XSPICE ``A`` devices and other lines (``U K N P`` ...),
transistor and switch flags ``off``/``on`` and ``ic=``, a netlist without elements (saying
whether it is a subcircuit library or a ``.control`` script). With ``allow_unsafe=True`` includes may read files outside the folder; nothing else
changes (no card is skipped); B expressions must still parse in the grammar every netlist
writer enforces (:mod:`eqprop_hw.circuit.spice_grammar`), and elements that a spec cannot
represent (``A``, ``U``, ...) are still refused.

Every error is a :class:`~eqprop_hw.errors.NetlistError` naming the file and line.

Examples
--------
>>> spec = import_netlist_text("demo\\nV1 in 0 DC 1\\nR1 in out 10k\\nR2 out 0 {2*5k}\\n.end\\n")
>>> [(e["name"], e["nodes"], e.get("r", e.get("dc"))) for e in spec["elements"]]
[('V1', ['in', '0'], 1.0), ('R1', ['in', 'out'], 10000.0), ('R2', ['out', '0'], 10000.0)]
>>> print(spec_to_yaml(spec).splitlines()[4])
  - {name: V1, nodes: [in, '0'], dc: 1.0}

Layout
------
The package splits the importer by job: :mod:`.lines` (logical lines, tokens, names),
:mod:`.expressions` (values, ``.param`` and ``.func``), :mod:`.sources` (source values and B
expressions), :mod:`.structure` (includes, ``.lib``, ``.if``, subcircuit definitions), :mod:`.cider_devices` (CIDER devices),
:mod:`.cards` (``.param``/``.model``/``.options``), :mod:`.elements` (element lines and
flattening), :mod:`.importer` (the pipeline and the entry points) and :mod:`.yaml_text` (spec
YAML). This module re-exports the public names.
"""

from eqprop_hw.circuit.spice_grammar import parse_spice_number
from eqprop_hw.circuit.spice_import.cards import IGNORED_CARDS, OPTION_CARDS
from eqprop_hw.circuit.spice_import.elements import (CONTROL_COMMANDS, ELEMENT_SYNTAX, MAX_ELEMENTS,
                                                     MAX_SUBCKT_DEPTH)
from eqprop_hw.circuit.spice_import.expressions import (MAX_EXPR_CHARS, MAX_FUNCTIONS,
                                                        evaluate_expression)
from eqprop_hw.circuit.spice_import.importer import (MAX_NOTE_ITEMS, import_netlist,
                                                     import_netlist_text)
from eqprop_hw.circuit.spice_import.lines import MAX_FILE_BYTES
from eqprop_hw.circuit.spice_import.sources import WAVEFORMS
from eqprop_hw.circuit.spice_import.structure import (MAX_IF_DEPTH, MAX_INCLUDE_DEPTH, MAX_INCLUDED_BYTES,
                                                      MAX_INCLUDED_FILES)
from eqprop_hw.circuit.spice_import.yaml_text import TOP_ORDER, spec_to_yaml

__all__ = ["CONTROL_COMMANDS", "ELEMENT_SYNTAX", "IGNORED_CARDS", "MAX_ELEMENTS", "MAX_EXPR_CHARS",
           "MAX_FILE_BYTES", "MAX_FUNCTIONS", "MAX_IF_DEPTH", "MAX_INCLUDED_BYTES",
           "MAX_INCLUDED_FILES", "MAX_INCLUDE_DEPTH", "MAX_NOTE_ITEMS", "MAX_SUBCKT_DEPTH",
           "OPTION_CARDS", "TOP_ORDER", "WAVEFORMS", "evaluate_expression", "import_netlist",
           "import_netlist_text", "parse_spice_number", "spec_to_yaml"]
