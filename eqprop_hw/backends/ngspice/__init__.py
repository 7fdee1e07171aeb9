"""The ngspice backend: DC operating points computed by ngspice's shared library.

ngspice is reached through PySpice's ``NgSpiceShared`` (cffi bindings of ``libngspice``), but
only through one thin adapter, :class:`NgspiceSession`, which

* finds and loads the library (``NGSPICE_LIBRARY_PATH``, else ``ctypes.util.find_library``;
  Debian ships only ``libngspice.so.0``, which PySpice would not find by itself),
* captures every line ngspice writes (it never reaches the terminal unless asked) into a
  bounded buffer and the logger ``eqprop_hw.ngspice``, and classifies each line with the pure
  function :func:`classify_message` (newer ngspice writes harmless notes such as
  ``Using SPARSE 1.3`` or gmin-stepping progress on stderr, which PySpice mistakes for
  failures),
* runs commands directly (``ngSpice_Command``), reads result vectors directly
  (``ngGet_Vec_Info``) and keeps exactly one circuit loaded.

ngspice is not re-entrant and there is one ngspice per process, so there is one session per
process (:meth:`NgspiceSession.get`). Several :class:`NgspiceBackend` objects may share it: the
circuit of whichever backend solves is loaded, replacing the previous one (a backend that lost
the session reloads its circuit, with its current values, on its next solve).

:class:`NgspiceBackend` loads its netlist once and then, per sample, only ``alter``\\ s the
sources whose values changed (inputs, nudging targets, nudging gain), runs ``op``, reads the
node voltages and frees the result plot (``destroy all``, sent in the same ngspice command as
the next operating point's ``alter``\\ s; every analysis otherwise keeps its plot, memory grows
without bound and every later command slows down). The phases of a sample run back to back,
every other sample in reverse order, so that consecutive samples meet in the same phase. A
conductance update ``alter``\\ s only the conductances that changed. ngspice's command
interpreter costs about 2 µs per ``alter`` whatever its form (``docs/performance.md``), so the
number of ``alter``\\ s is what counts.

:func:`read_raw_file` and :func:`run_ngspice_batch` run the ``ngspice`` program itself on a
netlist, independently of the shared library, for cross-checks.

Examples
--------
>>> from eqprop_hw.circuit.spec import parse_spec
>>> from eqprop_hw.circuit.build import build_circuit
>>> circuit = build_circuit(parse_spec({"name": "t", "kind": "layered", "layers": [2, 3, 1]}))
>>> with NgspiceBackend(circuit) as backend:                     # doctest: +SKIP
...     result = backend.solve([[0.5, -0.5], [1.0, 0.0]])
...     result.outputs.shape
(2, 1)

The package, one module per part:

``messages``  ngspice's output lines classified (harmless, warning, error)
``raw``       the ``ngspice`` program run in batch mode, its raw files read
``session``   the process's shared-library session (:class:`NgspiceSession`)
``backend``   :class:`NgspiceBackend`, which implements the Backend interface on the session
"""

from eqprop_hw.backends.ngspice.backend import (ALTER_PARAMETER, OP_RETRIES, UNCHANGED_RELATIVE,
                                                NgspiceBackend)
from eqprop_hw.backends.ngspice.messages import INSTALL_HINT, classify_message, is_harmless
from eqprop_hw.backends.ngspice.raw import (find_ngspice_program, read_raw_file, read_raw_plots,
                                            run_ngspice_batch)
from eqprop_hw.backends.ngspice.session import (COMMANDS_BEFORE_RESET, DEFAULT_OP_OPTIONS,
                                                MAX_COMMAND_LENGTH, NgspiceSession,
                                                command_chunks, find_ngspice_library)

__all__ = ["NgspiceBackend", "NgspiceSession", "classify_message", "is_harmless",
           "read_raw_file", "read_raw_plots", "run_ngspice_batch", "find_ngspice_library",
           "find_ngspice_program", "ALTER_PARAMETER", "OP_RETRIES", "UNCHANGED_RELATIVE",
           "INSTALL_HINT", "MAX_COMMAND_LENGTH", "COMMANDS_BEFORE_RESET", "DEFAULT_OP_OPTIONS",
           "command_chunks"]
