"""A small development set for gap clustering: paraphrased questions about topics the bundled
knowledge base does not cover, and unrelated one-off questions between them.

The clustering thresholds in ``bot/gaps.py`` were chosen on this set; the benchmark
(``bench/data/gap_topics.json``) uses other topics, written separately, and is never used to
choose anything.
"""

from __future__ import annotations

TOPICS: dict[str, list[str]] = {
    "tableau": [
        "Is there a Tableau connector for Nimbus?",
        "how do we get our Nimbus data into Tableau",
        "can Tableau read directly from Nimbus Metrics?",
        "looking for a Tableau integration, does one exist",
        "we use Tableau for BI, can we connect it to your product",
        "Tableau connector please? our analysts want it",
    ],
    "mobile_app": [
        "do you have an iOS app?",
        "is there a mobile app for Nimbus dashboards",
        "can I view my dashboards on my phone with an app",
        "any plans for an android app?",
        "where can I download the Nimbus mobile app",
        "is the mobile app available for iPhone and Android",
    ],
    "data_residency": [
        "can our data be stored in the EU only?",
        "do you offer EU data residency",
        "where are your servers located, we need data kept in Germany",
        "is there an option to host our data in a European region",
        "our legal team asks if data stays inside the EU",
        "EU-only data hosting available?",
    ],
    "white_label": [
        "can we put our own logo on shared dashboards",
        "is white-labelling of embedded reports possible",
        "remove the Nimbus branding from embedded charts?",
        "we want custom branding on the dashboards we share with clients",
        "do you support white label embedding with our colours and logo",
        "custom logo and colours for client-facing dashboards",
    ],
}

DISTRACTORS = [
    "what's the weather in Lisbon tomorrow",
    "my invoice shows the wrong VAT number",
    "how do I reset my password",
    "the API returns 429 too many requests",
    "can you recommend a good book on statistics",
    "who won the match last night",
    "our webhook stopped firing yesterday",
    "how do I invite a colleague",
    "is it possible to export a chart as CSV",
    "I need a refund for last month",
    "what time is it in Tokyo",
    "please cancel our subscription",
]
