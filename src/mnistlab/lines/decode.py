"""From the line reader's per-column log-probabilities to digits, confidences and the decision.

The rule, exactly (the ONNX file's metadata carries `temperature` and `threshold`; a JS port
applies it to the model's `log_probs` (T, 12) as follows):

1. Greedy decoding: c[t] = argmax_k log_probs[t, k] (ties: the lowest k). Runs of equal
   consecutive c[t] collapse to one symbol; runs of 0 (blank) are dropped. Each remaining
   run is one symbol k - 1 (k = 1..10: the digits "0".."9"; k = 11: "not a digit") whose span
   is the run's columns t0..t1 (inclusive).
2. Calibrated posteriors: p[t] = softmax(log_probs[t] / temperature).
3. A symbol's confidence = max over its span's columns t of p[t, k].
4. The line is refused (`digits` None, `abstain` true) when it holds no symbol, when any
   symbol is "not a digit", or when the minimum symbol confidence < threshold
   (score "min_digit_confidence").

Column t of the output sees input columns 4t..4t+3 (and a wider context around them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLANK = 0
NOT_A_DIGIT = 11
SYMBOLS = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "not a digit")
SCORE = "min_digit_confidence"


@dataclass(frozen=True)
class Symbol:
    cls: int  # 1..11, the model's output index
    start: int  # first output column of its run
    end: int  # last output column, inclusive
    confidence: float  # calibrated, max over the run's columns
    posterior: tuple[float, ...] = ()  # the 12 calibrated probabilities at that column

    @property
    def text(self) -> str:
        return SYMBOLS[self.cls - 1]


def greedy(log_probs: np.ndarray, temperature: float = 1.0) -> list[Symbol]:
    """log_probs (T, 12) of one line to its symbols, left to right (steps 1 to 3 above)."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    best = log_probs.argmax(axis=1)
    scaled = log_probs / temperature
    p = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    symbols, t = [], 0
    while t < len(best):
        end = t
        while end + 1 < len(best) and best[end + 1] == best[t]:
            end += 1
        if best[t] != BLANK:
            k = int(best[t])
            best_t = t + int(p[t : end + 1, k].argmax())
            symbols.append(Symbol(k, t, end, float(p[best_t, k]), tuple(float(v) for v in p[best_t])))
        t = end + 1
    return symbols


def decision(symbols: list[Symbol], threshold: float) -> tuple[str | None, bool]:
    """(digits or None, abstain) by step 4 above."""
    if not symbols or any(s.cls == NOT_A_DIGIT for s in symbols):
        return None, True
    if min(s.confidence for s in symbols) < threshold:
        return None, True
    return "".join(s.text for s in symbols), False


def read_text(symbols: list[Symbol]) -> str:
    """The symbols as text whatever the decision, "?" for "not a digit"."""
    return "".join("?" if s.cls == NOT_A_DIGIT else s.text for s in symbols)


def score(symbols: list[Symbol]) -> float:
    """The rule's score: the minimum symbol confidence (0 for a line with no symbol)."""
    return min((s.confidence for s in symbols), default=0.0)
