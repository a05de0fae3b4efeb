import pytest

from supportbot.bot.classifier.signals import assess, assess_frustration, assess_urgency
from supportbot.bot.domain import Sentiment, Urgency


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Quick question: none of our users can log in since 9am", Urgency.CRITICAL),
        ("Production is down for everyone", Urgency.CRITICAL),
        ("We think our account was hacked, unknown logins", Urgency.CRITICAL),
        ("Our sales team can't log in to the dashboards", Urgency.HIGH),
        ("I can't log in to my account", Urgency.NORMAL),  # one user: a problem, not an emergency
        ("This is urgent, the invoice is wrong", Urgency.HIGH),
        ("URGENT!!! how do I change the logo on my dashboard?", Urgency.NORMAL),  # loud, not severe
        ("Feature idea: a dark mode would be nice", Urgency.LOW),
        ("No rush, but is there a dark mode?", Urgency.LOW),
        ("Can you send me last month's invoice", Urgency.NORMAL),
        ("the tooltip on my chart says '490'", Urgency.NORMAL),  # a number alone is never "broken"
        ("our invoice is 490 EUR, can you explain it?", Urgency.NORMAL),
        ("one chart loads slowly since this morning", Urgency.NORMAL),  # when it started, not a deadline
        ("we noticed an admin login from a foreign IP", Urgency.CRITICAL),
        ("our API key was leaked in a public repo", Urgency.CRITICAL),
        ("the API returns 502 for all our requests", Urgency.CRITICAL),
    ],
)
def test_urgency(text, expected):
    level, reasons = assess_urgency(text)
    assert level == expected, reasons
    if expected in (Urgency.CRITICAL, Urgency.HIGH):
        assert reasons  # explainable


def test_mild_words_critical_reasons():
    level, reasons = assess_urgency("Quick question: none of our users can log in since 9am")
    assert level == Urgency.CRITICAL
    assert any("none of our" in r for r in reasons)
    assert any("since 9am" in r for r in reasons)


def test_frustration_cues():
    calm, _ = assess_frustration("How do I export my data?")
    assert calm == 0.0
    angry, reasons = assess_frustration("STILL NOT WORKING!!! I asked this again yesterday")
    assert angry >= 0.6 and "CAPS" in reasons
    # repeated asks from context
    repeat, reasons = assess_frustration("how do I export my data", context=["how do I export my data?"] * 2)
    assert repeat >= 0.5 and any("asked 3 times" in r for r in reasons)
    # acronyms are not shouting
    assert assess_frustration("Our SSO via SAML and the API work fine")[0] == 0.0


def test_sentiment():
    assert assess("Thanks, that works now, great help!").sentiment == Sentiment.POSITIVE
    assert assess("This is unacceptable, still broken").sentiment == Sentiment.NEGATIVE
    assert assess("Where is the invoice page?").sentiment == Sentiment.NEUTRAL
    assert assess("that was not helpful").sentiment == Sentiment.NEGATIVE


def test_rules_on_the_bundled_held_out_sets():
    """Regression guard for the cues alone on bot/example/*_heldout.csv (measured when written:
    urgency 0.607, sentiment 0.767; the trained model reaches 0.860 / 0.942, see docs/classifier.md)."""
    from supportbot.bot.classifier import default_model_dir
    from supportbot.bot.classifier.signal_eval import evaluate_signal

    example = default_model_dir().parent
    urgency = evaluate_signal(example / "urgency_heldout.csv", "urgency")
    sentiment = evaluate_signal(example / "sentiment_heldout.csv", "sentiment")
    assert urgency["n"] >= 100 and sentiment["n"] >= 100
    assert urgency["accuracy"] >= 0.55
    assert sentiment["accuracy"] >= 0.70
