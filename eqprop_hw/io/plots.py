"""PNG plots of training runs (matplotlib, headless). Every file is written atomically."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eqprop_hw.extras import available, install_hint, require
from eqprop_hw.io.fileio import atomic_write_bytes


def plots_possible(plots: bool, log=None) -> bool:
    """``plots``, unless matplotlib is missing: then False after one note (training goes on).

    Parameters
    ----------
    plots : bool
        Whether the caller wants the PNG plots of a training run.
    log : callable, optional
        Receives the note; without it the note is a :class:`RuntimeWarning`.
    """
    if not plots or available("matplotlib"):
        return plots
    note = (f"matplotlib is not installed: no PNG plots are written ({install_hint('matplotlib')} "
            "for them; --no-plots silences this note)")
    if log is not None:
        log(note)
    else:
        import warnings
        warnings.warn(note, RuntimeWarning, stacklevel=3)
    return False


def pyplot():
    """matplotlib's pyplot with the non-interactive Agg backend (the ``plot`` extra)."""
    matplotlib = require("matplotlib", "drawing plots (--plot, train's PNG files; or --no-plots)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


#: Resolution of every PNG (dots per inch).
DPI = 110

#: Attribute marking a figure laid out by this module (:func:`new_figure`): saved as it is.
_FIXED = "_eqprop_fixed_layout"


def new_figure():
    """An empty matplotlib figure on the Agg canvas, without pyplot, laid out by the caller.

    :func:`save_figure` writes such a figure as it is (one draw) instead of cropping it to its
    content (``bbox_inches="tight"``, which draws twice); the caller places every axes with
    :func:`_place` from the measured sizes of its labels. Building figures this way also skips
    importing pyplot.

    Examples
    --------
    >>> figure = new_figure()
    >>> figure.dpi, figure.canvas.manager is None     # 110 dots per inch, not in pyplot
    (110, True)
    """
    require("matplotlib", "drawing plots (--plot, train's PNG files; or --no-plots)")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(dpi=DPI)
    FigureCanvasAgg(figure)
    setattr(figure, _FIXED, True)
    return figure


def save_figure(figure, path: str | Path) -> None:
    """Render a figure to PNG and write it atomically.

    A figure of :func:`new_figure` is drawn once as laid out; any other (pyplot) figure is
    cropped to its content and closed.
    """
    buffer = io.BytesIO()
    if getattr(figure, _FIXED, False):
        figure.savefig(buffer, format="png", dpi=DPI)
        atomic_write_bytes(path, buffer.getvalue())
        return
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())
    pyplot().close(figure)


def _extent(renderer, texts, side: str = "width") -> float:
    """The largest ``side`` ("width" or "height") of the shown ``texts`` (inches, 0 if none)."""
    sizes = [getattr(t.get_window_extent(renderer), side) for t in texts
             if t.get_visible() and t.get_text()]
    return max(sizes, default=0.0) / DPI


def _margins(axis, renderer) -> tuple[float, float]:
    """``(left, bottom)``: the room (inches) ``axis``'s y and x tick labels and axis labels
    take outside its box (ticks 3.5 pt, tick pad 3.5 pt, label pad 4 pt, as matplotlib draws
    them)."""
    pads = (3.5 + 3.5 + 4.0) / 72
    y_ticks = axis.yaxis.get_majorticklabels() + axis.yaxis.get_minorticklabels()
    x_ticks = axis.xaxis.get_majorticklabels() + axis.xaxis.get_minorticklabels()
    left = _extent(renderer, y_ticks) + _extent(renderer, [axis.yaxis.label]) + pads
    bottom = (_extent(renderer, x_ticks, "height")
              + _extent(renderer, [axis.xaxis.label], "height") + pads)
    return left, bottom


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075"
                             "\u2076\u2077\u2078\u2079")


def power_label(x: float) -> str:
    """``x`` as a power of ten in plain text (Unicode superscripts, no mathtext to typeset).

    Examples
    --------
    >>> power_label(1e-8), power_label(2e-4), power_label(1.0), power_label(0.0)
    ('10⁻⁸', '2×10⁻⁴', '1', '0')
    """
    if x == 0 or not np.isfinite(x):
        return f"{x:g}"
    exponent = int(np.floor(np.log10(abs(x)) + 1e-9))
    mantissa = round(x / 10.0 ** exponent, 6)
    power = "1" if exponent == 0 else "10" + str(exponent).translate(_SUPERSCRIPT)
    return power if mantissa == 1 else f"{mantissa:g}\u00d7{power}"


def _power_ticks(axis) -> None:
    """Label a logarithmic ``axis`` (an x or y Axis object) like matplotlib's default
    (decades, and some minor ticks over a narrow range) but as :func:`power_label` text:
    typesetting the default's mathtext labels costs more than drawing the figure. Over two
    decades or more, unlabelled minor ticks only at 2 and 5 times each power of ten (the
    default's eight per decade are most of the figure's drawing time)."""
    from matplotlib.ticker import LogFormatter, LogLocator

    class PowerFormatter(LogFormatter):
        def _num_to_string(self, x, vmin, vmax):
            return power_label(x)

    axis.set_major_formatter(PowerFormatter(10.0))
    axis.set_minor_formatter(PowerFormatter(10.0, labelOnlyBase=False))
    low, high = sorted(axis.get_view_interval())
    if low > 0 and high / low >= 100:
        axis.set_minor_locator(LogLocator(10.0, subs=(2.0, 5.0)))


def _place(figure, axes, widths, height: float, left: float, gaps, right: float,
           bottom: float, top: float) -> None:
    """Size ``figure`` and place ``axes`` side by side (all lengths in inches): the axes are
    ``widths`` x ``height``, ``gaps`` between them, the margins around them."""
    total_width = left + sum(widths) + sum(gaps) + right
    total_height = bottom + height + top
    figure.set_size_inches(total_width, total_height)
    x = left
    for axis, width, gap in zip(axes, widths, [*gaps, 0.0]):
        axis.set_position([x / total_width, bottom / total_height, width / total_width,
                           height / total_height])
        x += width + gap


@dataclass(frozen=True)
class FigureJob:
    """One PNG to draw: what a figure function of :data:`FIGURES` needs, as plain data.

    The arguments are numbers, strings, lists and arrays only (no circuit or spec objects), so
    that a helper process (:mod:`eqprop_hw.io.figure_helper`) draws the same figure without
    importing the rest of the package.
    """

    path: str
    """The PNG file to write (atomically)."""
    figure: str
    """A key of :data:`FIGURES`: the function that builds the figure."""
    arguments: dict
    """Its keyword arguments."""


def draw_job(job: FigureJob) -> None:
    """Build ``job``'s figure and write its PNG (atomically), with matplotlib's settings as
    its files give them (``matplotlib.rcParamsOrig``), not as this process may have changed
    them: the same bytes in any process (a run's figure helper or the caller's).

    Examples
    --------
    >>> job = FigureJob(str(TMP / "curve.png"), "epoch_curves",
    ...                 {"epochs": [1, 2], "train": [0.5, 0.25], "test": [0.5, 0.3],
    ...                  "ylabel": "loss (V^2)", "title": "a run", "log": True})
    >>> draw_job(job); (TMP / "curve.png").read_bytes()[:4]
    b'\\x89PNG'
    """
    import matplotlib
    settings = {key: value for key, value in matplotlib.rcParamsOrig.items()
                if key != "backend"}
    with matplotlib.rc_context(settings):
        save_figure(FIGURES[job.figure](**job.arguments), job.path)


def training_figures(out_dir: str | Path, circuit, values: np.ndarray, metrics: dict,
                     spec) -> list[FigureJob]:
    """The figures of a training run, as jobs (:func:`draw_job`), in the order they are
    written: ``loss.png`` and, if classification, ``accuracy.png``
    (:func:`epoch_curves_figure`), ``conductances.png`` (:func:`conductance_histogram_figure`)
    and ``conductance_map.png`` (:func:`conductance_map_figure`)."""
    out_dir = Path(out_dir)
    epochs = list(metrics["epochs"])
    cross_entropy = metrics.get("loss") == "cross_entropy"
    title = (f"{spec.name} ({metrics['backend']}, {metrics['nudge']} EP, "
             f"beta={metrics['beta']:g} {'W' if cross_entropy else 'S'})")
    ylabel = (f"cross-entropy, tau = {metrics.get('temperature')} V  (nats)" if cross_entropy
              else "loss 1/2 sum (V_out - y)^2  (V^2)")
    jobs = [FigureJob(str(out_dir / "loss.png"), "epoch_curves",
                      {"epochs": epochs, "train": list(metrics["train_loss"]),
                       "test": list(metrics["test_loss"]), "ylabel": ylabel, "title": title,
                       "log": True})]
    if any(a is not None for a in metrics["test_accuracy"]):
        jobs.append(FigureJob(str(out_dir / "accuracy.png"), "epoch_curves",
                              {"epochs": epochs,
                               "train": [100 * (a or 0) for a in metrics["train_accuracy"]],
                               "test": [100 * (a or 0) for a in metrics["test_accuracy"]],
                               "ylabel": "accuracy (%)", "title": title}))
    jobs += [FigureJob(str(out_dir / "conductances.png"), "conductance_histograms",
                       {"groups": conductance_groups(circuit, values),
                        "title": f"trained conductances: {title}"}),
             FigureJob(str(out_dir / "conductance_map.png"), "conductance_maps",
                       {"matrices": conductance_matrices(circuit, values), "title": title})]
    return jobs


def plot_training(out_dir: str | Path, circuit, values: np.ndarray, metrics: dict, spec,
                  helper=None) -> None:
    """Draw a training run's figures (:func:`training_figures`) into ``out_dir``.

    ``helper`` (a :class:`eqprop_hw.io.figure_helper.FigureHelper`, optional) draws them in its
    own process; whatever it could not draw is drawn here, so that an error (a full disk, a
    folder that is gone) is raised here as without it.
    """
    jobs = training_figures(out_dir, circuit, values, metrics, spec)
    if helper is not None:
        jobs = helper.draw(jobs)
    for job in jobs:
        draw_job(job)


def epoch_curves_figure(epochs, train, test, ylabel: str, title: str, log: bool = False):
    """A per-epoch curve of the training and the test set (:func:`new_figure`, laid out):
    markers on at most about 40 epochs (every epoch is on the line), the legend in a row
    between the title and the panel, never on the data; ``log``: a logarithmic y axis."""
    from matplotlib.ticker import MaxNLocator
    figure = new_figure()
    axis = figure.add_axes([0, 0, 1, 1])
    every = max(1, -(-len(epochs) // 40))
    axis.plot(epochs, train, "o-", label="train", markevery=every)
    axis.plot(epochs, test, "s-", label="test", markevery=every)
    axis.set_xlabel("epoch")
    axis.set_ylabel(ylabel)
    if log:
        axis.set_yscale("log")
        _power_ticks(axis.yaxis)
        _readable_log_ticks(axis, list(train) + list(test))
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.set_title(title, fontsize=9, pad=24)
    axis.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False,
                fontsize=9, borderaxespad=0.2)
    axis.grid(alpha=0.3)
    renderer = figure.canvas.get_renderer()
    left, bottom = _margins(axis, renderer)
    top = _extent(renderer, [axis.title], "height") + 24 / 72 + 0.1
    _place(figure, [axis], [4.65], 3.0, left + 0.1, [], 0.25, bottom + 0.1, top)
    return figure


def _readable_log_ticks(axis, values) -> None:
    """On a log axis spanning under two decades, label enough ticks: evenly spaced values
    under one decade, 1, 2, 3, 5 times the powers of ten under two (else a curve between two
    powers of ten shows one labelled tick or none). Call after plotting ``values``."""
    from matplotlib.ticker import MaxNLocator, NullFormatter
    values = np.asarray([v for v in values if v is not None and np.isfinite(v) and v > 0])
    if not values.size:
        return
    low, high = axis.get_ylim()
    if low <= 0 or high / low >= 100:
        return
    if high / low < 10:
        ticks = [t for t in MaxNLocator(nbins=5).tick_values(low, high) if low <= t <= high]
    else:
        powers = 10.0 ** np.arange(np.floor(np.log10(low)), np.ceil(np.log10(high)) + 1)
        ticks = [m * p for p in powers for m in (1, 2, 3, 5) if low <= m * p <= high]
    if len(ticks) >= 2:
        axis.set_yticks(ticks, [f"{t:.3g}" for t in ticks])
        axis.yaxis.set_minor_formatter(NullFormatter())


def conductance_groups(circuit, values: np.ndarray) -> list[dict]:
    """The trainable conductances (S) by crossbar, for :func:`conductance_histogram_figure`:
    ``[{"layer": int, "g": ndarray}, ...]`` (one group of every trainable value for a circuit
    without crossbars)."""
    values = np.asarray(values, dtype=float)
    crossbars = circuit.crossbars or [{"layer": 1, "elements": list(circuit.trainable)}]
    position = {name: k for k, name in enumerate(circuit.trainable)}
    return [{"layer": crossbar["layer"],
             "g": values[[position[n] for n in crossbar["elements"]]]} for crossbar in crossbars]


def plot_conductances(path: str | Path, circuit, values: np.ndarray, title: str = "") -> None:
    """Histogram of the trainable conductances (S), one panel per crossbar, under ``title``
    (default: the circuit's name)."""
    figure = conductance_histogram_figure(conductance_groups(circuit, values),
                                          title or f"{circuit.name}: trainable conductances")
    save_figure(figure, path)


def conductance_histogram_figure(groups: list[dict], title: str):
    """Histograms of conductances (S, log bins), a panel per group of
    :func:`conductance_groups`, under ``title`` (:func:`new_figure`, laid out)."""
    figure = new_figure()
    axes = [figure.add_axes([0, 0, 1, 1]) for _ in groups]
    for axis, group in zip(axes, groups):
        g = np.asarray(group["g"], dtype=float)
        bins = np.logspace(np.log10(max(g.min(), 1e-15)), np.log10(g.max() * 1.0001), 40)
        axis.hist(g, bins=bins, histtype="stepfilled", color="tab:blue", alpha=0.8)
        axis.set_xscale("log")
        _power_ticks(axis.xaxis)
        axis.set_xlabel("conductance (S)")
        axis.set_ylabel("conductances per bin")
        axis.set_title(f"crossbar {group['layer']} ({g.size} conductances)", fontsize=9)
    suptitle = figure.suptitle(title, fontsize=10, va="top")
    renderer = figure.canvas.get_renderer()
    margins = [_margins(axis, renderer) for axis in axes]
    top = (_extent(renderer, [suptitle], "height") + 0.2
           + _extent(renderer, [axis.title for axis in axes], "height") + 6 / 72 + 0.05)
    _place(figure, axes, [3.75] * len(axes), 2.3, margins[0][0] + 0.1,
           [m[0] + 0.3 for m in margins[1:]], 0.25, max(m[1] for m in margins) + 0.1, top)
    suptitle.set_y(1 - 0.08 / figure.get_figheight())
    return figure


def conductance_matrices(circuit, values: np.ndarray) -> list[dict]:
    """The trainable conductances as matrices, one per crossbar.

    Parameters
    ----------
    circuit : Circuit
        A layered circuit (``circuit.crossbars``: row nodes, column nodes, element names) or
        any other circuit (then one node-by-node matrix of its trainable two-terminal
        elements, rows and columns the nodes they connect, in circuit order).
    values : array_like
        Trainable values (S) in ``circuit.trainable`` order.

    Returns
    -------
    list of dict
        ``{"title", "rows": [node...], "columns": [node...], "g": ndarray (rows, columns)}``
        with NaN where no element connects the pair.
    """
    values = np.asarray(values, dtype=float)
    position = {name: k for k, name in enumerate(circuit.trainable)}
    if circuit.crossbars:
        crossbars = [(f"crossbar {c['layer']}", list(c["rows"]), list(c["columns"]),
                      c["elements"]) for c in circuit.crossbars]
    else:
        names = list(circuit.trainable)
        touched = {node for name in names for node in circuit.element(name).nodes[:2]}
        nodes = [node for node in circuit.nodes if node in touched]
        crossbars = [("trainable elements", nodes, nodes, names)]
    matrices = []
    for title, rows, columns, names in crossbars:
        row_of = {node: i for i, node in enumerate(rows)}
        column_of = {node: j for j, node in enumerate(columns)}
        g = np.full((len(rows), len(columns)), np.nan)
        for name in names:
            a, b = circuit.element(name).nodes[:2]
            if a in row_of and b in column_of:
                g[row_of[a], column_of[b]] = values[position[name]]
            elif b in row_of and a in column_of:
                g[row_of[b], column_of[a]] = values[position[name]]
        matrices.append({"title": title, "rows": rows, "columns": columns, "g": g})
    return matrices


def _node_ticks(axis, rows: list, columns: list, limit: int = 24) -> None:
    """Node names as tick labels when there are few enough, else index ticks."""
    if len(columns) <= limit:
        axis.set_xticks(range(len(columns)))
        axis.set_xticklabels(columns, rotation=90, fontsize=7)
    if len(rows) <= limit:
        axis.set_yticks(range(len(rows)))
        axis.set_yticklabels(rows, fontsize=7)


def plot_conductance_maps(path: str | Path, circuit, values: np.ndarray,
                          title: str = "") -> None:
    """Heatmap of the trained conductances of each crossbar (rows x columns, colour in S).

    One panel per crossbar (:func:`conductance_matrices`): row ``i``, column ``j`` is the
    conductance from row node ``i`` (a layer's nodes, inputs and bias sources) to column node
    ``j`` (the next layer's nodes), on a logarithmic colour scale shared by all panels, with a
    colour bar in siemens. The PNG is written atomically.
    """
    save_figure(conductance_map_figure(conductance_matrices(circuit, values), title), path)


def conductance_map_figure(matrices: list[dict], title: str = ""):
    """Heatmaps of :func:`conductance_matrices` on one logarithmic colour scale with a colour
    bar in siemens (:func:`new_figure`, laid out; see :func:`plot_conductance_maps`)."""
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm
    finite = np.concatenate([m["g"][np.isfinite(m["g"])] for m in matrices])
    low = max(float(finite.min()), 1e-15) if finite.size else 1e-12
    high = max(float(finite.max()), low * 1.0001) if finite.size else 1e-3
    norm = LogNorm(vmin=low, vmax=high)
    widest = max(m["g"].shape[1] for m in matrices)
    ratios = [max(m["g"].shape[1], 0.25 * widest, 2) for m in matrices]
    widths = [3.6 * len(matrices) * r / sum(ratios) for r in ratios]   # inches
    figure = new_figure()
    axes = [figure.add_axes([0, 0, 1, 1]) for _ in matrices]
    cmap = colormaps["viridis"].with_extremes(bad="lightgrey")
    image = None
    for axis, matrix in zip(axes, matrices):
        image = axis.imshow(np.ma.masked_invalid(matrix["g"]), norm=norm, cmap=cmap,
                            aspect="auto", interpolation="nearest")
        _node_ticks(axis, matrix["rows"], matrix["columns"])
        rows, columns = matrix["g"].shape
        axis.set_title(f"{matrix['title']} ({rows} x {columns})", fontsize=9)
        axis.set_xlabel("column node (to)" if columns <= 24 else "column node index (to)")
        axis.set_ylabel("row node (from)" if rows <= 24 else "row node index (from)")
    bar_axis = figure.add_axes([0, 0, 1, 1], label="<colorbar>")   # as matplotlib names it
    colorbar = figure.colorbar(image, cax=bar_axis)
    colorbar.set_label("conductance (S)")
    _power_ticks(bar_axis.yaxis)
    suptitle = figure.suptitle(title, fontsize=10, va="top") if title else None
    renderer = figure.canvas.get_renderer()
    margins = [_margins(axis, renderer) for axis in axes]
    bar_left, _ = _margins(bar_axis, renderer)      # its labels are on the right
    top = (_extent(renderer, [axis.title for axis in axes], "height") + 6 / 72 + 0.1
           + (_extent(renderer, [suptitle], "height") + 0.15 if title else 0.0))
    gaps = [m[0] + 0.3 for m in margins[1:]] + [0.2]
    _place(figure, [*axes, bar_axis], [*widths, 0.2], 3.55, margins[0][0] + 0.1, gaps,
           bar_left + 0.1, max(m[1] for m in margins) + 0.1, top)
    if title:
        suptitle.set_y(1 - 0.08 / figure.get_figheight())
    return figure


#: The figure functions a :class:`FigureJob` names (the whole list: a helper process draws
#: nothing else).
FIGURES = {"epoch_curves": epoch_curves_figure,
           "conductance_histograms": conductance_histogram_figure,
           "conductance_maps": conductance_map_figure}


def voltage_layers(circuit) -> list[tuple[str, list]]:
    """Nodes grouped by layer for node-voltage maps: ``[(label, [node...]), ...]``.

    Layered circuits: the first crossbar's row nodes (inputs and bias sources), then the column
    nodes of each crossbar (hidden layers, outputs last). Other circuits: one group of every
    non-ground node.
    """
    if circuit.crossbars:
        groups = [("inputs and bias", list(circuit.crossbars[0]["rows"]))]
        last = len(circuit.crossbars)
        for k, crossbar in enumerate(circuit.crossbars, start=1):
            groups.append(("outputs" if k == last else f"hidden layer {k}",
                           list(crossbar["columns"])))
        return groups
    return [("nodes", [node for node in circuit.nodes if node != "0"])]


def plot_node_voltages(path: str | Path, circuit, node_names: list, phases: dict,
                       targets=None, title: str = "", image=None) -> None:
    """Free vs nudged node voltages of one sample, one panel per layer.

    Parameters
    ----------
    path : str or Path
        The PNG to write (atomically).
    circuit : Circuit
        For the layer grouping (:func:`voltage_layers`) and the output nodes.
    node_names : list of str
        Column order of the voltage vectors (a backend's ``node_names``).
    phases : dict of str to array_like
        ``{"free": V (n_nodes,), "nudged (beta=...)": V, ...}`` in volts; the first entry is
        the free phase.
    targets : array_like, optional
        Target voltages of the outputs (V), drawn on the output panel.
    title : str
        Figure title.
    image : array_like, shape (rows, columns), optional
        The sample's input as an image (image data sets: the encoded pixels), drawn in a
        panel left of the node voltages.

    Notes
    -----
    Top row: every phase's voltage per node (V). Bottom row: each nudged phase minus the free
    phase (mV), the signal the local rule measures, which is far smaller than the voltages.
    Panels are at least a third as wide as the widest, so a layer of few nodes (the outputs)
    keeps readable node names.

    Long because: its docstring (about 25 lines) documents the figure; the code is about 60.
    """
    plt = pyplot()
    column = {name: k for k, name in enumerate(node_names)}
    groups = [(label, [n for n in nodes if n in column]) for label, nodes in
              voltage_layers(circuit)]
    groups = [(label, nodes) for label, nodes in groups if nodes]
    labels = list(phases)
    vectors = [np.asarray(phases[label], dtype=float).ravel() for label in labels]
    nudged = len(labels) > 1
    widest = max(len(nodes) for _, nodes in groups)
    widths = [max(len(nodes), widest / 3, 3) for _, nodes in groups]
    first = 1 if image is not None else 0            # the input image's column
    if image is not None:
        widths = [max(widest / 3, 3)] + widths
    figure, axes = plt.subplots(2 if nudged else 1, len(widths),
                                figsize=(1.5 + 3.6 * len(widths), 6.4 if nudged else 3.6),
                                squeeze=False, gridspec_kw={"width_ratios": widths})
    if image is not None:
        _input_image(figure, axes[0][0], np.asarray(image, dtype=float))
        for axis in axes[1:, 0]:
            axis.axis("off")
    markers = ["o", "^", "v", "s", "D"]
    outputs = [port.node for port in circuit.outputs]
    for g, (label, nodes) in enumerate(groups, start=first):
        x = np.arange(len(nodes))
        columns = [column[n] for n in nodes]
        top = axes[0][g]
        for p, (name, vector) in enumerate(zip(labels, vectors)):
            top.plot(x, vector[columns], markers[p % len(markers)],
                     linestyle="-" if p == 0 else "none", markersize=4 if p else 5,
                     label=name, alpha=0.9 if p == 0 else 0.8)
        if targets is not None and any(n in outputs for n in nodes):
            target = np.asarray(targets, dtype=float).ravel()
            at = [x[nodes.index(n)] for n in outputs if n in nodes]
            top.plot(at, target[:len(at)], "k_", markersize=16, mew=2, label="target")
            handles, names = top.get_legend_handles_labels()
        top.set_title(f"{label} ({len(nodes)} node{'s' if len(nodes) != 1 else ''})",
                      fontsize=9)
        top.grid(alpha=0.3)
        if g == first:
            top.set_ylabel("node voltage (V)")
        if nudged:
            bottom = axes[1][g]
            for p in range(1, len(labels)):
                bottom.plot(x, 1e3 * (vectors[p][columns] - vectors[0][columns]),
                            markers[p % len(markers)], markersize=4, label=labels[p],
                            color=f"C{p}")
            bottom.axhline(0.0, color="k", linewidth=0.6)
            bottom.grid(alpha=0.3)
            bottom.sharex(top)
            top.tick_params(labelbottom=False)
            if g == first:
                bottom.set_ylabel("nudged - free (mV)")
        bottom_axis = axes[-1][g]
        if len(nodes) <= 24:
            bottom_axis.set_xticks(x)
            bottom_axis.set_xticklabels(nodes, rotation=90 if len(nodes) > 4 else 0, fontsize=7)
            bottom_axis.set_xlabel("node")
        else:
            bottom_axis.set_xlabel("node index in layer")
    if targets is None or not any(n in outputs for _, nodes in groups for n in nodes):
        handles, names = axes[0][first].get_legend_handles_labels()
    figure.legend(handles, names, loc="upper center", bbox_to_anchor=(0.5, 0.955),
                  ncol=len(names), fontsize=8, frameon=False)
    figure.subplots_adjust(top=0.86, wspace=0.4)     # room for tick labels such as -0.010
    if title:
        figure.suptitle(title, fontsize=10, y=0.995)
    save_figure(figure, path)


def _input_image(figure, axis, image: np.ndarray) -> None:
    """The sample's input pixels (encoded values) as a grey image with its colour bar."""
    shown = axis.imshow(image, cmap="gray_r", interpolation="nearest")
    rows, columns = image.shape
    axis.set_title(f"input image ({rows} x {columns} pixels)", fontsize=9)
    axis.set_xlabel("pixel column")
    axis.set_ylabel("pixel row")
    colorbar = figure.colorbar(shown, ax=axis, orientation="horizontal", fraction=0.08,
                               pad=0.22)
    colorbar.set_label("input value (encoded)", fontsize=8)
    colorbar.ax.tick_params(labelsize=7)
