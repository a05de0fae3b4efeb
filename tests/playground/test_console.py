"""The console with a realistic load (15 conversations of mixed kinds) in real headless Chromium.

The server is the real playground over loopback; the clock is a fake one the seeding moves, so one
hand-off is overdue and one at risk. Expected sets are computed from the database, not from the views.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from supportbot.adapters.playground.server import AGENT
from supportbot.bot.domain import ConversationStatus, DraftStatus, HandoffStatus
from tests.playground.helpers import MIXED, STACK_TRACE, Visitor

pytestmark = pytest.mark.browser

DESKTOP = (1440, 900)
PHONE = (390, 844)
MAX_HEIGHT_RATIO = 1.5
READABLE = 20  # characters of a title that must be visible (or the whole title when shorter)


async def open_page(browser, url: str, size: tuple[int, int], query: str = ""):
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(10_000)
    page.js_errors = errors  # type: ignore[attr-defined]
    await page.goto(url + query)
    await expect(page.locator("body")).to_have_attribute("data-live", "ready")
    return page


async def document_height(page) -> int:
    """The page's height, or more when a pane's bottom (its composer, its list) is pushed out of the window."""
    return await page.evaluate(
        """() => Math.max(document.documentElement.scrollHeight, document.body.scrollHeight,
             ...Array.from(document.querySelectorAll(".pane, #composer, .queue__list, #detail"))
               .filter(e => e.offsetParent !== null).map(e => Math.ceil(e.getBoundingClientRect().bottom)))"""
    )


# How many characters of an element's text are painted inside its box (clamped or ellipsised text is not):
# each character's rectangle must lie within the element and within every scrolling ancestor's box.
VISIBLE_CHARS = """(el) => {
  el.scrollIntoView({block: "nearest"});
  const box = el.getBoundingClientRect();
  const text = el.textContent;
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let shown = 0;
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i); range.setEnd(node, i + 1);
      const r = range.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      const inside = r.left >= box.left - 1 && r.right <= box.right + 1;
      if (inside && r.top >= box.top - 1 && r.bottom <= box.bottom + 1) shown++;
    }
  }
  return {text: text.trim(), shown: shown};
}"""


async def assert_readable(locator, what: str) -> None:
    count = await locator.count()
    assert count > 0, f"no {what}"
    for i in range(count):
        seen = await locator.nth(i).evaluate(VISIBLE_CHARS)
        need = min(READABLE, len(seen["text"].replace(" ", "")))
        assert seen["shown"] >= need, f"{what} {i} shows {seen['shown']} characters of {seen['text']!r}"


def expected_sets(loaded) -> dict[str, set[str]]:
    """Each filter's conversations, from the stored records."""
    with loaded.pg.app.uow() as uow:
        open_convs = [
            c
            for c in uow.conversations.list(statuses=[ConversationStatus.OPEN, ConversationStatus.WAITING_ON_CUSTOMER])
            if c.platform == "playground"
        ]
        drafts = {d.conversation_id for d in uow.drafts.list(status=DraftStatus.PENDING)}
        handoffs = {h.conversation_id for h in uow.handoffs.list(statuses=[HandoffStatus.OPEN, HandoffStatus.CLAIMED])}
    ids = {c.id for c in open_convs}
    mine = {c.id for c in open_convs if c.assignee_id == AGENT.user_id}
    unassigned = {c.id for c in open_convs if c.assignee_id is None and (c.id in drafts or c.id in handoffs)}
    at_risk = {loaded.seeded.conversations["outage_umbra"], loaded.seeded.conversations["outage_initech"]}
    return {
        "all": ids,
        "mine": mine,
        "unassigned": unassigned,
        "drafts": drafts & ids,
        "handoffs": handoffs & ids,
        "at_risk": at_risk,
    }


async def visible_rows(page) -> list[str]:
    return await page.eval_on_selector_all(
        "#queue-list .qrow", "rows => rows.filter(r => r.offsetParent !== null).map(r => r.dataset.conversationId)"
    )


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
async def test_the_page_stays_one_screen_tall_and_titles_stay_readable(browser, loaded, size):
    page = await open_page(browser, loaded.pg.url, size, f"?c={loaded.seeded.channels['answer_demo']}")
    width, height = size
    assert await document_height(page) <= height * MAX_HEIGHT_RATIO
    # the customer's 15 conversations: a list of readable titles, not tabs squeezed to three letters
    titles = page.locator(".conv-list .conv-tab__title")
    await expect(titles).to_have_count(len(MIXED))
    await assert_readable(titles, "conversation title")
    if size == PHONE:
        await page.get_by_role("button", name="Agent").click()
        await expect(page.locator("#agent-pane")).to_be_visible()
        await expect(page.locator("#customer-pane")).to_be_hidden()
    rows = page.locator("#queue-list .qrow__title")
    await expect(rows).to_have_count(len(MIXED))
    await assert_readable(rows, "queue row title")
    assert await document_height(page) <= height * MAX_HEIGHT_RATIO
    # a conversation opened from the queue: beside it on a desktop, over it (with a way back) on a phone
    await page.locator("#queue-list .qrow__link").nth(3).click()
    detail = page.locator("#detail article.ticket")
    await expect(detail).to_be_visible()
    assert await document_height(page) <= height * MAX_HEIGHT_RATIO
    if size == PHONE:
        await expect(page.locator("#queue-list")).to_be_hidden()
        await page.get_by_role("button", name="← Queue").click()
        await expect(page.locator("#queue-list")).to_be_visible()
    else:
        await expect(page.locator("#queue-list")).to_be_visible()
        beside = await page.evaluate(
            """() => document.querySelector("#detail").getBoundingClientRect().left >=
                     document.querySelector(".queue").getBoundingClientRect().right - 1"""
        )
        assert beside
    assert page.js_errors == []


async def test_the_queue_is_sorted_by_sla_due_and_colours_the_risk(browser, loaded):
    page = await open_page(browser, loaded.pg.url, DESKTOP)
    rows = page.locator("#queue-list .qrow")
    await expect(rows).to_have_count(len(MIXED))
    dues = await rows.evaluate_all("rows => rows.map(r => r.dataset.due)")
    timed = [d for d in dues if d]
    assert timed == sorted(timed) and dues[: len(timed)] == timed  # due first; no running clock last
    assert len(timed) >= 8
    first, second = rows.nth(0), rows.nth(1)
    assert await first.get_attribute("data-conversation-id") == loaded.seeded.conversations["outage_umbra"]
    await expect(first.locator(".sla")).to_have_text("2 min overdue")
    await expect(first).to_have_attribute("data-risk", "breached")
    assert await second.get_attribute("data-conversation-id") == loaded.seeded.conversations["outage_initech"]
    await expect(second.locator(".sla")).to_have_text("in 2 min")
    await expect(second).to_have_attribute("data-risk", "at_risk")
    on_track = rows.locator(".sla--on_track").first
    await expect(on_track).to_have_text(re.compile(r"^in \d+ (min|h)"))
    colours = [
        await loc.evaluate("e => getComputedStyle(e).backgroundColor")
        for loc in (first.locator(".sla"), second.locator(".sla"), on_track)
    ]
    assert len(set(colours)) == 3, colours  # breached, at risk and on track look different
    # each row says who, what and how old
    umbra = first.locator(".qrow__meta")
    await expect(umbra).to_contain_text("Umbra Logistics GmbH")
    await expect(umbra).to_contain_text("enterprise")
    await expect(umbra).to_contain_text("outage")
    await expect(first.locator(".qrow__assignee")).to_have_text("unassigned")
    await expect(first.locator(".qrow__age")).to_have_text("17 min")
    vandelay = page.locator(f"#queue-list .qrow[data-conversation-id={loaded.seeded.conversations['outage_vandelay']}]")
    await expect(vandelay.locator(".qrow__assignee")).to_have_text("→ you")
    answered = page.locator(f"#queue-list .qrow[data-conversation-id={loaded.seeded.conversations['answer_demo']}]")
    await expect(answered).to_contain_text("Answered")
    await expect(answered.locator(".sla")).to_have_text("waiting on the customer")
    # live: a new conversation joins the queue without a reload, in its place by due time
    async with Visitor(loaded.pg.url) as v:
        await v.say("acc_globex", "Our whole Globex workspace is down, none of our users can log in")
    await expect(rows).to_have_count(len(MIXED) + 1)
    dues = await rows.evaluate_all("rows => rows.map(r => r.dataset.due)")
    timed = [d for d in dues if d]
    assert timed == sorted(timed)
    assert page.js_errors == []


async def test_each_filter_shows_its_conversations(browser, loaded):
    page = await open_page(browser, loaded.pg.url, DESKTOP)
    expected = expected_sets(loaded)
    assert len(expected["all"]) == len(MIXED)
    assert expected["mine"] == {
        loaded.seeded.conversations["outage_vandelay"],
        loaded.seeded.conversations["draft_refund"],
    }
    assert expected["drafts"] and expected["handoffs"] and expected["unassigned"]
    for name, label in [
        ("mine", "Mine"),
        ("unassigned", "Unassigned"),
        ("drafts", "Drafts"),
        ("handoffs", "Hand-offs"),
        ("at_risk", "At risk"),
        ("all", "All"),
    ]:
        chip = page.locator(f".queue__filters [data-filter={name}]")
        await expect(chip.locator(".chip__count")).to_have_text(str(len(expected[name])))
        await chip.click()
        await expect(page.locator(f".queue__filters [data-filter={name}].is-active")).to_have_count(1)
        await expect(page.locator("#console-items")).to_have_attribute("data-current-filter", name)
        shown = await visible_rows(page)
        assert set(shown) == expected[name], (label, shown)
        # the conversation beside the queue is one of the filter's
        selected = await page.locator("#console-items").get_attribute("data-selected")
        assert selected in expected[name]
    assert page.js_errors == []


async def test_keyboard_shortcuts_act_on_the_selected_conversation(browser, loaded):
    page = await open_page(browser, loaded.pg.url, DESKTOP, "?f=drafts")
    grid = page.locator("#console-items")
    rows = await visible_rows(page)
    assert len(rows) >= 2
    await expect(grid).to_have_attribute("data-selected", rows[0])
    # help
    await page.keyboard.press("?")
    await expect(page.locator("#shortcuts")).to_be_visible()
    await expect(page.locator("#shortcuts")).to_contain_text("approve the draft")
    await page.keyboard.press("?")
    await expect(page.locator("#shortcuts")).to_be_hidden()
    # next / previous
    await page.keyboard.press("j")
    await expect(grid).to_have_attribute("data-selected", rows[1])
    await page.keyboard.press("k")
    await expect(grid).to_have_attribute("data-selected", rows[0])
    await page.keyboard.press("n")
    await expect(grid).to_have_attribute("data-selected", rows[1])
    target = rows[1]
    # typing is not a shortcut: "a", "x", "j" in the reply box approve, resolve and move nothing
    reply = page.locator("#detail form.reply textarea")
    await page.keyboard.press("/")
    await expect(reply).to_be_focused()
    await page.keyboard.type("ajx")
    await expect(reply).to_have_value("ajx")
    await expect(grid).to_have_attribute("data-selected", target)
    await reply.fill("")
    await page.keyboard.press("Escape")
    await expect(reply).not_to_be_focused()
    with loaded.pg.app.uow() as uow:
        (draft,) = uow.drafts.list(status=DraftStatus.PENDING, conversation_id=target)
    # e opens the editor, focused; r the rejection form
    await page.keyboard.press("e")
    editor = page.locator(f"#edit-{draft.id}")
    await expect(editor).to_be_focused()
    await page.keyboard.press("Escape")
    await page.keyboard.press("r")
    await expect(page.locator(f"#reason-{draft.id}")).to_be_focused()
    await page.keyboard.press("Escape")
    # a approves and sends it
    await page.keyboard.press("a")
    await expect(page.locator("#toast")).to_have_text("Approved and sent.")
    with loaded.pg.app.uow() as uow:
        assert uow.drafts.get(draft.id).status is DraftStatus.APPROVED
    await expect(page.locator(f"#queue-list .qrow[data-conversation-id={target}]")).to_be_hidden()  # not a draft now
    # c claims a hand-off, x resolves it
    await page.locator(".queue__filters [data-filter=handoffs]").click()
    await expect(grid).to_have_attribute("data-current-filter", "handoffs")
    handoff_conv = loaded.seeded.conversations["outage_umbra"]
    await page.locator(f"#q-{handoff_conv}").click()
    await expect(grid).to_have_attribute("data-selected", handoff_conv)
    await page.keyboard.press("c")
    await expect(page.locator("#detail article[data-state=claimed]")).to_be_visible()
    with loaded.pg.app.uow() as uow:
        (handoff,) = uow.handoffs.list(conversation_id=handoff_conv)
        assert handoff.status is HandoffStatus.CLAIMED and handoff.claimed_by == AGENT.user_id
    await page.keyboard.press("x")
    await expect(page.locator(f"#q-{handoff_conv}")).to_have_count(0)
    with loaded.pg.app.uow() as uow:
        assert uow.conversations.get(handoff_conv).status is ConversationStatus.RESOLVED
    # a key with nothing to act on says so instead of acting elsewhere
    await page.locator(".queue__filters [data-filter=all]").click()
    answered = loaded.seeded.conversations["answer_demo"]
    await page.locator(f"#q-{answered}").click()
    await expect(grid).to_have_attribute("data-selected", answered)
    await page.keyboard.press("a")
    await expect(page.locator("#toast")).to_have_text("No draft to approve here.")
    assert page.js_errors == []


async def test_one_transcript_entry_per_reply(browser, loaded):
    conv = loaded.seeded.conversations["outage_hooli"]
    page = await open_page(browser, loaded.pg.url, DESKTOP, f"?sel={conv}")
    detail = page.locator("#detail")
    await expect(detail.locator("article")).to_have_attribute("data-conversation-id", conv)
    await detail.get_by_role("button", name="Claim").click()
    await expect(detail.locator("article[data-state=claimed]")).to_be_visible()
    await detail.get_by_label("Reply to the customer or add an internal note").fill("Looking into it right now.")
    await detail.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#toast")).to_have_text("Sent to the customer.")
    await expect(detail.locator(".tx--agent_reply")).to_have_count(1)
    await expect(detail.locator(".tx--agent_reply")).to_contain_text("Looking into it right now.")
    # the same after a reload, and on the customer's side
    await page.reload()
    await expect(page.locator("#detail .tx--agent_reply")).to_have_count(1)
    await page.goto(loaded.pg.url + f"?c={loaded.seeded.channels['outage_hooli']}")
    await expect(page.locator("#thread .msg--agent_reply")).to_have_count(1)
    assert page.js_errors == []


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
async def test_toasts_cover_no_control(browser, loaded, size):
    page = await open_page(browser, loaded.pg.url, size, "?view=agent")
    detail = page.locator("#detail")
    if size == PHONE:
        await page.locator("#queue-list .qrow__link").first.click()
    await detail.get_by_role("button", name="Claim").click()
    toast = page.locator("#toast")
    await expect(toast).to_be_visible()
    covered = await page.evaluate(
        """() => {
          const t = document.getElementById("toast").getBoundingClientRect();
          return Array.from(document.querySelectorAll("button, a, input, textarea, select, summary"))
            .filter(e => e.offsetParent !== null)
            .filter(e => { const r = e.getBoundingClientRect();
              return r.width > 0 && r.left < t.right && r.right > t.left && r.top < t.bottom && r.bottom > t.top; })
            .map(e => e.outerHTML.slice(0, 80));
        }"""
    )
    assert covered == []
    assert await document_height(page) <= size[1] * MAX_HEIGHT_RATIO
    assert page.js_errors == []


async def test_a_long_stack_trace_is_monospace_and_collapsed(browser, loaded):
    conv = loaded.seeded.conversations["trace_ferncroft"]
    page = await open_page(browser, loaded.pg.url, DESKTOP, f"?sel={conv}")
    # its title is what the customer wrote, not the pasted trace
    title = "Our webhook consumer crashes on every delivery since the upgrade:"
    await expect(page.locator(f"#q-{conv} .qrow__title")).to_have_text(title)
    await expect(page.locator("#detail .ticket__title")).to_have_text(title)
    tx = page.locator("#detail .tx--customer").first
    await expect(tx).to_contain_text("Our webhook consumer crashes")
    fold = tx.locator("details.code-fold")
    await expect(fold).to_have_count(1)
    await expect(fold).not_to_have_attribute("open", "")
    await expect(fold.locator("summary")).to_have_text(f"Stack trace ({STACK_TRACE.count(chr(10))} lines)")
    await expect(fold.locator("pre.code")).to_be_hidden()
    await fold.locator("summary").click()
    code = fold.locator("pre.code")
    await expect(code).to_be_visible()
    await expect(code).to_contain_text("ValueError: signature mismatch")
    font = await code.evaluate("e => getComputedStyle(e).fontFamily")
    assert "mono" in font.lower() or "consolas" in font.lower(), font
    prose = tx.locator(".prose")
    assert "mono" not in (await prose.evaluate("e => getComputedStyle(e).fontFamily")).lower()
    # the why panel leads with the decision and its reason; the message is folded below it
    await page.locator("#detail .ticket__foot a[data-why]").click()
    decision = page.locator("#why-panel .why__decision").first
    await expect(decision).to_be_visible()
    children = await decision.evaluate("d => Array.from(d.children).slice(0, 3).map(c => c.className || c.tagName)")
    assert children[:2] == ["H3", "why__reason"] and "why__msg" in children[2], children
    await expect(decision.locator(".why__msg--long")).not_to_have_attribute("open", "")
    assert await decision.locator(".why__msg--long").evaluate("d => d.getBoundingClientRect().height") < 40
    await page.keyboard.press("Escape")
    # the customer's view of it, rendered live and after a reload
    await page.goto(loaded.pg.url + f"?c={loaded.seeded.channels['trace_ferncroft']}")
    mine = page.locator("#thread .msg--customer").first
    await expect(mine.locator("details.code-fold")).to_have_count(1)
    await expect(mine.locator("details.code-fold pre.code")).to_be_hidden()
    await page.goto(loaded.pg.url + "?account=acc_ferncroft")
    await expect(page.locator("body")).to_have_attribute("data-live", "ready")
    await page.get_by_label("Your message").fill(STACK_TRACE)
    await page.locator("#customer-pane").get_by_role("button", name="Send", exact=True).click()
    live = page.locator("#thread .msg--customer").first
    await expect(live.locator("details.code-fold")).to_have_count(1)
    await expect(page.locator(".conv-list .conv-tab.is-active")).to_have_text(title)
    await expect(live.locator("details.code-fold summary")).to_contain_text("Stack trace")
    assert page.js_errors == []
