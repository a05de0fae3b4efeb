"""A knowledge base of Markdown articles with passage-level retrieval.

Each article is a ``.md`` file with front matter (``intents`` is optional)::

    ---
    title: Downloading invoices
    url: https://docs.example.com/billing/invoices
    intents: [invoice, refund]
    ---
    Opening paragraph.

    ## A section
    Paragraphs, lists, tables and code.

Articles are split into sections (by heading) and passages: paragraphs, lists,
each item of a bullet list, tables and each table row, code blocks. Passages are
indexed with their headings as context and scored against the question together
with their section and article; a hit's score is its best passage's score, which
is what answerability is decided from (not the intent). An optional
``TextEncoder`` reranks with sentence embeddings.

Internal sections: a heading that starts with "For support agents", "Internal"
or "Agent note(s)", or ends with "(internal)", marks its section (and its
subsections) as agent-only; ``internal: true`` in the front matter marks a whole
article. Internal text is never indexed for search, so it is never quoted to a
customer or put in a prompt; ``internal_notes()`` returns it for staff views.

Term counts are hashed (CRC-32 into 2**18 columns), so they depend on nothing but the
text itself and are cached by the file's content hash: reindexing after an edit
re-reads only the files that changed, then recomputes IDF weights over all.
Embeddings are cached the same way, per file and encoder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from supportbot.bot.domain import Article, ArticleHit, Passage
from supportbot.bot.errors import InvalidInput
from supportbot.bot.markdown import Block, parse_blocks, plain
from supportbot.bot.ports import KnowledgeBase, TextEncoder

log = logging.getLogger(__name__)

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_INDEX_FORMAT = 3  # 3: terms hashed with CRC-32 (2: scikit-learn's murmurhash)
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
        raise InvalidInput(f"{path}: missing front matter (--- title/url ---)")
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
        internal=meta.get("internal", "").strip("'\"").lower() in ("true", "yes", "1"),
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
    if len(word) == 4 and word.isalpha() and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]  # sdks, keys, logs
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
    # Generic support-language equivalences (not per article): what customers say vs what docs say.
    (re.compile(r"\b(?:two[\s-]?factor|2fa|mfa|multi[\s-]?factor|two[\s-]?step)\b"), "2fa"),
    (re.compile(r"\b(?:text[\s-]messages?|sms)\b"), "sms"),
    (re.compile(r"\bjunk(?:\s+(?:mail|folder))?\b"), "spam"),
    (re.compile(r"\bwire(?:d|\s+transfers?)?\b"), "bank transfer"),
    (re.compile(r"\b(?:money\s+back|reimburse\w*)\b"), "refund"),
    (re.compile(r"\b(?:teammates?|colleagues?|co-?workers?)\b"), "member"),
    (re.compile(r"\bsign(?:ed|ing)?[\s-]+up\b"), "signup"),
    (re.compile(r"\bset(?:ting)?[\s-]+(?:it\s+|them\s+)?up\b"), "setup"),
    (re.compile(r"\b(?:gr[ae]yed[\s-]+out)\b"), "disabled"),
)


def _analyzer(text: str) -> list[str]:
    text = text.lower()
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    words: list[str] = []
    for token in re.findall(r"[a-z0-9][a-z0-9_'\-]*", text):
        token = token.strip("'-_").removesuffix("'s")
        parts = [p for p in re.split(r"[_\-]+", token) if p] if ("_" in token or "-" in token) else []
        # An identifier such as SAML_RESPONSE_INVALID also matches "SAML response invalid".
        words.extend(_stem(w) for w in (token, *parts) if w and w not in _STOP_WORDS)
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


N_FEATURES = 2**18


def _hash_counts(texts: Sequence[str]) -> sparse.csr_matrix:
    """Term counts of each text, hashed into ``N_FEATURES`` columns (one row per text).

    CRC-32 is stable across processes (the index is persisted) and, being C, a query costs
    microseconds; a vectorizer library's per-call validation cost milliseconds.
    """
    indptr: list[int] = [0]
    indices: list[int] = []
    data: list[int] = []
    for text in texts:
        counts = Counter(zlib.crc32(term.encode()) % N_FEATURES for term in _analyzer(text))
        indices.extend(counts)
        data.extend(counts.values())
        indptr.append(len(indices))
    matrix = sparse.csr_matrix(
        (np.asarray(data, dtype=np.float64), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
        shape=(len(texts), N_FEATURES),
    )
    matrix.sort_indices()
    return matrix


def _l2_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)


_WORD = re.compile(r"[a-z][a-z'\-]*")
_INTERNAL_HEADING = re.compile(
    r"^\s*(?:for\s+(?:support\s+)?agents\b|internal\b|agents?(?:['’]s?)?\s+notes?\b)|\(internal\)\s*$", re.I
)
# Score weights: the passage itself, its section, the whole article and its title (+ intents).
# A short question matches one passage far better than a whole article; the
# wider rows break ties between passages and reward the right article.
WEIGHTS = {"passage": 0.3, "section": 0.25, "article": 0.2, "title": 0.25}
# How much an article tagged with the caller's intent is lifted in the ranking
# (not in its score): the intent routes, it does not decide answerability.
INTENT_BOOST = 0.15
LEGACY_MARGIN = 0.05
# Semantic share of the score when an encoder is given (thresholds must be
# measured again with one: the score scale changes).
SEMANTIC_WEIGHT = 0.4


def is_internal_heading(heading: str) -> bool:
    """The convention for agent-only sections (see the module docstring)."""
    return bool(_INTERNAL_HEADING.search(plain(heading)))


@dataclass
class _Section:
    heading: str | None
    path: tuple[str, ...]
    internal: bool
    blocks: list[Block] = field(default_factory=list)

    @property
    def markdown(self) -> str:
        return "\n\n".join(b.text for b in self.blocks)


def split_sections(article: Article) -> list[_Section]:
    """The opening text (heading None) and one section per heading, with internal flags."""
    sections = [_Section(None, (), article.internal)]
    stack: list[tuple[int, str, bool]] = []  # (level, heading, internal) of the enclosing headings
    for block in parse_blocks(article.body):
        if block.kind != "heading":
            sections[-1].blocks.append(block)
            continue
        if block.level == 1 and not stack and not sections[-1].blocks:
            continue  # a leading "# Title" repeats the title
        while stack and stack[-1][0] >= block.level:
            stack.pop()
        internal = article.internal or is_internal_heading(block.text) or any(s[2] for s in stack)
        stack.append((block.level, block.text, internal))
        sections.append(_Section(block.text, tuple(s[1] for s in stack), internal))
    return [s for s in sections if s.blocks]


def _table_row(header: tuple[str, ...], row: tuple[str, ...]) -> str:
    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(cells) + " |"

    return "\n".join([line(header), line(tuple("---" for _ in header)), line(row)])


def section_passages(section: _Section) -> list[tuple[str, str]]:
    """(kind, Markdown) passages of a section, in order.

    A paragraph that ends with a colon introduces the list, table or code after
    it and stays with it; bullet lists and tables are also indexed item by item
    and row by row, so one error code or one cause can be found on its own.
    """
    out: list[tuple[str, str]] = []
    blocks = section.blocks
    i = 0
    while i < len(blocks):
        block = blocks[i]
        lead = ""
        if (
            block.kind == "paragraph"
            and block.text.rstrip().endswith(":")
            and i + 1 < len(blocks)
            and blocks[i + 1].kind in ("list", "table", "code")
        ):
            lead, block = block.text + "\n\n", blocks[i + 1]
            i += 1
        if block.kind == "list" and (block.ordered or len(block.items) < 2 or lead):
            out.append(("list", lead + block.text))  # steps (or an introduced list) belong together
        elif block.kind == "list":
            # A bullet list is a set of alternatives (causes, options): a question is about one of them.
            out.extend(("list_item", item) for item in block.items)
        elif block.kind == "table":
            if len(block.rows) <= 16:
                out.append(("table", lead + block.text))
            header = block.rows[0]
            out.extend(("table_row", _table_row(header, row)) for row in block.rows[1:])
        elif block.kind != "rule":
            out.append((block.kind, lead + block.text))
        i += 1
    return out


@dataclass
class _IndexedFile:
    sha256: str
    article: Article
    passages: list[Passage]  # customer-facing, in document order
    internal: list[Passage]  # agent-only
    sections: list[tuple[str | None, str]]  # (heading, index text) per customer-facing section
    passage_section: list[int]  # index into sections for each passage
    counts: sparse.csr_matrix  # row 0: whole article; 1: title and intents; then sections; then passages
    vocabulary: Counter[str]  # surface words, for correcting typos in questions

    @property
    def n_sections(self) -> int:
        return len(self.sections)


def _index_text(path: tuple[str, ...], markdown: str) -> str:
    return " ".join([*(plain(h) for h in path), plain(markdown.replace("|", " "))])


def _index_file(article: Article, sha256: str) -> _IndexedFile:
    passages: list[Passage] = []
    internal: list[Passage] = []
    sections: list[tuple[str | None, str]] = []
    owners: list[int] = []
    passage_texts: list[str] = []
    for section in split_sections(article):
        section_md = section.markdown
        pieces = [
            Passage(article.id, section.heading, text, 0.0, kind, section.path, section_md, section.internal)
            for kind, text in section_passages(section)
        ]
        if section.internal:
            internal.extend(pieces)
            continue
        if not pieces:
            continue
        sections.append((section.heading, _index_text(section.path, section_md)))
        for piece in pieces:
            passages.append(piece)
            owners.append(len(sections) - 1)
            passage_texts.append(_index_text(section.path, piece.text))
    if not passages:  # an article with nothing customer-facing still exists, found by its title only
        passages = [Passage(article.id, None, article.title, 0.0, "title")]
        sections, owners, passage_texts = [(None, article.title)], [0], [article.title]
    heading = " ".join([article.title, " ".join(article.intents).replace("_", " ")])
    whole = " ".join([heading, *(text for _, text in sections)])
    counts = _hash_counts([whole, heading, *(text for _, text in sections), *passage_texts])
    vocabulary = Counter(_WORD.findall(whole.lower()))
    return _IndexedFile(sha256, article, passages, internal, sections, owners, counts, vocabulary)


def _edits1(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    return {
        *(a + b[1:] for a, b in splits if b),
        *(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1),
        *(a + c + b[1:] for a, b in splits if b for c in letters),
        *(a + c + b for a, b in splits for c in letters),
    }


def _passage_to_json(p: Passage) -> dict[str, Any]:
    return {"s": p.section, "t": p.text, "k": p.kind, "h": list(p.heading_path), "i": p.internal}


class MarkdownKnowledgeBase(KnowledgeBase):
    """Articles from a folder; ``refresh()`` picks up edits incrementally.

    ``encoder`` (optional) adds semantic reranking with sentence embeddings.
    """

    # Set by _rebuild_weights once there are articles (score_passages returns early until then).
    _articles: sparse.csc_matrix
    _titles: sparse.csc_matrix
    _sections: sparse.csc_matrix
    _passages: sparse.csc_matrix
    _passage_file: NDArray[np.intp]  # article (index into _files_in_order) of each passage
    _passage_section: NDArray[np.intp]  # row of _sections of each passage
    _passage_start: NDArray[np.intp]  # first passage of each article
    _hidden: NDArray[np.bool_]  # internal articles
    _semantic: NDArray[np.float32] | None  # passage embeddings when an encoder is given

    def __init__(
        self,
        folder: Path,
        *,
        index_path: Path | None = None,
        encoder: TextEncoder | None = None,
        semantic_weight: float = SEMANTIC_WEIGHT,
    ) -> None:
        self.folder = Path(folder)
        self.index_path = index_path
        self.encoder = encoder
        self.semantic_weight = semantic_weight if encoder is not None else 0.0
        self._files: dict[str, _IndexedFile] = {}
        self._embeddings: dict[str, tuple[str, NDArray[np.float32]]] = {}  # stem -> (sha256, passage vectors)
        self._files_in_order: list[_IndexedFile] = []
        self._idf: np.ndarray | None = None
        self._vocabulary: Counter[str] = Counter()
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
            self._embeddings.pop(stale, None)
            stats["removed"] += 1
        self._rebuild_weights()
        if stats["added"] or stats["updated"] or stats["removed"]:
            self._save_index()
        self.last_refresh = stats
        return stats

    def _rebuild_weights(self) -> None:
        files = list(self._files.values())
        self._files_in_order = files
        if not files:
            self._idf = None
            return
        passage_rows = sparse.vstack([f.counts[2 + f.n_sections :] for f in files]).tocsr()
        doc_freq = np.bincount(passage_rows.indices, minlength=passage_rows.shape[1])
        self._idf = np.log((1 + passage_rows.shape[0]) / (1 + doc_freq)) + 1.0
        # Column-major copies: a question has few terms, so scoring reads only their columns.
        self._articles = self._weigh(sparse.vstack([f.counts[0] for f in files])).tocsc()
        self._titles = self._weigh(sparse.vstack([f.counts[1] for f in files])).tocsc()
        self._sections = self._weigh(sparse.vstack([f.counts[2 : 2 + f.n_sections] for f in files])).tocsc()
        self._passages = self._weigh(passage_rows).tocsc()
        n_passages = [len(f.passages) for f in files]
        section_offsets = np.concatenate([[0], np.cumsum([f.n_sections for f in files])[:-1]])
        self._passage_file = np.repeat(np.arange(len(files)), n_passages)
        self._passage_section = np.concatenate(
            [np.asarray(f.passage_section) + off for f, off in zip(files, section_offsets, strict=True)]
        )
        self._passage_start = np.concatenate([[0], np.cumsum(n_passages)[:-1]]).astype(np.intp)
        self._hidden = np.array([f.article.internal for f in files], dtype=bool)
        self._vocabulary = Counter()
        for f in files:
            self._vocabulary.update(f.vocabulary)
        self._semantic = self._embed(files) if self.encoder is not None else None

    def _embed(self, files: list[_IndexedFile]) -> NDArray[np.float32]:
        assert self.encoder is not None
        if not self._embeddings:
            self._load_vectors()
        stale = [f for f in files if self._embeddings.get(f.article.id, ("",))[0] != f.sha256]
        if stale:
            texts = [_index_text(p.heading_path, p.text) for f in stale for p in f.passages]
            vectors = np.asarray(self.encoder.encode(texts), dtype=np.float32)
            at = 0
            for f in stale:
                self._embeddings[f.article.id] = (f.sha256, vectors[at : at + len(f.passages)])
                at += len(f.passages)
            self._save_vectors()
        return np.vstack([self._embeddings[f.article.id][1] for f in files])

    def _vectors_path(self) -> Path | None:
        if self.index_path is None or self.encoder is None:
            return None
        tag = re.sub(r"[^\w.-]+", "-", getattr(self.encoder, "name", "encoder"))
        return self.index_path.with_suffix(f".{tag}.npz")

    def _save_vectors(self) -> None:
        path = self._vectors_path()
        if path is None:
            return
        arrays = {f"v:{stem}": vectors for stem, (_, vectors) in self._embeddings.items()}
        shas = json.dumps({stem: sha for stem, (sha, _) in self._embeddings.items()})
        try:
            with open(path.with_suffix(".tmp"), "wb") as out:
                # numpy >= 2.1 declares an ``allow_pickle: bool`` keyword beside ``**kwds``, so mypy checks
                # the arrays against it too; their names all start with "v:" and never collide.
                np.savez(out, _shas=np.array(shas), **arrays)  # type: ignore[arg-type]
            path.with_suffix(".tmp").replace(path)
        except OSError as exc:
            log.warning("could not write embedding cache %s: %s", path, exc)

    def _load_vectors(self) -> None:
        path = self._vectors_path()
        if path is None or not path.is_file():
            return
        try:
            with np.load(path, allow_pickle=False) as data:
                shas = json.loads(str(data["_shas"]))
                self._embeddings = {stem: (sha, data[f"v:{stem}"]) for stem, sha in shas.items()}
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable embedding cache %s: %s", path, exc)
            self._embeddings = {}

    def _weigh(self, counts: sparse.spmatrix) -> sparse.csr_matrix:
        weighted = sparse.csr_matrix(counts, dtype=np.float64)
        weighted.data = 1.0 + np.log(weighted.data)  # sublinear tf
        weighted = weighted.multiply(self._idf).tocsr()
        return _l2_rows(weighted)

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
                    "internal": f.article.internal,
                },
                "passages": [_passage_to_json(p) for p in f.passages],
                "internal": [_passage_to_json(p) for p in f.internal],
                "sections": [list(s) for s in f.sections],
                "passage_section": f.passage_section,
                "vocabulary": dict(f.vocabulary),
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
                article = Article(a["id"], a["title"], a["url"], tuple(a["intents"]), a["body"], a["internal"])
                sections = [(s[0], s[1]) for s in entry["sections"]]
                section_md = {s.heading: s.markdown for s in split_sections(article)}

                def passage(
                    p: dict[str, Any], article_id: str = article.id, md: dict[str | None, str] = section_md
                ) -> Passage:
                    return Passage(article_id, p["s"], p["t"], 0.0, p["k"], tuple(p["h"]), md.get(p["s"], ""), p["i"])

                self._files[stem] = _IndexedFile(
                    entry["sha256"],
                    article,
                    [passage(p) for p in entry["passages"]],
                    [passage(p) for p in entry["internal"]],
                    sections,
                    list(entry["passage_section"]),
                    counts,
                    Counter(entry["vocabulary"]),
                )
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("ignoring unreadable knowledge base index %s: %s", self.index_path, exc)
            self._files = {}

    # ------------------------------------------------------------ queries
    def articles(self) -> list[Article]:
        return [f.article for f in self._files.values()]

    def get(self, article_id: str) -> Article | None:
        f = self._files.get(article_id)
        return f.article if f else None

    def internal_notes(self, article_id: str) -> list[Passage]:
        f = self._files.get(article_id)
        return list(f.internal) if f else []

    def correct(self, query: str) -> str:
        """The question with words the knowledge base does not know replaced by a
        known word one typo away ("invocie" → "invoice"), most frequent first."""

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            lower = word.lower()
            if len(lower) < 5 or "'" in lower or lower in self._vocabulary or lower in _STOP_WORDS:
                return word
            candidates = [w for w in _edits1(lower) if w in self._vocabulary]
            return max(candidates, key=lambda w: (self._vocabulary[w], w)) if candidates else word

        return re.sub(r"[A-Za-z][A-Za-z'\-]*", fix, query)

    def score_passages(self, query: str) -> NDArray[np.float64]:
        """Every customer-facing passage's score for the question (0..1), in index order."""
        if self._idf is None or not query.strip():
            return np.zeros(0)
        q = self._weigh(_hash_counts([self.correct(query)])).tocsr()
        if q.nnz == 0 and self._semantic is None:
            return np.zeros(self._passages.shape[0])

        def dot(matrix: sparse.csc_matrix) -> NDArray[np.float64]:
            return np.asarray(matrix[:, q.indices] @ q.data).ravel()

        w = WEIGHTS
        lexical = (
            w["passage"] * dot(self._passages)
            + w["section"] * dot(self._sections)[self._passage_section]
            + (w["article"] * dot(self._articles) + w["title"] * dot(self._titles))[self._passage_file]
        )
        if self._semantic is None or self.encoder is None:
            return lexical
        vector = np.asarray(self.encoder.encode([query]), dtype=np.float32).ravel()
        semantic: NDArray[np.float32] = np.clip(self._semantic @ vector, 0.0, 1.0)
        return (1 - self.semantic_weight) * lexical + self.semantic_weight * semantic

    def search(self, query: str, *, intent: str | None = None, limit: int = 3) -> list[ArticleHit]:
        scores = self.score_passages(query)
        if scores.size == 0:
            return []
        files = self._files_in_order
        best = np.maximum.reduceat(scores, self._passage_start)
        boost = np.array([INTENT_BOOST if intent and intent in f.article.intents else 0.0 for f in files])
        ranked = best + np.where(best > 0, boost, 0.0)
        ranked[self._hidden] = 0.0  # internal articles: agents only
        hits = []
        for i in np.argsort(-ranked, kind="stable")[:limit]:
            if ranked[i] <= 0:
                break
            hits.append(
                self._hit(files[i], scores[self._passage_start[i] : self._passage_start[i] + len(files[i].passages)])
            )
        return hits

    @staticmethod
    def _hit(f: _IndexedFile, scores: np.ndarray, keep: int = 3) -> ArticleHit:
        order = np.argsort(-scores, kind="stable")[:keep]
        passages = tuple(_scored(f.passages[j], float(min(1.0, scores[j]))) for j in order)
        top = passages[0]
        # ``passage`` keeps its old meaning for the current presenter, which quotes it: the
        # opening paragraph unless another passage is clearly better. New code uses
        # ``passages`` / ``section`` (the best passage) through bot/answers.py.
        legacy = f.passages[0].text
        if f.passages[0].section is not None or scores[0] + LEGACY_MARGIN < top.score:
            legacy = top.text
        return ArticleHit(f.article, top.score, legacy, top.section, passages)


def _scored(p: Passage, score: float) -> Passage:
    return Passage(p.article_id, p.section, p.text, score, p.kind, p.heading_path, p.section_text, p.internal)


def passages_of(hits: Sequence[ArticleHit]) -> list[Passage]:
    """All passages of the hits, best score first (customer-facing only)."""
    return sorted((p for h in hits for p in h.passages if not p.internal), key=lambda p: -p.score)
