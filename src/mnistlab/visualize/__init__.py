"""The paper's figures and the report's plots, as matplotlib Figures drawn headless, by family.

Figure 1  `digit_grid`       random digits, each titled with its label           (digits)
Figure 2  `digit_matrix`     one digit as its 28x28 matrix of intensities        (digits)
Figure 3  `softmax_weights`  each class's weights, red positive and blue negative (weights)
          `conv_filters`     a CNN's first-layer filters, same colours            (weights)
          `training_curves`, `accuracy_against_steps`                             (curves)
          `confusion_figure`, `misclassified_gallery`                             (mistakes)
          `corruption_samples`, `robustness_bars`                                 (robustness)
          `reliability_diagram`                                                   (reliability)
          `new_figure`, `figure_bytes`, `save_figure`                             (canvas)
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "canvas": ["DPI", "FORMATS", "figure_bytes", "new_figure", "save_figure"],
        "digits": ["digit_grid", "digit_matrix"],
        "weights": ["conv_filters", "softmax_weights", "weights_figure"],
        "curves": ["accuracy_against_steps", "training_curves"],
        "mistakes": ["confident_mistakes", "confusion_figure", "misclassified_gallery"],
        "robustness": ["corruption_samples", "robustness_bars"],
        "reliability": ["reliability_diagram"],
    },
)
