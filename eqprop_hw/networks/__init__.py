"""One class per network kind behind one interface (:class:`~eqprop_hw.networks.base.Network`):
:class:`~eqprop_hw.networks.resistive.ResistiveNetwork` (``kind: layered`` and ``graph``, at
zero or finite temperature) and :class:`~eqprop_hw.networks.lc.LCNetwork` (``kind: lc``).
:func:`eqprop_hw.load` picks the class once from the spec's kind."""
