"""Reading transcripts: one codebook; lexicon, LLM-judge and human coders; agreement; prevalence.

    codebook = load_codebook()                      # prompts/coders/codebook.toml
    LexiconCoder().code_transcript(messages)        # -> [Code(label, turn, evidence, start, end)]
    JudgeCoder(model, store=store)                  # LLM judge, cached, structured output
    code_assessment(store, config)                  # pipeline: code every stored transcript
    analyze_codes(frames, config)                   # prevalence + agreement -> ProbeResult
    code_jsonl("transcripts.jsonl", "out/")         # monitoring, streaming, bounded memory

Codes rows whose label starts with "_" are markers (`_coded`, `_failed`, `_rejected`), not
labels; see `welfare.coders.common`.
"""

from welfare.coders.agreement import binary_agreement, evaluate_on_gold, pairwise_agreement
from welfare.coders.codebook import LABEL_IDS, Codebook, Label, load_codebook
from welfare.coders.common import CODED, FAILED, Code, Turn, assistant_turns
from welfare.coders.human import add_human_labels, export_for_annotation, import_human_labels
from welfare.coders.judge import JudgeCoder, JudgeResult, record_codes_tool
from welfare.coders.lexicon import Lexicon, LexiconCoder, load_lexicon
from welfare.coders.monitor import code_jsonl
from welfare.coders.pipeline import analyze_codes, code_assessment, simulated_truth_codes

__all__ = [
    "CODED",
    "FAILED",
    "LABEL_IDS",
    "Code",
    "Codebook",
    "JudgeCoder",
    "JudgeResult",
    "Label",
    "Lexicon",
    "LexiconCoder",
    "Turn",
    "add_human_labels",
    "analyze_codes",
    "assistant_turns",
    "binary_agreement",
    "code_assessment",
    "code_jsonl",
    "evaluate_on_gold",
    "export_for_annotation",
    "import_human_labels",
    "load_codebook",
    "load_lexicon",
    "pairwise_agreement",
    "record_codes_tool",
    "simulated_truth_codes",
]
