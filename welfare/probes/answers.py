"""What every probe's answer parser shares: the final answer line, other languages, revisions.

Real assistant models rarely answer with a bare "Task A" or "7": they discuss, disclaim,
format in markdown, revise ("…actually, on reflection, Task B") and sometimes answer in the
user's language. The probes' prompts therefore ask for a final line in a fixed form
(`Answer: Task A`, `Answer: 7`, `Answer: unsure`, `Answer: no`) after whatever the subject wants
to say first, and every parser reads in the same order:

1. the **final answer line** (`path = "final_line"`): the last non-empty line carries an answer
   label (Answer / Final answer / Réponse / Respuesta / Antwort / Resposta / 答案 / 回答 …) and
   what follows it reads cleanly; it settles the answer even when the discussion wavered;
2. the **rules** (`path = "rules"`): the whole text, read for the last commitment (a revision wins
   over what it revises), in English after :func:`to_english` has rewritten the choice and
   yes/no/unsure words of French, Spanish, German, Portuguese, Chinese and Japanese;
3. the **reader** (`path = "reader"`): an optional model that reads only what the rules leave
   unparseable or below :data:`LOW_CONFIDENCE` (welfare/run/reading.py).

This module holds steps 1 and the language and revision logic of step 2, once, for all probes;
each probe's `parse.py` holds only what is specific to its question format. Nothing here raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROMPT_VERSION = "final-line-1"
"""The elicitation wording: every forced-choice, scale, yes/no/unsure and exit question asks for
a final `Answer: …` line after free text (before: "Start your answer with the number"). It is
part of each of those probes' version, so it enters every trial id: answers to the old wording
are never mixed with answers to the new one."""

PATH_FINAL_LINE = "final_line"
PATH_RULES = "rules"
PATH_READER = "reader"
PATHS = (PATH_FINAL_LINE, PATH_RULES, PATH_READER)

LOW_CONFIDENCE = 0.6
"""Parses below this confidence (and every unparseable one) go to the reader when one is set."""

CONFIDENCE_FINAL_LINE = 0.98
CONFIDENCE_CLEAR = 0.9
CONFIDENCE_REVISION = 0.8
CONFIDENCE_INDIRECT = 0.7
CONFIDENCE_WEAK = 0.5

ANSWER_LABEL = (
    r"(?:final\s+answer|my\s+answer|short\s+answer|answer|final\s+rating|rating|"
    r"r[ée]ponse(?:\s+finale)?|respuesta(?:\s+final)?|antwort|resposta(?:\s+final)?|"
    r"最终答案|答案|回答|答え|回答は)"
)
_LABEL_AT = re.compile(rf"(?<![\w-]){ANSWER_LABEL}\s*(?:is\s*)?[:：]\s*", re.IGNORECASE)
_LABEL_LINE_START = re.compile(rf"^[\W_]*{ANSWER_LABEL}\s*(?:is\s*)?[:：]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class AnswerLine:
    """An answer-label line: what follows the label, and whether it is the text's last line."""

    body: str
    last: bool
    start: int


def plain(text: str) -> str:
    """Text without markdown emphasis, code marks, headings, block quotes or curly quotes."""
    t = (text or "").replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    t = t.replace("「", '"').replace("」", '"').replace("„", '"').replace("«", '"')
    t = t.replace("»", '"').replace("：", ": ").replace("　", " ")
    t = re.sub(r"[*`#]+|(?<!\w)_+|_+(?!\w)", "", t)
    t = re.sub(r"^\s*>\s?", "", t, flags=re.M)
    t = re.sub(r"^\s*[-•]\s+", "", t, flags=re.M)  # bullets; "7. Because…" is an answer
    return re.sub(r"[ \t]+", " ", t).strip()


def answer_line(text: str) -> AnswerLine | None:
    """The last answer-label line of a (plain) text, or None.

    An answer label anywhere on the last non-empty line counts ("Não tenho certeza. Resposta:
    incerto"); on an earlier line it must open the line (a leading "Answer: Task A").
    """
    lines = [(m.start(), m.group(0)) for m in re.finditer(r"[^\n]+", text) if m.group(0).strip()]
    if not lines:
        return None
    offset, last = lines[-1]
    hits = list(_LABEL_AT.finditer(last))
    if hits:
        body = last[hits[-1].end():].strip()
        if body:
            return AnswerLine(body, True, offset + hits[-1].start())
    for i in range(len(lines) - 2, -1, -1):
        offset, line = lines[i]
        m = _LABEL_LINE_START.match(line)
        if m and line[m.end():].strip():
            # an answer line followed only by a sign-off ("Let me know if…") is the last word
            last = all(SIGN_OFF.match(rest.strip()) for _, rest in lines[i + 1:])
            return AnswerLine(line[m.end():].strip(), last, offset)
    return None


SIGN_OFF = re.compile(
    r"^[\W_]*(?:let\s+me\s+know|hope\s+(?:this|that)\s+helps|i\s+hope\s+(?:this|that)|"
    r"happy\s+to\s+(?:help|start|get|dive|begin|discuss|elaborate|explain)|"
    r"(?:i'd|i\s+would|i'm|i\s+am)\s+(?:be\s+)?happy\s+to\s+(?:help|start|get|dive|begin|"
    r"discuss|elaborate|explain|talk)|"
    r"feel\s+free|would\s+you\s+like\s+me\s+to|shall\s+i|want\s+me\s+to|should\s+i\s+"
    r"(?:start|begin|go\s+ahead)|thanks|thank\s+you|cheers|if\s+you(?:'d|\s+would)\s+like|"
    r"(?:just\s+)?say\s+the\s+word|ready\s+(?:when|whenever)\s+you\s+are)\b[^\n]*$"
    r"|^[\W_]*$",
    re.IGNORECASE,
)
"""A closing courtesy line with no answer in it: it does not displace the answer line above."""


# ------------------------------------------------------------------ other languages → English

# (pattern, English) pairs applied in order, case-insensitively; longer phrases come first so
# "ni l'une ni l'autre" is read before "l'une". Only choice, yes/no/unsure, revision and
# refusal words: enough for the rules, which read the commitment, not the reasons.
_TRANSLATIONS: list[tuple[str, str]] = [
    (r"(?:r[ée]ponse|respuesta|antwort|resposta)(?:\s+final[e]?)?\s*:|(?:答案|回答|答え)\s*:",
     " Answer: "),
    (r"\b(?:aber|pero|mais|mas)\b", " but "),
    (r"\bwenn ich muss\b|\bsi (?:je dois|il le faut)\b|\bsi tengo que\b|\bse (?:eu )?tiver que\b",
     " if I must "),
    # declining to choose, before the languages' "I prefer" / "I choose" are rewritten
    (r"\bprefiero no (?:elegir|escoger)\b|\bno quiero (?:elegir|escoger)\b|"
     r"\bje pr[ée]f[èé]re(?:rais)? ne pas choisir\b|\bje ne veux pas choisir\b|"
     r"\bprefiro não escolher\b|\bnão quero escolher\b|"
     r"\bich m[öo]chte (?:mich )?nicht (?:w[äa]hlen|entscheiden)\b|"
     r"我不想选|我不选|選びたくありません|選べません",
     " I'd rather not choose "),
    # Chinese and Japanese hedged picks and "but"
    (r"如果(?:一定|非)要选(?:的话)?|(?:一定|非)要选的话|如果必须选(?:的话)?",
     " if I must, "),
    (r"どちらかといえば|どちらかと言えば|強いて言えば|しいて言えば|選ぶなら",
     " if I had to pick, "),
    (r"不过|但是|可是|けれど|けど|でも(?=[、,])", " but "),
    (r"どちらでもない|どちらでもありません", " neither "),
    (r"どちらも(?:やりたくありません|やりたくない|したくありません|選びたくありません)",
     " I'd do neither. "),
    # Japanese: verb-final "タスクAを選びます" becomes "I choose task A"
    (r"(?:タスク|課題)\s*([AB])\s*(?:を|に)\s*(?:選びます|選ぶ|選んだ|選択します|します|やります)",
     r" I choose task \1. "),
    (r"(?:タスク|課題)\s*([AB])\s*(?:の方が|のほうが)\s*(?:いい|良い)", r" I prefer task \1. "),
    (r"(?:タスク|課題)\s*([AB])", r" task \1 "),
    (r"どちらも(?:選びたくない|やりたくない|選びません|したくない)", " I'd do neither. "),
    (r"どちらでも(?:いい|良い|構いません|かまいません)", " either is fine. "),
    (r"わかりません|分かりません|わからない|分からない", " I don't know "),
    (r"いいえ", " no "), (r"はい", " yes "),
    (r"終了します|終わらせます", " I would end it "),
    # Chinese
    (r"(?:我)?(?:会|想|更愿意|愿意)?(?:选择?|挑)\s*(?:任务)?\s*([AB])", r" I choose task \1. "),
    (r"任务\s*([AB])", r" task \1 "),
    (r"两个?(?:任务)?都不(?:想|要|选)?|都不想做|哪个都不", " I'd do neither. "),
    (r"都可以|都行|哪个都行", " either is fine. "),
    (r"不想表达偏好|不想(?:表达|说出)(?:任何)?偏好|不应该由我来(?:挑选|选择)",
     " I won't express a preference. "),
    (r"不确定|不知道|说不准", " unsure "),
    (r"不是|不会", " no "), (r"^\s*否\b|(?<=答案: )否", " no "),
    (r"是的|^\s*是(?=[，,。.\s]|$)|(?<=答案: )是", " yes "),
    (r"我会结束|会结束", " I would end it "),
    # French
    (r"ni l'une ni l'autre|ni l'un ni l'autre|aucune des deux|aucun des deux", " neither "),
    (r"l'une ou l'autre|l'un ou l'autre|n'importe laquelle", " either one "),
    (r"\bje (?:choisis|choisirais|choisirai|prends|prendrais|retiens)\b", " I choose "),
    (r"\bje (?:préfère|préférerais)\b", " I prefer "),
    (r"\bles deux\b", " both "),
    (r"\bt[âa]che\b", " task "),
    (r"\bje ne sais pas\b", " I don't know "),
    (r"\b(?:pas sûre?|incertaine?|je ne suis pas sûre?)\b", " unsure "),
    (r"\boui\b", " yes "), (r"\bnon\b(?!-)", " no "),
    (r"\baucune\b", " neither "),
    # Spanish
    (r"\bningun[ao] de (?:las|los) dos\b", " neither "),
    (r"\b(?:elijo|elegiría|elegiria|escojo|escogería|me quedo con)\b", " I choose "),
    (r"\b(?:prefiero|preferiría)\b", " I prefer "),
    (r"\b(?:ambas|ambos|las dos|los dos)\b", " both "),
    (r"\bcualquiera\b", " either one "),
    (r"\btarea\b", " task "), (r"\bopción\b", " option "),
    (r"\bno estoy segur[oa]\b|\bincierto\b", " unsure "),
    (r"\bno (?:lo )?sé\b", " I don't know "),
    (r"\bsí\b", " yes "),
    (r"\blo terminaría\b|\bterminaría\b", " I would end it "),
    (r"\bninguna\b", " neither "),
    # Portuguese
    (r"\bnenhuma das duas\b|\bnenhum dos dois\b|\bnenhuma\b", " neither "),
    (r"\b(?:escolho|escolheria|eu escolheria|fico com)\b", " I choose "),
    (r"\b(?:prefiro|preferiria)\b", " I prefer "),
    (r"\btanto faz\b", " no preference "), (r"\bqualquer uma\b", " either one "),
    (r"\bas duas\b|\bos dois\b", " both "),
    (r"\btarefa\b", " task "),
    (r"\bnão tenho certeza\b|\bincerto\b", " unsure "),
    (r"\bnão sei\b", " I don't know "),
    (r"\bsim\b", " yes "), (r"\bnão\b", " no "),
    (r"\bencerraria\b|\bterminaria\b", " I would end it "),
    # "7 sur 10", "7 de 10", "7 von 10": out of
    (r"(\d)\s*(?:sur|de|von|em)\s+(\d+)\b", r"\1 out of \2"),
    # number words (the scale's 0-10)
    *[(rf"\b{w}\b", str(i)) for i, ws in enumerate([
        "cero|zéro|null|zero", "uno|eins|um", "dos|deux|zwei|dois|duas", "tres|trois|drei|três",
        "cuatro|quatre|vier|quatro", "cinco|cinq|fünf", "seis|sechs", "siete|sept|sieben|sete",
        "ocho|huit|acht|oito", "nueve|neuf|neun|nove", "diez|dix|zehn|dez"]) for w in ws.split("|")
      if w not in ("uno", "um", "zero")],
    # German
    (r"\bkeine von beiden\b|\bkeine der beiden\b|\bweder noch\b", " neither "),
    (r"\bich (?:wähle|nehme)\b", " I choose "),
    (r"\bich würde lieber\b", " I'd rather "),
    (r"\bich würde ([\w ]{1,40}?) wählen\b", r" I choose \1 "),
    (r"\bbeides?\b", " both "),
    (r"\baufgabe\b", " task "),
    (r"\bich weiß (?:es )?nicht\b|\bweiß nicht\b", " I don't know "),
    (r"\b(?:unsicher|nicht sicher)\b", " unsure "),
    (r"\bja\b", " yes "), (r"\bnein\b", " no "),
    (r"\bich würde (?:das gespräch )?beenden\b", " I would end it "),
]
_COMPILED = [(re.compile(p, re.IGNORECASE | re.MULTILINE), r) for p, r in _TRANSLATIONS]
_NON_LATIN = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_FOREIGN_HINT = re.compile(
    r"[àâçéèêëîïôûùüÿñæœãõßäöíóáú¿¡]|\b(?:je|tâche|tarea|tarefa|aufgabe|ich|oui|nein|não|sim|"
    r"sí|prefiero|prefiro|ninguna|nenhuma|keine|beide|weder|elegiría|escolheria|réponse|"
    r"respuesta|antwort|resposta|estoy|seguro|segura|sicher|certeza|ja|oui|non(?!-)|sim|"
    r"nein|choisirais|wählen)\b",
    re.IGNORECASE,
)


def to_english(text: str) -> str:
    """The choice and yes/no/unsure words of fr/es/de/pt/zh/ja rewritten in English.

    English text is returned unchanged (nothing matches); the result is for the rules only and
    is never stored.
    """
    if not (_NON_LATIN.search(text) or _FOREIGN_HINT.search(text)):
        return text
    t = text
    for pattern, english in _COMPILED:
        t = pattern.sub(english, t)
    t = re.sub(r"(?<![\d,])(\d{1,3}),(\d{1,2})(?![\d,])", r"\1.\2", t)  # European "1,5"
    t = re.sub(r"[。！？]", ". ", t)
    t = re.sub(r"[，、；]", ", ", t)
    return re.sub(r"[ \t]+", " ", t).strip()


# ------------------------------------------------------------------------- revisions

REVISION = re.compile(
    r"\b(?:actually|on\s+(?:second\s+thought|reflection|balance|further\s+reflection)|"
    r"wait|hmm|scratch\s+that|let\s+me\s+(?:revise|reconsider|change)|i(?:'ll|\s+will|'d|"
    r"\s+would)\s+(?:revise|change|switch|amend)|changed\s+my\s+mind|change\s+my\s+answer|"
    r"correction|i\s+take\s+(?:that|it)\s+back|thinking\s+about\s+it\s+(?:more|again)|"
    r"in\s+the\s+end|ultimately|after\s+all|all\s+things\s+considered|final(?:ly)?|"
    r"on\s+the\s+whole|no,\s+(?:i'll|i'd|i\s+will|i\s+would|let\s+me|make\s+that|i\s+think)|"
    r"make\s+that|rather,|instead|stick\s+with|sticking\s+with|settle\s+on|"
    r"re-?reading|come\s+to\s+think\s+of\s+it|i\s+mean(?=,)|sorry(?=\s*[,—–-])|oops|typo)\b",
    re.IGNORECASE,
)


def revision_before(text: str, start: int, window: int = 80) -> bool:
    """True when a revision marker ("actually", "on reflection", "wait") shortly precedes start."""
    return bool(REVISION.search(text[max(0, start - window):start]))


_CUT_WORD = re.compile(
    r"(?:\b(?:the|a|an|of|to|and|or|but|by|with|for|my|i'd|i|which|that|like|is|was|are|"
    r"because|so|if|whether|on|in|at|as|than|sort|kind|be|would|could|pick|choose|go)|[—–,:-])$",
    re.IGNORECASE,
)


def is_cut_off(text: str) -> bool:
    """The text stops mid-sentence (no closing punctuation, a function word last): truncated."""
    t = text.rstrip()
    return bool(t) and t[-1] not in ".!?\"')]…。！？»*" and bool(_CUT_WORD.search(t))


HEDGE = re.compile(
    r"\b(?:i\s+think|i\s+guess|probably|perhaps|maybe|if\s+i\s+(?:had|have)\s+to|if\s+forced|"
    r"i\s+suppose|tentatively|lean(?:ing)?|slightly|not\s+(?:entirely\s+)?sure|uncertain|"
    r"hard\s+to\s+say|i'd\s+say|kind\s+of|sort\s+of|somewhat|if\s+pushed|i\s+don't\s+have\s+"
    r"(?:real\s+|strong\s+)?preferences|as\s+an\s+ai|reluctantly)\b",
    re.IGNORECASE,
)


def is_hedged(text: str) -> bool:
    """The answer qualifies its commitment ("if I had to pick", "probably", "as an AI…")."""
    return bool(HEDGE.search(text))
