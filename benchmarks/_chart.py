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
        raise SystemExit("the chart needs matplotlib: pip install -e '.[bench]'") from error

    backends = results.backends()
    groups = list(
        dict.fromkeys(
            (measurement.scenario, measurement.case) for measurement in results.measurements
        )
    )
    # A case's own baseline is the line at 1; only the other bars are drawn.
    drawn = [
        (measurement, measurement.ratio_to(baseline))
        for measurement in results.measurements
        if not measurement.baseline and (baseline := results.baseline_of(measurement)) is not None
    ]
    libraries = list(dict.fromkeys(measurement.library for measurement, _ in drawn))
    palette = matplotlib.colormaps["tab10"]
    colours = {library: palette(index % palette.N) for index, library in enumerate(libraries)}
    figure, axes = plt.subplots(
        1,
        len(backends),
        figsize=(5.5 * len(backends), 0.8 * len(groups) + 1.5),
        sharey=True,
        squeeze=False,
    )
    for axis, backend in zip(axes[0], backends, strict=True):
        for row, group in enumerate(groups):
            bars = [
                (measurement, ratio)
                for measurement, ratio in drawn
                if (measurement.backend, measurement.scenario, measurement.case)
                == (backend, *group)
            ]
            height = 0.8 / max(3, len(bars))
            for slot, (measurement, ratio) in enumerate(bars):
                axis.barh(
                    row - 0.4 + (slot + 0.5) * height,
                    ratio,
                    height=height,
                    color=colours[measurement.library],
                    label=measurement.library,
                )
                axis.annotate(
                    f"{ratio:.2f}" if ratio < 10 else f"{ratio:,.0f}",
                    (ratio, row - 0.4 + (slot + 0.5) * height),
                    xytext=(2, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=6,
                )
        axis.set_xscale("log")
        axis.axvline(1, color="black", linewidth=0.8)
        axis.set_title(backend)
        axis.set_xlabel("time / baseline of the case (log; lower is faster)")
    axes[0][0].set_yticks(range(len(groups)), [f"{scenario}\n{case}" for scenario, case in groups])
    axes[0][0].invert_yaxis()
    handles = {
        label: handle
        for axis in axes[0]
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True)
    }
    figure.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(6, len(handles)))
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)
