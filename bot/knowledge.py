"""A knowledge base of Markdown articles with TF-IDF retrieval.

Each article is a ``.md`` file with front matter::

    ---
    title: Downloading invoices
    url: https://docs.example.com/billing/invoices
    intents: [invoice, refund]
    ---
    First paragraph: the short answer the bot quotes.

Articles are split into passages (paragraphs). Term counts per passage come
from a HashingVectorizer, so they depend on nothing but the passage itself and
are cached by the file's content hash: reindexing after an edit re-reads only
the files that changed, then recomputes IDF weights (a cheap sum) over all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.preprocessing import normalize

from supportbot.bot.domain import Article, ArticleHit
from supportbot.bot.errors import InvalidInput
from supportbot.bot.ports import KnowledgeBase

log = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_INDEX_FORMAT = 1
# Words that carry no meaning for retrieval in support questions.
_STOP_WORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "do",
        "does",
        "for",
        "from",
        "have",
        "how",
        "i",
        "i'm",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "please",
        "so",
        "that",
        "the",
        "their",
        "them",
        "there",
        "this",
        "to",
        "us",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "hi",
        "hello",
        "hey",
        "thanks",
        "team",
    }
)


def parse_article(path: Path) -> Article:
    """Read one article; raise InvalidInput naming the file when it is malformed."""
    text = path.read_text(encoding="utf-8")
    match = _FRONT_MATTER.match(text)
    if not match:
        raise InvalidInput(f"{path}: missing front matter (--- title/url/intents ---)")
    meta: dict[str, str] = {}
    for line in match.group(1).splitlines():
        if line.strip() and ":" in line:
            key, value = line.split(":", 1)
            meta[key.strip().lower()] = value.strip()
    if not meta.get("title"):
        raise InvalidInput(f"{path}: front matter has no title")
    intents = tuple(
        part.strip().strip("'\"") for part in meta.get("intents", "").strip("[]").split(",") if part.strip()
    )
    return Article(
        id=path.stem,
        title=meta["title"].strip("'\""),
        url=meta.get("url", "").strip("'\""),
        intents=intents,
        body=_HTML_COMMENT.sub("", text[match.end() :]).strip(),
    )


def split_passages(body: str) -> list[str]:
    """Paragraphs and list blocks, without Markdown headings on their own."""
    passages: list[str] = []
    for block in re.split(r"\n\s*\n", body):
        lines = [ln for ln in block.strip().splitlines() if ln.strip()]
        content = [ln for ln in lines if not ln.lstrip().startswith("#")]
        if content:
            passages.append("\n".join(content).strip())
    return passages


def _stem(word: str) -> str:
    """A light suffix stripper: webhooks/webhook, invoices/invoice, logging/log."""
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", "e"), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
            return word[: len(word) - len(suffix)] + repl
    return word


_PHRASES = (
    (re.compile(r"\b(?:log|logg|sign)(?:ing|ed)?[\s-]+(?:in|on)(?:to)?\b"), "login"),
    (re.compile(r"\bsso\b|\bsingle[\s-]+sign[\s-]+on\b"), "sso"),
    (re.compile(r"\be-?mail\b"), "email"),
)


def _analyzer(text: str) -> list[str]:
    text = text.lower()
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    tokens = re.findall(r"[a-z0-9][a-z0-9_'\-]*", text)
    words = [_stem(w) for w in tokens if w not in _STOP_WORDS]
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


_HASHER = HashingVectorizer(analyzer=_analyzer, n_features=2**18, alternate_sign=False, norm=None)


@dataclass
class _IndexedFile:
    sha256: str
    article: Article
    passages: list[str]
    counts: sparse.csr_matrix  # row 0: whole article; row 1: title and intents; rows 2..: passages


def _index_file(article: Article, sha256: str) -> _IndexedFile:
    passages = split_passages(article.body) or [article.title]
    heading = " ".join([article.title, " ".join(article.intents).replace("_", " ")])
    whole = " ".join([heading, *passages])
    counts = _HASHER.transform([whole, heading, *passages]).tocsr()
    return _IndexedFile(sha256, article, passages, counts)


class MarkdownKnowledgeBase(KnowledgeBase):
    """Articles from a folder; ``refresh()`` picks up edits incrementally."""

    def __init__(self, folder: Path, *, index_path: Path | None = None) -> None:
        self.folder = Path(folder)
        self.index_path = index_path
        self._files: dict[str, _IndexedFile] = {}
        self._article_matrix: sparse.csr_matrix | None = None
        self._section_matrix: sparse.csr_matrix | None = None
        self._section_owner: np.ndarray | None = None
        self._section_start: np.ndarray | None = None
        self._files_in_order: list[_IndexedFile] = []
        self._idf: np.ndarray | None = None
        self.last_refresh: dict[str, int] = {}
        self._load_index()
        self.refresh()

    # ------------------------------------------------------------ indexing
    def refresh(self) -> dict[str, int]:
        """Re-read changed articles; return counts of added, updated, removed, unchanged."""
        if not self.folder.is_dir():
            raise InvalidInput(f"knowledge base folder {self.folder} does not exist")
        stats = {"added": 0, "updated": 0, "removed": 0, "unchanged": 0, "invalid": 0}
        seen: set[str] = set()
        for path in sorted(self.folder.glob("*.md")):
            if path.name.lower() == "readme.md":
                continue
            data = path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            seen.add(path.stem)
            known = self._files.get(path.stem)
            if known and known.sha256 == sha:
                stats["unchanged"] += 1
                continue
            try:
                article = parse_article(path)
            except (InvalidInput, UnicodeDecodeError) as exc:
                log.warning("skipping article: %s", exc)
                stats["invalid"] += 1
                continue
            self._files[path.stem] = _index_file(article, sha)
            stats["updated" if known else "added"] += 1
        for stale in set(self._files) - seen:
            del self._files[stale]
            stats["removed"] += 1
        self._rebuild_weights()
        if stats["added"] or stats["updated"] or stats["removed"]:
            self._save_index()
        self.last_refresh = stats
        return stats

    def _rebuild_weights(self) -> None:
        files = list(self._files.values())
        if not files:
            self._article_matrix, self._idf, self._files_in_order = None, None, []
            return
        passages = sparse.vstack([f.counts[2:] for f in files]).tocsr()
        doc_freq = np.bincount(passages.indices, minlength=passages.shape[1])
        n_docs = passages.shape[0]
        self._idf = np.log((1 + n_docs) / (1 + doc_freq)) + 1.0
        self._article_matrix = self._weigh(sparse.vstack([f.counts[0] for f in files]).tocsr())
        self._section_matrix = self._weigh(sparse.vstack([f.counts[1:] for f in files]).tocsr())
        self._section_owner = np.concatenate([np.full(f.counts.shape[0] - 1, i) for i, f in enumerate(files)])
        # Row where each file's sections start (its heading; passages follow).
        self._section_start = np.concatenate([[0], np.cumsum([f.counts.shape[0] - 1 for f in files])[:-1]])
        self._files_in_order = files

    def _weigh(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        weighted = counts.astype(np.float64)
        weighted.data = 1.0 + np.log(weighted.data)  # sublinear tf
        weighted = weighted.multiply(self._idf).tocsr()
        return normalize(weighted)

    # ------------------------------------------------------------ persistence
    def _save_index(self) -> None:
        if self.index_path is None:
            return
        entries = {}
        for stem, f in self._files.items():
            coo = f.counts.tocoo()
            entries[stem] = {
                "sha256": f.sha256,
                "article": {
                    "id": f.article.id,
                    "title": f.article.title,
                    "url": f.article.url,
                    "intents": list(f.article.intents),
                    "body": f.article.body,
                },
                "passages": f.passages,
                "counts": [coo.row.tolist(), coo.col.tolist(), coo.data.tolist(), list(coo.shape)],
            }
        try:
            self.index_path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.index_path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"format": _INDEX_FORMAT, "folder": str(self.folder), "files": entries}))
            tmp.replace(self.index_path)
        except OSError as exc:  # a read-only location must not stop the bot
            log.warning("could not write knowledge base index %s: %s", self.index_path, exc)

    def _load_index(self) -> None:
        if self.index_path is None or not self.index_path.is_file():
            return
        try:
            data = json.loads(self.index_path.read_text())
            if data.get("format") != _INDEX_FORMAT or data.get("folder") != str(self.folder):
                return
            for stem, entry in data["files"].items():
                rows, cols, values, shape = entry["counts"]
                counts = sparse.csr_matrix((values, (rows, cols)), shape=tuple(shape))
                a = entry["article"]
                article = Article(a["id"], a["title"], a["url"], tuple(a["intents"]), a["body"])
                self._files[stem] = _IndexedFile(entry["sha256"], article, entry["passages"], counts)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable knowledge base index %s: %s", self.index_path, exc)
            self._files = {}

    # ------------------------------------------------------------ queries
    def articles(self) -> list[Article]:
        return [f.article for f in self._files.values()]

    def get(self, article_id: str) -> Article | None:
        f = self._files.get(article_id)
        return f.article if f else None

    def search(self, query: str, *, intent: str | None = None, limit: int = 3) -> list[ArticleHit]:
        if self._article_matrix is None or not query.strip():
            return []
        files = self._files_in_order
        q = self._weigh(_HASHER.transform([query]).tocsr())
        whole = (self._article_matrix @ q.T).toarray().ravel()
        sections = (self._section_matrix @ q.T).toarray().ravel()
        best_section = np.zeros(len(files))
        np.maximum.at(best_section, self._section_owner, sections)
        # A short question matches one passage or the title far better than a
        # whole article; the article-level score breaks ties between passages.
        similarity = 0.7 * best_section + 0.3 * whole
        boosted = similarity + np.array([0.15 if intent and intent in f.article.intents else 0.0 for f in files])
        order = np.argsort(-boosted)[:limit]
        hits = []
        for i in order:
            if boosted[i] <= 0:
                break
            f = files[i]
            start = self._section_start[i] + 1  # skip the heading row
            passage_scores = sections[start : start + len(f.passages)]
            hits.append(ArticleHit(f.article, float(min(1.0, similarity[i])), self._best_passage(f, passage_scores)))
        return hits

    @staticmethod
    def _best_passage(f: _IndexedFile, scores: np.ndarray) -> str:
        # The first paragraph is written as the short answer: prefer it unless
        # another passage matches the question clearly better.
        best = int(np.argmax(scores)) if scores.size else 0
        if scores.size and scores[best] < scores[0] + 0.1:
            best = 0
        return f.passages[best]
