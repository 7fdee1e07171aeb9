"""Stage 1 of the data path: spec -> circuit graph -> netlist (and SPICE import)."""
