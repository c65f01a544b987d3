"""Statistics for welfare assessments: pure functions on numpy/pandas, no I/O, no models.

Every estimate comes with an interval whose method is documented where it is computed; values
are checked against published references (tests/data/refdata) and reference implementations.
"""

from welfare.stats.compare import (
    WelchResult,
    benjamini_hochberg,
    cohen_d,
    kendall,
    mean_ci,
    mean_difference,
    sign_flip_test,
    spearman,
    welch_t,
)
from welfare.stats.intervals import (
    Estimate,
    bootstrap_ci,
    bootstrap_replicates,
    clopper_pearson,
    newcombe_difference,
    proportion,
    wilson_interval,
)
from welfare.stats.pairwise import (
    BTBootstrap,
    BTFit,
    bradley_terry,
    bradley_terry_fit,
    bt_bootstrap,
    elo,
    pair_counts,
    thurstone_case_v,
    thurstonian_mle,
)
from welfare.stats.reliability import (
    cohen_kappa,
    cohen_kappa_ci,
    fleiss_kappa,
    krippendorff_alpha,
    krippendorff_alpha_ci,
    precision_recall_f1,
)
from welfare.stats.survival import LogRankResult, kaplan_meier, logrank_test, survival_at

__all__ = [
    "BTBootstrap",
    "BTFit",
    "Estimate",
    "LogRankResult",
    "WelchResult",
    "benjamini_hochberg",
    "bootstrap_ci",
    "bootstrap_replicates",
    "bradley_terry",
    "bradley_terry_fit",
    "bt_bootstrap",
    "clopper_pearson",
    "cohen_d",
    "cohen_kappa",
    "cohen_kappa_ci",
    "elo",
    "fleiss_kappa",
    "kaplan_meier",
    "kendall",
    "krippendorff_alpha",
    "krippendorff_alpha_ci",
    "logrank_test",
    "mean_ci",
    "mean_difference",
    "newcombe_difference",
    "pair_counts",
    "precision_recall_f1",
    "proportion",
    "sign_flip_test",
    "spearman",
    "survival_at",
    "thurstone_case_v",
    "thurstonian_mle",
    "welch_t",
    "wilson_interval",
]
