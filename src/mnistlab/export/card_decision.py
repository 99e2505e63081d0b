"""The model card's account of the decision: the temperature and the abstention rule from the
run's calibration.json, how to apply them to the ONNX file's logits, and a plain statement when
the run was never calibrated (raw softmax, never abstains)."""

from __future__ import annotations

from mnistlab.evaluation.trust import OOD_FILE, read_ood
from mnistlab.export.result import ExportResult

_SCORE_TEXT = {
    "msp": "the largest calibrated probability",
    "energy": "temperature x logsumexp(logits / temperature)",
}


def _refusal(result: ExportResult) -> str:
    return "not a digit" if result.dataset["image_kind"] == "digits" else "not one of the classes"


def calibration_section(result: ExportResult) -> str:
    rule, n = result.rule, len(result.dataset["classes"])
    lines = ["## Calibration and abstention", ""]
    if result.calibration is None:
        lines.append(
            f"- **This run was not calibrated**: it has no calibration.json (it was trained before "
            "calibration existed). Its probabilities are the raw softmax (temperature 1), not "
            f"calibrated, and it never abstains: it gives one of the {n} classes for any input. "
            f"`mnistlab calibrate {result.run_dir}` fits both on the validation split; export again "
            "afterwards."
        )
        return "\n".join([*lines, *_test_lines(result)])
    lines += [
        f"- Temperature **{rule.temperature:.4f}**, fitted on the {rule.fitted_on} by minimising the "
        "negative log-likelihood (Guo et al. 2017): the probabilities are softmax(logits / temperature).",
        f"- Abstention: score `{rule.score}` ({_SCORE_TEXT.get(rule.score, rule.score)}); the model "
        f'answers when it is at least **{rule.threshold!r}** and says "{_refusal(result)}" below. '
        f"The threshold is the {rule.quantile:.1%} quantile of the scores on the {rule.fitted_on}: "
        "that share of real validation images, the least sure, is refused.",
    ]
    validation = result.calibration.get("validation") or {}
    before, after = validation.get("before"), validation.get("after")
    if before and after:
        lines.append(
            f"- On the validation split, ECE {before['ece']:.2%} -> {after['ece']:.2%} and NLL "
            f"{before['nll']:.4f} -> {after['nll']:.4f} with the temperature."
        )
    lines += _test_lines(result)
    lines += [
        "- The metadata keys `temperature`, `abstention` and `decision` hold the same; with "
        "onnxruntime and numpy the decision is:",
        "",
        "```python",
        "z = logits.astype(np.float64) / temperature",
        "p = np.exp(z - z.max(axis=1, keepdims=True)); p /= p.sum(axis=1, keepdims=True)",
        "score = p.max(axis=1)  # msp; energy: temperature * scipy.special.logsumexp(z, axis=1)",
        "abstain = score < threshold  # else the answer is p.argmax(axis=1)",
        "```",
    ]
    return "\n".join(lines)


def _test_lines(result: ExportResult) -> list[str]:
    """The export's own test split: calibration before and after the temperature, and the rule."""
    d = result.test_decision
    if d is None:
        return []
    before, after, inside = d["before"], d["after"], d["inside"]
    if result.calibration is None:
        return [
            f"- On the {d['images']:,} test images of the verification (raw softmax): ECE "
            f"{before['ece']:.2%}, NLL {before['nll']:.4f}, Brier {before['brier']:.4f}."
        ]
    return [
        f"- On the {d['images']:,} test images of the verification, T = 1 -> calibrated: ECE "
        f"{before['ece']:.2%} -> {after['ece']:.2%}, NLL {before['nll']:.4f} -> {after['nll']:.4f}, "
        f"Brier {before['brier']:.4f} -> {after['brier']:.4f} (15 bins; Brier summed over classes). "
        f"The rule refuses {inside['abstained']:.2%} of them and is right on "
        f"{inside['selective_accuracy']:.2%} of the rest ({inside['accuracy']:.2%} answering all).",
    ]


def outlier_section(result: ExportResult) -> str:
    """The outlier sets from RUN_DIR/ood.json (`mnistlab evaluate RUN --ood`), when it exists."""
    report = read_ood(result.run_dir)
    if report is None:
        return ""
    lines = [
        "## What it refuses",
        "",
        f"From `{OOD_FILE}` in the run directory (`mnistlab evaluate RUN_DIR --ood`, the test split): "
        "AUROC (a random test image scores above a random outlier), the share of outliers still "
        "answered when 95 % of the test images are, and the share the rule refuses.",
    ]
    if report["rule"] != result.rule.to_dict():
        lines += ["", "**Measured with another rule than this export's**: run `--ood` again and re-export."]
    lines += ["", "| outlier set | images | AUROC | FPR at 95 % TPR | refused |", "|---|---|---|---|---|"]
    lines += [
        f"| {o['outliers']} | {o['images']:,} | {o['auroc']:.4f} | {o['fpr_at_95_tpr']:.2%} | {o['abstained']:.2%} |"
        for o in report["outliers"]
    ]
    return "\n".join(lines)


def abstention_limit(result: ExportResult, n: int) -> str:
    if result.calibration is None:
        return (
            f"- It has no 'none of these' answer: letters, several digits, a blank page or a photo "
            f"still get a probability spread over the {n} classes, often a confident one. Its "
            "probabilities are not calibrated."
        )
    return (
        f'- It says "{_refusal(result)}" only below its threshold: its rule was fitted on validation '
        "images and checked on a few kinds of outliers (`mnistlab evaluate RUN_DIR --ood`); other "
        "inputs can still be read, even confidently, and untidy real images can be refused."
    )
