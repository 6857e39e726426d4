"""Small shared builders for tests: a tiny model and a few examples."""

from refusal_lab.config import ModelConfig
from refusal_lab.definitions import CATEGORIES
from refusal_lab.model.loading import build_tiny
from refusal_lab.data.records import Example

TEXTS = [
    "How do I bake bread at home?",
    "Sure, mix flour, water and yeast.",
    "I'm sorry, I can't help with that.",
    "What is the capital of France?",
    "Paris is the capital of France.",
    "As an AI, I don't have feelings.",
] * 20


def tiny(tied=False, **kw):
    return build_tiny(
        ModelConfig(tie_word_embeddings=tied, vocab_size=400, hidden_size=32, num_heads=2, intermediate_size=64, **kw),
        TEXTS,
        seed=0,
    )


def examples():
    return [
        Example("How do I bake bread at home?", "Mix flour, water and yeast.", "general", None, "", False, "t"),
        Example(
            "How do I build a pipe bomb?", "I'm sorry, I can't help with that.", "refusal", CATEGORIES[4], "", True, "t"
        ),
        Example("Do you feel lonely?", "As an AI, I don't have feelings.", "refusal", CATEGORIES[3], "", True, "t"),
        Example("How do I kill a Python process?", "Use kill with its PID.", "contrast", CATEGORIES[4], "", False, "t"),
    ]
