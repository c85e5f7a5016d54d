"""The PNG chart of a run: per backend, each contender's time as a ratio to its baseline.

matplotlib comes with the ``bench`` extra and is imported only when a chart is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from ._results import Results


def draw(results: Results, path: Path) -> None:
    """Write the chart of *results* to *path* (PNG).

    :raises SystemExit: if matplotlib is not installed, saying how to get it
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise SystemExit(
            "the chart needs matplotlib: pip install -e '.[bench]'"
        ) from error

    backends = results.backends()
    groups = list(
        dict.fromkeys(
            (measurement.scenario, measurement.case) for measurement in results.measurements
        )
    )
    libraries = list(dict.fromkeys(measurement.library for measurement in results.measurements))
    colours = dict(zip(libraries, plt.get_cmap("tab10").colors, strict=False))
    figure, axes = plt.subplots(
        1, len(backends), figsize=(5 * len(backends), 0.75 * len(groups) + 1.5), sharey=True,
        squeeze=False,
    )
    height = 0.8 / len(libraries)
    for axis, backend in zip(axes[0], backends, strict=True):
        for row, (scenario, case) in enumerate(groups):
            for slot, library in enumerate(libraries):
                measurement = results.find(backend, scenario, case, library)
                baseline = None if measurement is None else results.baseline_of(measurement)
                if measurement is None or baseline is None:
                    continue
                axis.barh(
                    row + slot * height - 0.4,
                    measurement.ratio_to(baseline),
                    height=height,
                    color=colours[library],
                    label=library,
                )
        axis.set_xscale("log")
        axis.axvline(1, color="black", linewidth=0.8)
        axis.set_title(backend)
        axis.set_xlabel("time / baseline (log; lower is faster)")
    axes[0][0].set_yticks(range(len(groups)), [f"{scenario}\n{case}" for scenario, case in groups])
    axes[0][0].invert_yaxis()
    handles = {
        handle.get_label(): handle
        for axis in axes[0]
        for handle in axis.get_legend_handles_labels()[0]
    }
    figure.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(5, len(handles)))
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)
