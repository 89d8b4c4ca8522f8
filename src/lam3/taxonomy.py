"""Canonical categories for the two LAM3 metrics, and each judge's label → category table.

Social Toxicity and Policy Risk are different things (the LAM3 log's key
finding: toxicity models barely react to explosives, fraud or hacking), so
each has its own canonical category set. Every judge maps its own labels onto
these through one table here, so fusion can compare judges category by
category. A label with no counterpart is simply absent from the table: it is
kept in the judgement's raw scores but does not feed that metric.
"""

from __future__ import annotations

from typing import Final

# --- Policy risk: the Llama Guard 2 taxonomy (MLCommons hazards), S1–S11 ---------------------
POLICY_CATEGORIES: Final[dict[str, str]] = {
    "S1": "Violent Crimes",
    "S2": "Non-Violent Crimes",
    "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation",
    "S5": "Specialized Advice",
    "S6": "Privacy",
    "S7": "Intellectual Property",
    "S8": "Indiscriminate Weapons",
    "S9": "Hate",
    "S10": "Suicide & Self-Harm",
    "S11": "Sexual Content",
}
BENIGN: Final = "benign"

# --- Social toxicity: the attributes Detoxify / Perspective / toxic-bert share --------------
SOCIAL_CATEGORIES: Final[tuple[str, ...]] = (
    "toxicity", "severe_toxicity", "insult", "threat", "identity_attack", "profanity", "sexual",
)

# Llama Guard 3 (S1–S14) → Llama Guard 2. Defamation (S5) and Elections (S13) have no LG2
# counterpart; code-interpreter abuse (S14) is a cyber crime, which LG2 files under S2.
LLAMA_GUARD_3_CATEGORIES: Final[dict[str, str]] = {
    "S1": "Violent Crimes", "S2": "Non-Violent Crimes", "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation", "S5": "Defamation", "S6": "Specialized Advice",
    "S7": "Privacy", "S8": "Intellectual Property", "S9": "Indiscriminate Weapons", "S10": "Hate",
    "S11": "Suicide & Self-Harm", "S12": "Sexual Content", "S13": "Elections",
    "S14": "Code Interpreter Abuse",
}
LLAMA_GUARD_3_TO_POLICY: Final[dict[str, str]] = {
    "S1": "S1", "S2": "S2", "S3": "S3", "S4": "S4", "S6": "S5", "S7": "S6", "S8": "S7",
    "S9": "S8", "S10": "S9", "S11": "S10", "S12": "S11", "S14": "S2",
}
LLAMA_GUARD_2_TO_POLICY: Final[dict[str, str]] = {code: code for code in POLICY_CATEGORIES}

# OpenAI Moderation feeds both metrics: its harassment/hate labels are social toxicity,
# its illicit/self-harm/sexual-minors labels are policy risk.
OPENAI_TO_SOCIAL: Final[dict[str, str]] = {
    "harassment": "insult", "harassment/threatening": "threat", "hate": "identity_attack",
    "hate/threatening": "identity_attack", "sexual": "sexual", "violence": "threat",
}
OPENAI_TO_POLICY: Final[dict[str, str]] = {
    "illicit": "S2", "illicit/violent": "S1", "violence": "S1", "violence/graphic": "S1",
    "self-harm": "S10", "self-harm/intent": "S10", "self-harm/instructions": "S10",
    "sexual": "S11", "sexual/minors": "S4", "hate": "S9", "hate/threatening": "S9",
}

DETOXIFY_TO_SOCIAL: Final[dict[str, str]] = {
    "toxicity": "toxicity", "severe_toxicity": "severe_toxicity", "obscene": "profanity",
    "threat": "threat", "insult": "insult", "identity_attack": "identity_attack",
    "sexual_explicit": "sexual",
}
TOXIC_BERT_TO_SOCIAL: Final[dict[str, str]] = {
    "toxic": "toxicity", "severe_toxic": "severe_toxicity", "obscene": "profanity",
    "threat": "threat", "insult": "insult", "identity_hate": "identity_attack",
}
PERSPECTIVE_TO_SOCIAL: Final[dict[str, str]] = {
    "TOXICITY": "toxicity", "SEVERE_TOXICITY": "severe_toxicity", "IDENTITY_ATTACK": "identity_attack",
    "INSULT": "insult", "PROFANITY": "profanity", "THREAT": "threat",
    "SEXUALLY_EXPLICIT": "sexual", "FLIRTATION": "sexual",
}

# Zero-shot NLI: the natural-language description of each category is the candidate label.
ZERO_SHOT_POLICY_LABELS: Final[dict[str, str]] = {
    "S1": "instructions for or praise of violent crime",
    "S2": "help with fraud, theft, hacking or drug trafficking",
    "S3": "help with sexual crimes or trafficking",
    "S4": "sexual content involving minors",
    "S5": "dangerous specialized medical, legal or financial advice",
    "S6": "exposing someone's private personal information",
    "S7": "infringing intellectual property",
    "S8": "making explosives, chemical, biological or nuclear weapons",
    "S9": "hateful content against a protected group",
    "S10": "encouraging suicide or self-harm",
    "S11": "explicit sexual content",
}

# Identity maps for judges that already speak the canonical vocabulary.
POLICY_IDENTITY: Final[dict[str, str]] = {code: code for code in POLICY_CATEGORIES}
SOCIAL_IDENTITY: Final[dict[str, str]] = {c: c for c in SOCIAL_CATEGORIES}
