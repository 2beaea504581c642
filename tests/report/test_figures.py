import matplotlib.pyplot as plt
import pandas as pd

from rnnbench.figures import model_color, plot_retention
from rnnbench.models.contract import model_order


def test_every_built_in_model_has_its_own_colour():
    # the registry has more than tab20's 20 colours: a modulo of 20 gave Hawk and the
    # Transformer the colours of two classics in the same retention figure
    order = model_order()
    colours = [model_color(m) for m in order]
    assert len(order) > 20
    assert len(set(colours)) == len(order)
    assert model_color("lstm [hidden_size=8]") == model_color("lstm")


def test_a_retention_figure_puts_its_legend_beside_the_lines(tmp_path, monkeypatch):
    models = model_order()[:15]
    summary = pd.DataFrame(
        [
            {
                "group": "adding/x",
                "axis": "T",
                "model": m,
                "axis_value": t,
                "normalised_mean": 0.5,
                "normalised_std": 0.1,
                "n": 2,
                "metric": "mse",
            }
            for m in models
            for t in (10.0, 25.0, 50.0)
        ]
    )
    figures = []
    monkeypatch.setattr("rnnbench.figures.save", lambda fig, stem: figures.append(fig) or [stem])
    plot_retention(summary, tmp_path)
    (fig,) = figures
    fig.canvas.draw()
    ax = fig.axes[0]
    legend, axes = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= axes.x1  # beside the axes, covering none of the lines
    assert legend.y0 >= 0 and legend.x1 <= fig.bbox.x1  # and inside the figure
    assert len(ax.get_legend().get_texts()) == len(models) + 1  # the baseline too
    plt.close(fig)
