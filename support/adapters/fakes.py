"""In-memory adapters for unit tests and demos; same behaviour as the real ones, no I/O."""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable, Sequence

from support.adapters.ports import (
    FetchedMail,
    FolderState,
    OutgoingMail,
    SearchDocument,
    SearchHit,
    SendError,
)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


class InMemorySearchIndex:
    """A substring-matching search index; ranks by how many query terms a document holds."""

    def __init__(self) -> None:
        self._docs: dict[str, SearchDocument] = {}
        self._lock = threading.Lock()
        self.healthy = True

    def ping(self) -> bool:
        """Return the configured health, so tests can simulate an outage."""
        return self.healthy

    def upsert(self, docs: Sequence[SearchDocument]) -> None:
        """Add or replace documents."""
        with self._lock:
            for doc in docs:
                self._docs[doc.id] = doc

    def delete(self, ids: Sequence[str]) -> None:
        """Remove documents."""
        with self._lock:
            for doc_id in ids:
                self._docs.pop(doc_id, None)

    def search(
        self, query: str, *, municipality: str | None = None, top: int = 5
    ) -> list[SearchHit]:
        """Return published documents holding the most query terms."""
        terms = [t for t in _fold(query).split() if t]
        hits: list[SearchHit] = []
        with self._lock:
            docs = list(self._docs.values())
        for doc in docs:
            if not doc.published or doc.municipality not in (None, municipality):
                continue
            text = _fold(" ".join([doc.title, doc.answer_short, doc.body, *doc.tags]))
            score = float(sum(1 for t in terms if t in text))
            if score > 0:
                boost = 0.5 if municipality is not None and doc.municipality == municipality else 0
                hits.append(SearchHit(id=doc.id, score=score + boost))
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits[:top]

    def close(self) -> None:
        """Nothing to release."""


class InMemoryMailFetcher:
    """An IMAP-like mail account in memory: folders, UIDs, UIDVALIDITY, flags."""

    def __init__(self) -> None:
        self.folders: dict[str, dict[int, bytes]] = {}
        self.uidvalidity: dict[str, int] = {}
        self.next_uid: dict[str, int] = {}
        self.processed: dict[str, set[int]] = {}
        self.fail_next_fetch = False

    def append(self, folder: str, raw: bytes) -> int:
        """Deliver a message and return its UID."""
        self.folders.setdefault(folder, {})
        self.uidvalidity.setdefault(folder, 1)
        uid = self.next_uid.get(folder, 1)
        self.folders[folder][uid] = raw
        self.next_uid[folder] = uid + 1
        return uid

    def recreate(self, folder: str) -> None:
        """Recreate the folder with the same mails: new UIDVALIDITY, UIDs from 1."""
        mails = [self.folders[folder][uid] for uid in sorted(self.folders.get(folder, {}))]
        self.uidvalidity[folder] = self.uidvalidity.get(folder, 1) + 1
        self.folders[folder] = {}
        self.next_uid[folder] = 1
        self.processed[folder] = set()
        for raw in mails:
            self.append(folder, raw)

    def folder_state(self, folder: str) -> FolderState:
        """Return the folder's state."""
        return FolderState(
            uidvalidity=self.uidvalidity.get(folder, 1),
            uidnext=self.next_uid.get(folder, 1),
            exists=len(self.folders.get(folder, {})),
        )

    def fetch_after(self, folder: str, last_uid: int, limit: int) -> list[FetchedMail]:
        """Return messages after a UID."""
        if self.fail_next_fetch:
            self.fail_next_fetch = False
            raise ConnectionError("connection dropped")
        uids = sorted(u for u in self.folders.get(folder, {}) if u > last_uid)[:limit]
        return [FetchedMail(uid=u, raw=self.folders[folder][u]) for u in uids]

    def mark_processed(self, folder: str, uids: Sequence[int]) -> None:
        """Flag messages."""
        self.processed.setdefault(folder, set()).update(uids)

    def wait_for_new(self, folder: str, timeout: float) -> bool:
        """Return at once: in memory there is nothing to wait for."""
        return False

    def close(self) -> None:
        """Nothing to close."""


class InMemoryMailSender:
    """Records what would have been sent; can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []
        self.fail_with: SendError | None = None

    def send(self, mail: OutgoingMail, *, before_data: Callable[[], None] | None = None) -> None:
        """Record the message, or raise the configured failure."""
        if self.fail_with is not None and not self.fail_with.reached_server:
            raise self.fail_with
        if before_data is not None:
            before_data()
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(mail)


class InMemorySentArchive:
    """A Sent folder in memory: one copy per Message-ID."""

    def __init__(self) -> None:
        self.messages: dict[str, bytes] = {}
        self.fail: bool = False

    def append_sent(self, raw: bytes, *, message_id: str) -> bool:
        """Keep the copy unless one with this Message-ID is there."""
        if self.fail:
            raise OSError("archive unavailable")
        if message_id in self.messages:
            return False
        self.messages[message_id] = raw
        return True
