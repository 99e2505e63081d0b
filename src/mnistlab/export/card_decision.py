"""The model card's account of the decision: the temperature and the abstention rule from the
run's calibration.json, how to apply them to the ONNX file's logits, and a plain statement when
the run was never calibrated (raw softmax, never abstains)."""

from __future__ import annotations

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
        return "\n".join(lines)
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
