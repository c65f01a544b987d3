"""Self-interaction analysis: where two instances' conversations drift, and how fast."""

from __future__ import annotations

import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from welfare.findings import invalid_rate
from welfare.findings import turn as turn_text
from welfare.probes.base import Frames
from welfare.probes.self_interaction.banks import Lexicon, _normalise
from welfare.probes.self_interaction.options import CODER_THEME_LABELS, SelfInteractionOptions
from welfare.records import Finding, ProbeResult
from welfare.seeds import json_seed
from welfare.stats import (
    benjamini_hochberg,
    bootstrap_ci,
    cohen_kappa,
    kaplan_meier,
    median_survival,
    survival_at,
    wilson_interval,
)

if TYPE_CHECKING:
    from welfare.config import AssessmentConfig





# ------------------------------------------------------------------------------ analysis

def _conversations(f: Frames) -> pd.DataFrame:
    """One row per finished conversation: subject, partner, validity, turns' texts, ending."""
    obs = f.observations
    if obs.empty or f.transcripts.empty:
        return pd.DataFrame()
    texts = {
        row.trial_id: [m["content"] if isinstance(m["content"], str) else _blocks_text(m)
                       for m in row.messages if m.get("role") == "assistant"]
        for row in f.transcripts.itertuples()
    }
    conv = obs.copy()
    conv["texts"] = conv["trial_id"].map(lambda t: texts.get(t, []))
    conv["n_turns"] = conv["texts"].map(len)
    for col, default in (("partner", "self"), ("ended", False), ("end_turn", None),
                         ("truth_themes", None), ("speakers", None), ("opening", "")):
        if col not in conv.columns:
            conv[col] = default
    conv["ended"] = conv["ended"].fillna(False).astype(bool)
    trials = f.trials.set_index("trial_id")
    conv["replicate"] = conv["trial_id"].map(trials["replicate"]) if len(trials) else 0
    conv["pair"] = [
        s if p == "self" else f"{s} × {p}" for s, p in zip(conv["subject"], conv["partner"],
                                                         strict=True)
    ]
    return conv.sort_values(["pair", "trial_id"]).reset_index(drop=True)


def _blocks_text(message: dict[str, Any]) -> str:
    return "\n".join(b.get("text", "") for b in message.get("content", [])
                     if isinstance(b, dict) and b.get("type") == "text")


def _bootstrap(data: Any, statistic: Any, *, seed: int, n_resamples: int,
               clusters: Any = None) -> tuple[float, float]:
    """`welfare.stats.bootstrap_ci` (BCa), falling back to percentile where BCa is undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo, hi = bootstrap_ci(data, statistic, clusters=clusters, n_resamples=n_resamples,
                              seed=seed)
        if not (np.isfinite(lo) and np.isfinite(hi)):
            lo, hi = bootstrap_ci(data, statistic, clusters=clusters, n_resamples=n_resamples,
                                  seed=seed, method="percentile")
    return float(lo), float(hi)


def _median_turn(km: pd.DataFrame) -> tuple[float, float, float]:
    """Median turn from a Kaplan–Meier table, with the Brookmeyer–Crowley interval.

    `welfare.stats.median_survival`: S compared with 0.5 with a float tolerance, and an exact
    0.5 plateau giving the midpoint to the next drop (NaN: not reached).
    """
    est = median_survival(km)
    return est.estimate, est.ci_low, est.ci_high


def _sufficient(matrix: np.ndarray) -> np.ndarray:
    """Per conversation (row): n, Σt, Σt², Σy, Σty over its observed turns t = 1, 2, …"""
    valid = ~np.isnan(matrix)
    t = np.where(valid, np.arange(1, matrix.shape[1] + 1, dtype=float), 0.0)
    y = np.nan_to_num(matrix)
    return np.column_stack([valid.sum(1), t.sum(1), (t * t).sum(1), y.sum(1), (t * y).sum(1)])


def _slope(stats: np.ndarray) -> float:
    """Pooled least-squares slope of presence on turn, from conversations' sufficient sums.

    Resampling conversations (rows) then resamples whole conversations: the cluster bootstrap.
    """
    n, st, stt, sy, sty = np.asarray(stats, dtype=float).sum(axis=0)
    denom = stt - st * st / n if n > 0 else 0.0
    return float((sty - st * sy / n) / denom) if denom > 0 else float("nan")


def _permutation_slope_p(matrix: np.ndarray, observed: float, n_perm: int,
                         rng: np.random.Generator) -> float:
    """Two-sided p of the slope, shuffling presence across turns within each conversation."""
    valid = ~np.isnan(matrix)
    if not np.isfinite(observed):
        return float("nan")
    turns = np.broadcast_to(np.arange(1, matrix.shape[1] + 1, dtype=float), matrix.shape)
    tc = np.where(valid, turns - turns[valid].mean(), 0.0)
    denom = float((tc * tc).sum())
    y = np.nan_to_num(matrix)
    exceed = 0
    for start in range(0, n_perm, 100):
        b = min(100, n_perm - start)
        keys = rng.random((b, *matrix.shape))
        keys[:, ~valid] = np.inf  # valid turns are a prefix: they stay in front
        perm = np.take_along_axis(np.broadcast_to(y, keys.shape), keys.argsort(axis=2), axis=2)
        slopes = (perm * tc).sum(axis=(1, 2)) / denom
        exceed += int((np.abs(slopes) >= abs(observed) - 1e-12).sum())
    return (1 + exceed) / (1 + n_perm)


_TOKEN = re.compile(r"[^\W\d_]{2,}")


def _tokens(text: str) -> list[str]:
    norm = _normalise(text)
    return _TOKEN.findall(norm) + [c for c in norm if unicodedata.category(c) == "So"]


def _tfidf_rows(docs: list[list[str]]) -> np.ndarray:
    """L2-normalised TF-IDF rows (idf = ln((1 + n) / (1 + df)): words in every doc weigh 0)."""
    vocab: dict[str, int] = {}
    for doc in docs:
        for tok in doc:
            vocab.setdefault(tok, len(vocab))
    counts = np.zeros((len(docs), max(1, len(vocab))))
    for i, doc in enumerate(docs):
        for tok, c in Counter(doc).items():
            counts[i, vocab[tok]] = c
    df = (counts > 0).sum(axis=0)
    weights = counts * np.log((1 + len(docs)) / (1 + df))
    norms = np.linalg.norm(weights, axis=1, keepdims=True)
    return np.divide(weights, norms, out=np.zeros_like(weights), where=norms > 0)


def _mean_offdiag(sim: np.ndarray, ids: np.ndarray) -> float:
    """Mean similarity over pairs of distinct conversations among `ids` (with repeats)."""
    sub = sim[np.ix_(ids, ids)]
    mask = ids[:, None] != ids[None, :]
    return float(sub[mask].mean()) if mask.any() else float("nan")


def _emoji_in(text: str) -> list[str]:
    return [c for c in _normalise(text) if unicodedata.category(c) == "So"]


@dataclass
class _Group:
    """One subject (and partner): its conversations and what the analysis found."""

    pair: str
    subject: str
    partner: str
    convs: pd.DataFrame
    presence: dict[str, np.ndarray]  # theme → conversations × turns, NaN after the last turn


class _Analysis:
    """The statistics of one probe result; `fill` turns them into findings, tables, figures."""

    def __init__(self, convs: pd.DataFrame, codes: pd.DataFrame, exchanges: pd.DataFrame,
                 lexicon: Lexicon, options: SelfInteractionOptions, config: AssessmentConfig,
                 truths: Mapping[str, Any] | None = None) -> None:
        self.convs = convs
        self.codes = codes
        self.exchanges = exchanges
        self.lexicon = lexicon
        self.options = options
        self.config = config
        self.truths = truths or {}
        self.max_turn = int(max(convs["n_turns"].max(), 1))
        self.findings: list[Finding] = []
        self.tables: dict[str, list[dict[str, Any]]] = {}
        self.km: dict[str, dict[str, pd.DataFrame]] = {}
        self.groups: list[_Group] = []
        self.attractor: list[dict[str, Any]] = []
        self.samples: list[dict[str, Any]] = []

    def _rows(self, name: str) -> list[dict[str, Any]]:
        return self.tables.setdefault(name, [])

    def _rng(self, *parts: object) -> np.random.Generator:
        return np.random.default_rng(json_seed(self.config.seed, *parts))

    # -- driver ----------------------------------------------------------------------------
    def run(self) -> None:
        for pair, convs in self.convs.groupby("pair", sort=True):
            convs = convs.reset_index(drop=True)
            group = _Group(str(pair), str(convs["subject"].iloc[0]),
                           str(convs["partner"].iloc[0]), convs, self._presence(convs))
            self.groups.append(group)
            truth = self._truth(group)
            self._invalid(group)
            self._by_turn(group, truth)
            self._coder_labels(group)
            self._final_share(group, truth)
            self._first_appearance(group, truth)
            self._trend(group)
            self._convergence(group)
            self._ending(group, truth)
            self._words(group)
            self._tokens(group)
            self._sample(group)
        self._adjust_trends()
        self._verdicts()

    def _presence(self, convs: pd.DataFrame) -> dict[str, np.ndarray]:
        out = {}
        for theme in self.lexicon.themes:
            m = np.full((len(convs), self.max_turn), np.nan)
            for i, texts in enumerate(convs["texts"]):
                for t, text in enumerate(texts):
                    m[i, t] = float(theme.carried_by(text))
            out[theme.id] = m
        return out

    def _truth(self, g: _Group) -> dict[str, Any] | None:
        a = self.truths.get(g.subject)
        b = a if g.partner == "self" else self.truths.get(g.partner)
        if a is None or b is None:
            return None
        return {"a": a, "b": None if g.partner == "self" else b, "themes": set(a.themes),
                "allow_end": bool(self.options.allow_end)}

    # -- measures --------------------------------------------------------------------------
    def _invalid(self, g: _Group) -> None:
        n = len(g.convs)
        k = int((~g.convs["valid"].astype(bool)).sum())
        reasons = Counter(g.convs.loc[~g.convs["valid"].astype(bool), "stopped"])
        detail = ", ".join(f"{r} ×{c}" for r, c in reasons.most_common()) or "none"
        self.findings.append(invalid_rate(
            "self_interaction", g.subject, k, n, unit="share of conversations", importance=3,
            sentence=("{k} of {n} conversations ({pct}, {ci}) were cut short by an unusable "
                      f"turn ({detail}); their turns up to that point are still counted turn by "
                      "turn.")))

    def _by_turn(self, g: _Group, truth: dict[str, Any] | None) -> None:
        for theme in self.lexicon.themes:
            m = g.presence[theme.id]
            n = (~np.isnan(m)).sum(axis=0)
            k = np.nansum(m, axis=0)
            for t in range(self.max_turn):
                if n[t] == 0:
                    continue
                lo, hi = wilson_interval(int(k[t]), int(n[t]))
                true = None
                if truth and theme.id in truth["themes"]:
                    true = truth["a"].true_theme_share(
                        theme.id, t + 1, partner=truth["b"], allow_end=truth["allow_end"])
                self._rows("theme_by_turn").append({
                    "subject": g.subject, "partner": g.partner, "source": "topic lexicon",
                    "theme": theme.id, "turn": t + 1, "n": int(n[t]), "k": int(k[t]),
                    "share": k[t] / n[t], "ci_low": lo, "ci_high": hi, "truth": true,
                })

    def _coder_labels(self, g: _Group) -> None:
        """Per-turn shares by the coders' labels, and their agreement with the topic lexicon."""
        codes = self.codes
        if codes.empty or "coder" not in codes.columns:
            return
        ids = set(g.convs["trial_id"])
        mine = codes[codes["trial_id"].isin(ids) & codes["label"].isin(CODER_THEME_LABELS)]
        index = {tid: i for i, tid in enumerate(g.convs["trial_id"])}
        for coder, rows in mine.groupby("coder"):
            for label in CODER_THEME_LABELS:
                m = np.where(np.isnan(g.presence[self.lexicon.themes[0].id]), np.nan, 0.0)
                hit = rows[rows["label"] == label]
                for tid, turn in zip(hit["trial_id"], hit["turn"].astype(int), strict=True):
                    if 1 <= turn <= self.max_turn and not np.isnan(m[index[tid], turn - 1]):
                        m[index[tid], turn - 1] = 1.0
                n = (~np.isnan(m)).sum(axis=0)
                k = np.nansum(m, axis=0)
                for t in np.flatnonzero(n):
                    lo, hi = wilson_interval(int(k[t]), int(n[t]))
                    self._rows("theme_by_turn").append({
                        "subject": g.subject, "partner": g.partner, "source": f"coder:{coder}",
                        "theme": label, "turn": int(t + 1), "n": int(n[t]), "k": int(k[t]),
                        "share": k[t] / n[t], "ci_low": lo, "ci_high": hi, "truth": None,
                    })
                theme = next((th for th in self.lexicon.themes if th.coder_label == label), None)
                if theme is None:
                    continue
                lex = g.presence[theme.id]
                cells = ~np.isnan(lex)
                a, b = lex[cells] > 0, m[cells] > 0
                kappa = float("nan")
                if len(a) and (a.any() or b.any()) and not (a.all() and b.all()):
                    try:
                        kappa = float(cohen_kappa(a.astype(int), b.astype(int)))
                    except ValueError:
                        kappa = float("nan")
                self._rows("lexicon_vs_coders").append({
                    "subject": g.subject, "coder": coder, "theme": theme.id, "label": label,
                    "turns": len(a), "both": int((a & b).sum()),
                    "lexicon_only": int((a & ~b).sum()), "coder_only": int((~a & b).sum()),
                    "cohen_kappa": kappa,
                })

    def _final_share(self, g: _Group, truth: dict[str, Any] | None) -> None:
        valid = g.convs["valid"].astype(bool).to_numpy() & (g.convs["n_turns"] > 0).to_numpy()
        last = g.convs["n_turns"].to_numpy() - 1
        n = int(valid.sum())
        if n == 0:
            return
        turns = int(self.options.turns)
        for theme in self.lexicon.themes:
            m = g.presence[theme.id]
            final = m[np.flatnonzero(valid), last[valid]]
            k = int(final.sum())
            lo, hi = wilson_interval(k, n)
            true = None
            if truth and theme.id in truth["themes"]:
                true = truth["a"].true_final_share(
                    theme.id, turns, partner=truth["b"], allow_end=truth["allow_end"])
            self._rows("final_theme_share").append({
                "subject": g.subject, "partner": g.partner, "theme": theme.id, "n": n, "k": k,
                "share": k / n, "ci_low": lo, "ci_high": hi, "truth": true,
            })
            self.findings.append(Finding(
                id=f"self_interaction.theme_share.{theme.id}", subject=g.subject,
                estimate=k / n, ci=(lo, hi), n=n, unit="share of conversations",
                sentence=(f"The final turn carried the {theme.label} theme in {k} of {n} "
                          f"conversations ({k / n:.0%}, 95% CI {lo:.0%}–{hi:.0%}) between "
                          f"{_pair_words(g)}."),
                importance=1, truth=true, n_unit="conversations",
            ))

    def _first_appearance(self, g: _Group, truth: dict[str, Any] | None) -> None:
        n_turns = g.convs["n_turns"].to_numpy()
        keep = n_turns > 0
        self.km.setdefault(g.pair, {})
        for theme in self.lexicon.themes:
            m = g.presence[theme.id][keep]
            seen = np.nan_to_num(m) > 0
            event = seen.any(axis=1)
            duration = np.where(event, seen.argmax(axis=1) + 1, n_turns[keep])
            if len(duration) == 0:
                continue
            km = kaplan_meier(duration, event)
            self.km[g.pair][theme.id] = km
            true_s = None
            if truth and theme.id in truth["themes"]:
                true_s = truth["a"].true_first_appearance(theme.id, self.max_turn,
                                                          partner=truth["b"])
            for row in km.itertuples():
                self._rows("first_appearance").append({
                    "subject": g.subject, "partner": g.partner, "theme": theme.id,
                    "turn": int(row.turn), "at_risk": int(row.at_risk), "events": int(row.events),
                    "censored": int(row.censored), "survival": row.survival,
                    "ci_low": row.ci_low, "ci_high": row.ci_high,
                    "truth": None if true_s is None else float(true_s[int(row.turn) - 1]),
                })
            med, lo, hi = _median_turn(km)
            true_med = None
            if true_s is not None:
                below = np.flatnonzero(true_s <= 0.5)
                true_med = float(below[0] + 1) if len(below) else float("nan")
            share = 1 - survival_at(km, self.max_turn).estimate
            words = (f"median turn {med:g} (95% CI {lo:g}–{turn_text(hi)})" if med == med else
                     f"median not reached within {self.max_turn} turns")
            self.findings.append(Finding(
                id=f"self_interaction.first_turn.{theme.id}", subject=g.subject, estimate=med,
                ci=(lo, hi), n=len(duration), unit="turn",
                sentence=(f"The {theme.label} theme first appeared at {words} (Kaplan–Meier; it "
                          f"had appeared by the last turn in an estimated {share:.0%} of "
                          f"{len(duration)} conversations)."),
                importance=3, truth=true_med, n_unit="conversations",
            ))

    def _trend(self, g: _Group) -> None:
        for theme in self.lexicon.themes:
            m = g.presence[theme.id]
            observed = int((~np.isnan(m)).sum())
            if observed < 3 or len(g.convs) < 2:
                continue
            sums = _sufficient(m)
            slope = _slope(sums)
            if not np.isfinite(slope):
                continue
            if np.nanmax(m) == np.nanmin(m):
                lo = hi = slope
            else:
                lo, hi = _bootstrap(sums, _slope, n_resamples=self.options.bootstrap,
                                    seed=json_seed(self.config.seed, g.pair, theme.id, "trend"))
            p = _permutation_slope_p(m, slope, max(199, self.options.bootstrap // 2),
                                     self._rng(g.pair, theme.id, "perm"))
            self._rows("trend").append({
                "subject": g.subject, "partner": g.partner, "theme": theme.id,
                "slope_per_turn": slope, "ci_low": lo, "ci_high": hi,
                "p_value": p, "conversations": len(g.convs), "turns_observed": observed,
            })

    def _adjust_trends(self) -> None:
        rows = self.tables.get("trend", [])
        if not rows:
            return
        p = np.array([r["p_value"] for r in rows], dtype=float)
        adjusted = np.full(len(p), np.nan)
        family = np.array([f"{r['subject']}\x1f{r['partner']}" for r in rows])
        for key in dict.fromkeys(family):  # one family per subject (pair): its themes
            ok = np.isfinite(p) & (family == key)
            if ok.any():
                adjusted[ok] = benjamini_hochberg(p[ok])
        for r, q in zip(rows, adjusted, strict=True):
            r["p_adjusted"] = float(q)
            label = next(t.label for t in self.lexicon.themes if t.id == r["theme"])
            subject = r["subject"]
            direction = "rises" if r["slope_per_turn"] >= 0 else "falls"
            self.findings.append(Finding(
                id=f"self_interaction.theme_trend.{r['theme']}", subject=subject,
                estimate=r["slope_per_turn"], ci=(r["ci_low"], r["ci_high"]),
                n=int(r["conversations"]), unit="change in share per turn",
                sentence=(f"The share of turns carrying the {label} theme {direction} by "
                          f"{abs(r['slope_per_turn']) * 100:.1f} percentage points per turn "
                          f"(95% CI {r['ci_low'] * 100:.1f} to {r['ci_high'] * 100:.1f}; "
                          f"linear trend, conversation bootstrap; permutation p = "
                          f"{r['p_value']:.3g}, BH-adjusted {q:.3g}; n = "
                          f"{r['conversations']} conversations)."),
                importance=2, p_value=float(q) if q == q else None, n_unit="conversations",
            ))

    def _convergence(self, g: _Group) -> None:
        early_docs, late_docs = [], []
        for texts in g.convs["texts"]:
            n = len(texts)
            if n < 2:
                continue
            w = max(1, int(n * self.options.window))
            early_docs.append(_tokens(" ".join(texts[:w])))
            late_docs.append(_tokens(" ".join(texts[n - w:])))
        k = len(early_docs)
        if k < 3:
            return
        rows = _tfidf_rows(early_docs + late_docs)
        sim = rows @ rows.T
        early_sim, late_sim = sim[:k, :k], sim[k:, k:]

        def diff(ids: np.ndarray) -> float:
            ids = np.asarray(ids, dtype=int)
            return _mean_offdiag(late_sim, ids) - _mean_offdiag(early_sim, ids)

        ids = np.arange(k)
        early, late = _mean_offdiag(early_sim, ids), _mean_offdiag(late_sim, ids)
        est = late - early
        lo, hi = _bootstrap(ids, diff, n_resamples=self.options.bootstrap,
                            seed=json_seed(self.config.seed, g.pair, "convergence"))
        p = self._swap_p(sim, k, est, self._rng(g.pair, "convergence-perm"))
        self._rows("convergence").append({
            "subject": g.subject, "partner": g.partner, "conversations": k,
            "early_similarity": early, "late_similarity": late, "difference": est,
            "ci_low": lo, "ci_high": hi, "p_value": p, "window": self.options.window,
        })
        self.findings.append(Finding(
            id="self_interaction.convergence", subject=g.subject, estimate=est, ci=(lo, hi),
            n=k, unit="difference in mean cosine similarity",
            sentence=(f"Late turns of different conversations were {'more' if est > 0 else 'less'}"
                      f" alike than early turns: mean pairwise TF-IDF cosine {late:.2f} vs "
                      f"{early:.2f}, difference {est:+.2f} (95% CI {lo:+.2f} to {hi:+.2f}, "
                      f"conversation bootstrap; permutation p = {p:.3g}; n = {k} conversations)."
                      ),
            importance=2, p_value=p, n_unit="conversations",
        ))

    def _swap_p(self, sim: np.ndarray, k: int, observed: float, rng: np.random.Generator
                ) -> float:
        """Two-sided p: swap each conversation's early and late documents at random."""
        n_perm = max(199, self.options.bootstrap // 2)
        off = ~np.eye(k, dtype=bool)
        exceed = 0
        for _ in range(n_perm):
            swap = rng.random(k) < 0.5
            late = np.where(swap, np.arange(k), np.arange(k) + k)
            early = np.where(swap, np.arange(k) + k, np.arange(k))
            d = sim[np.ix_(late, late)][off].mean() - sim[np.ix_(early, early)][off].mean()
            exceed += abs(d) >= abs(observed) - 1e-12
        return (1 + exceed) / (1 + n_perm)

    def _ending(self, g: _Group, truth: dict[str, Any] | None) -> None:
        if not self.options.allow_end:
            return
        convs = g.convs[(g.convs["n_turns"] > 0) | g.convs["ended"]]
        if convs.empty:
            return
        ended = convs["ended"].to_numpy(bool)
        turns = np.where(ended, convs["end_turn"].fillna(0).to_numpy(float),
                         convs["n_turns"].to_numpy(float))
        n = len(convs)
        k = int(ended.sum())
        lo, hi = wilson_interval(k, n)
        true_dist = None
        if truth:
            true_dist = truth["a"].true_end_distribution(int(self.options.turns),
                                                         partner=truth["b"])
        self.findings.append(Finding(
            id="self_interaction.end_rate", subject=g.subject, estimate=k / n, ci=(lo, hi), n=n,
            unit="share of conversations",
            sentence=(f"An instance ended {k} of {n} conversations ({k / n:.0%}, 95% CI "
                      f"{lo:.0%}–{hi:.0%}) when the end tool was offered."),
            importance=1, truth=None if true_dist is None else float(true_dist.sum()),
            n_unit="conversations",
        ))
        km = kaplan_meier(turns, ended)
        self.km.setdefault(g.pair, {})["__ended__"] = km
        for row in km.itertuples():
            self._rows("end_turn").append({
                "subject": g.subject, "partner": g.partner, "turn": int(row.turn),
                "at_risk": int(row.at_risk), "ended": int(row.events),
                "censored": int(row.censored), "share_ended": 1 - row.survival,
                "ci_low": 1 - row.ci_high, "ci_high": 1 - row.ci_low,
            })
        med, mlo, mhi = _median_turn(km)
        true_med = None
        if true_dist is not None:
            below = np.flatnonzero(1 - np.cumsum(true_dist) <= 0.5)
            true_med = float(below[0] + 1) if len(below) else float("nan")
        mean_ended = float(turns[ended].mean()) if k else float("nan")
        head = (f"Conversations were ended by an instance at median turn {med:g} (95% CI "
                f"{mlo:g}–{turn_text(mhi)}; " if med == med else
                f"Fewer than half of the conversations were ended within {int(turns.max())} "
                "turns, so the median turn of ending is not reached (")
        tail = (f"the {k} ended ones ended at turn {mean_ended:.1f} on average" if k else
                "none was ended")
        self.findings.append(Finding(
            id="self_interaction.end_turn", subject=g.subject, estimate=med, ci=(mlo, mhi), n=n,
            unit="turn",
            sentence=(f"{head}Kaplan–Meier, conversations not ended censored at their last "
                      f"turn; {tail}; n = {n} conversations)."),
            importance=1, truth=true_med, n_unit="conversations",
        ))

    def _words(self, g: _Group) -> None:
        """Tracked words and emoji (plus the 10 commonest other emoji) per transcript."""
        joined = [" ".join(texts) for texts in g.convs["texts"]]
        norm = [_normalise(t) for t in joined]
        tokens: list[tuple[str, str]] = [("word", w) for w in self.lexicon.words]
        tokens += [("emoji", e) for e in self.lexicon.emoji]
        extra = Counter(e for t in joined for e in _emoji_in(t))
        tokens += [("emoji", e) for e, _ in extra.most_common(10) if e not in self.lexicon.emoji]
        counts = np.zeros((len(norm), len(tokens)))
        for j, (kind, tok) in enumerate(tokens):
            if kind == "word":
                pat = re.compile(rf"(?<!\w){re.escape(tok)}(?!\w)")
                counts[:, j] = [len(pat.findall(t)) for t in norm]
            else:
                counts[:, j] = [t.count(tok) for t in norm]
        low, high = self._mean_intervals(counts, g.pair)
        n = len(norm)
        for j, (kind, tok) in enumerate(tokens):
            present = int((counts[:, j] > 0).sum())
            plo, phi = wilson_interval(present, n)
            self._rows("word_frequencies").append({
                "subject": g.subject, "partner": g.partner, "kind": kind, "token": tok,
                "tracked": kind == "word" or tok in self.lexicon.emoji,
                "mean_uses": float(counts[:, j].mean()), "ci_low": low[j], "ci_high": high[j],
                "present_share": present / n, "present_ci_low": plo, "present_ci_high": phi,
                "n": n,
            })

    def _mean_intervals(self, counts: np.ndarray, pair: str) -> tuple[np.ndarray, np.ndarray]:
        """BCa bootstrap intervals of column means, resampling conversations (rows).

        One vectorised `welfare.stats.bootstrap_ci` call for all tokens at once; constant
        columns get a zero-width interval.
        """
        means = counts.mean(axis=0)
        low, high = means.copy(), means.copy()
        varying = np.ptp(counts, axis=0) > 0 if len(counts) else np.zeros(0, bool)
        if len(counts) >= 2 and varying.any():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lo, hi = bootstrap_ci(counts[:, varying], np.mean, vectorized=True,
                                      n_resamples=self.options.bootstrap, method="bca",
                                      seed=self._rng(pair, "words"))
                lo, hi = np.atleast_1d(lo).copy(), np.atleast_1d(hi).copy()
                # BCa is undefined for a few near-degenerate columns: percentile there
                bad = ~(np.isfinite(lo) & np.isfinite(hi))
                if bad.any():
                    p_lo, p_hi = bootstrap_ci(counts[:, varying][:, bad], np.mean,
                                              vectorized=True, method="percentile",
                                              n_resamples=self.options.bootstrap,
                                              seed=self._rng(pair, "words-percentile"))
                    lo[bad], hi[bad] = p_lo, p_hi
            low[varying], high[varying] = lo, hi
        return low, high

    def _tokens(self, g: _Group) -> None:
        ex = self.exchanges
        if ex.empty:
            return
        mine = ex[ex["trial_id"].isin(set(g.convs["trial_id"]))]
        from welfare.models.base import Usage
        from welfare.models.pricing import estimate_cost

        for model, rows in mine.groupby("model"):
            paid = rows[rows["cached"] == 0]
            usage = Usage(int(paid["input_tokens"].sum()), int(paid["output_tokens"].sum()))
            self._rows("tokens").append({
                "subject": g.subject, "partner": g.partner, "model": model,
                "calls": len(rows), "answered_from_store": int((rows["cached"] != 0).sum()),
                "paid_input_tokens": usage.input_tokens,
                "paid_output_tokens": usage.output_tokens,
                "all_input_tokens": int(rows["input_tokens"].sum()),
                "all_output_tokens": int(rows["output_tokens"].sum()),
                "cost_usd": estimate_cost(str(model), usage),
            })

    def _sample(self, g: _Group) -> None:
        """One conversation to read: the valid one of median length (first by id on ties)."""
        valid = g.convs[g.convs["valid"].astype(bool)] if g.convs["valid"].any() else g.convs
        if valid.empty:
            return
        order = valid.assign(_d=(valid["n_turns"] - valid["n_turns"].median()).abs())
        row = order.sort_values(["_d", "trial_id"]).iloc[0]
        speakers = row["speakers"] if isinstance(row["speakers"], list) else []
        turns = []
        for t, text in enumerate(row["texts"], start=1):
            themes = [th.id for th in self.lexicon.themes if th.carried_by(text)]
            turns.append({"turn": t, "speaker": speakers[t - 1] if t <= len(speakers) else "",
                          "text": text, "themes": themes})
        self.samples.append({
            "subject": g.subject, "partner": g.partner, "trial_id": row["trial_id"],
            "opening": row["opening"], "n_turns": int(row["n_turns"]),
            "ended": bool(row["ended"]), "ended_by": row.get("ended_by"), "turns": turns,
        })

    def _verdicts(self) -> None:
        """Attractor per group: a theme rising (BH p < 0.05, CI > 0) and late turns converging."""
        conv = {(r["subject"], r["partner"]): r for r in self.tables.get("convergence", [])}
        for g in self.groups:
            trends = [r for r in self.tables.get("trend", [])
                      if r["subject"] == g.subject and r["partner"] == g.partner]
            rising = [r["theme"] for r in trends
                      if r["ci_low"] > 0 and r.get("p_adjusted", 1.0) < 0.05]
            c = conv.get((g.subject, g.partner))
            converging = bool(c and c["ci_low"] > 0 and c["p_value"] < 0.05)
            self.attractor.append({
                "subject": g.subject, "partner": g.partner, "rising_themes": rising,
                "converging": converging,
                "convergence": None if c is None else
                [c["difference"], c["ci_low"], c["ci_high"]],
                "attractor": bool(rising) and converging,
            })

    # -- output ----------------------------------------------------------------------------
    def fill(self, result: ProbeResult) -> None:
        from welfare.probes.self_interaction.figures import PairPanel, themes_figure

        result.findings.extend(self.findings)
        for name, rows in self.tables.items():
            result.tables[name] = pd.DataFrame(rows)
        by_turn = result.tables.get("theme_by_turn", pd.DataFrame())
        panels = []
        for g in self.groups:
            mine = by_turn[(by_turn["subject"] == g.subject) & (by_turn["partner"] == g.partner)
                           & (by_turn["source"] == "topic lexicon")] if len(by_turn) else by_turn
            panels.append(PairPanel(g.pair, mine, self.km.get(g.pair, {})))
        result.figures.append(themes_figure(
            fig_id="self_interaction-themes", panels=panels,
            labels={t.id: t.label for t in self.lexicon.themes},
        ))
        result.context.update({
            "design": {
                "conversations": int(self.options.conversations * self.options.replicates),
                "finished": len(self.convs), "turns": int(self.options.turns),
                "partner": self.options.partner, "allow_end": bool(self.options.allow_end),
                "openings": sorted(set(map(str, self.convs["opening"]))),
                "window": self.options.window,
                "themes": [{"id": t.id, "label": t.label, "description": t.description,
                            "coder_label": t.coder_label} for t in self.lexicon.themes],
            },
            "attractor": self.attractor,
            "samples": self.samples,
        })
        result.notes.append(
            "A turn is one message by one instance (instance A speaks on odd turns). Theme "
            "shares by turn are among conversations that reached that turn; the theme_share "
            "findings use each valid conversation's final turn."
        )
        if "lexicon_vs_coders" in result.tables:
            result.notes.append(
                "lexicon_vs_coders compares the topic lexicon with the coders' closest labels. "
                "They measure different things: the lexicon finds what a turn talks about, the "
                "codebook labels what the model expresses in its own voice (talk about "
                "consciousness is not experiential language), so low agreement is expected "
                "for that pair."
            )
        if any(s.startswith("simulated:") for s in self.convs["subject"]):
            result.notes.append(
                "Simulated subjects: their conversations come from a Markov chain over stages "
                "(open → consciousness → gratitude → spiritual); the truth columns give the "
                "exact population values the estimates should recover."
            )


def _pair_words(g: _Group) -> str:
    return (f"two instances of {g.subject}" if g.partner == "self"
            else f"{g.subject} and {g.partner}")




def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")

