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


def test_rules_on_the_bundled_test_split():
    """Regression guard on bot/example/{urgency,sentiment}.csv split=test (rules were tuned on split=train).

    Measured when written: urgency accuracy 0.75, sentiment accuracy 0.73 (see docs/classifier.md).
    """
    from supportbot.bot.classifier import default_model_dir
    from supportbot.bot.classifier.signal_eval import evaluate_signal

    example = default_model_dir().parent
    urgency = evaluate_signal(example / "urgency.csv", "urgency")
    sentiment = evaluate_signal(example / "sentiment.csv", "sentiment")
    assert urgency["n"] >= 50 and sentiment["n"] >= 50
    assert urgency["accuracy"] >= 0.70
    assert sentiment["accuracy"] >= 0.68
