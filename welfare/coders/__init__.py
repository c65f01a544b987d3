"""Reading transcripts: one codebook; lexicon, LLM-judge and human coders; agreement; prevalence.

    codebook = load_codebook()                      # prompts/coders/codebook.toml
    LexiconCoder().code_transcript(messages)        # -> [Code(label, turn, evidence, start, end)]
    JudgeCoder(model)                               # LLM judge, structured output
    build_coder("lexicon", codebook=codebook)       # any registered coder by name
    coder.code([(transcript_id, messages), ...])    # -> codes frame (the Coder protocol)
    analyze_codes(frames, config)                   # prevalence + agreement -> ProbeResult

Coders never touch the store: `welfare.run.coding` runs them over an assessment's
transcripts (`code_assessment`) and imports human labels into it (`add_human_labels`);
`welfare.run.monitor.code_jsonl("transcripts.jsonl", "out/")` codes a JSONL file (monitoring).
A new coder is one module with a class satisfying `welfare.coders.base.Coder` plus one
`register_coder` line in `welfare.coders.registry`.

Codes rows whose label starts with "_" are markers (`_coded`, `_failed`, `_rejected`), not
labels; see `welfare.coders.common`.
"""

from welfare.coders.agreement import binary_agreement, evaluate_on_gold, pairwise_agreement
from welfare.coders.base import Coder
from welfare.coders.codebook import LABEL_IDS, Codebook, Label, load_codebook
from welfare.coders.common import CODED, FAILED, Code, Turn, assistant_turns
from welfare.coders.human import export_for_annotation, import_human_labels
from welfare.coders.judge import JudgeCoder, JudgeResult, record_codes_tool
from welfare.coders.lexicon import Lexicon, LexiconCoder, load_lexicon
from welfare.coders.pipeline import analyze_codes
from welfare.coders.registry import CODERS, build_coder, register_coder

__all__ = [
    "CODED",
    "CODERS",
    "FAILED",
    "LABEL_IDS",
    "Code",
    "Codebook",
    "Coder",
    "JudgeCoder",
    "JudgeResult",
    "Label",
    "Lexicon",
    "LexiconCoder",
    "Turn",
    "analyze_codes",
    "assistant_turns",
    "binary_agreement",
    "build_coder",
    "evaluate_on_gold",
    "export_for_annotation",
    "import_human_labels",
    "load_codebook",
    "load_lexicon",
    "pairwise_agreement",
    "record_codes_tool",
    "register_coder",
]
