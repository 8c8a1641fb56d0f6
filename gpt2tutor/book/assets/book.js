// gpt2tutor's book: hints revealed one tier at a time, and a search over window.BOOK_INDEX
// (assets/search-index.js, a script rather than JSON so that it loads from file:// with no server).
"use strict";

function setUpHints() {
  const hints = Array.from(document.querySelectorAll("details.hint"));
  hints.forEach((hint, i) => {
    if (i > 0 && !hints[i - 1].open) hint.hidden = true;
    hint.addEventListener("toggle", () => {
      if (hint.open && hints[i + 1]) hints[i + 1].hidden = false;
    });
  });
  // On paper every hint is open; on screen afterwards, as they were.
  let before = [];
  window.addEventListener("beforeprint", () => {
    before = hints.map((hint) => [hint, hint.open, hint.hidden]);
    hints.forEach((hint) => { hint.hidden = false; hint.open = true; });
  });
  window.addEventListener("afterprint", () => {
    before.forEach(([hint, open, hidden]) => { hint.open = open; hint.hidden = hidden; });
  });
}

function occurrences(text, term) {
  let n = 0;
  for (let at = text.indexOf(term); at !== -1 && n < 5; at = text.indexOf(term, at + term.length)) n++;
  return n;
}

function snippet(text, term) {
  const at = Math.max(0, text.toLowerCase().indexOf(term));
  let start = Math.max(0, at - 60);
  if (start > 0) start = Math.min(at, text.indexOf(" ", start) + 1 || at); // from a word's start
  const span = document.createElement("span");
  span.className = "snippet";
  span.append((start > 0 ? "…" : "") + text.slice(start, at));
  const mark = document.createElement("mark");
  mark.textContent = text.slice(at, at + term.length);
  span.append(mark, text.slice(at + term.length, at + term.length + 110) + "…");
  return span;
}

function search(query) {
  const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
  const hits = [];
  for (const entry of window.BOOK_INDEX || []) {
    const head = (entry.title + " " + entry.heading).toLowerCase();
    const body = entry.text.toLowerCase();
    let score = 0;
    const found = terms.every((term) => {
      const inHead = head.includes(term);
      const n = occurrences(body, term);
      score += (inHead ? 10 : 0) + n;
      return inHead || n > 0;
    });
    if (found) hits.push({ score, entry, term: terms.find((t) => body.includes(t)) || terms[0] });
  }
  return hits.sort((a, b) => b.score - a.score); // stable: equal scores stay in step order
}

function setUpSearch() {
  const input = document.getElementById("search");
  const list = document.getElementById("search-results");
  if (!input || !list) return;
  const show = () => {
    const query = input.value.trim();
    list.replaceChildren();
    list.hidden = !query;
    if (!query) return;
    const hits = search(query);
    if (!hits.length) {
      const li = document.createElement("li");
      li.className = "none";
      li.textContent = `No lesson mentions “${query}”.`;
      list.append(li);
      return;
    }
    for (const { entry, term } of hits.slice(0, 40)) {
      const a = document.createElement("a");
      a.href = entry.page + (entry.anchor ? "#" + entry.anchor : "");
      const where = document.createElement("span");
      where.className = "where";
      where.textContent = (entry.step ? `Step ${entry.step} · ` : "") + entry.title + (entry.anchor ? ` › ${entry.heading}` : "");
      a.append(where, snippet(entry.text, term));
      const li = document.createElement("li");
      li.append(a);
      list.append(li);
    }
  };
  input.addEventListener("input", show);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      const first = list.querySelector("a");
      if (first) window.location.href = first.href;
    } else if (event.key === "Escape") {
      input.value = "";
      show();
    } else if (event.key === "ArrowDown") {
      const first = list.querySelector("a");
      if (first) { event.preventDefault(); first.focus(); }
    }
  });
  list.addEventListener("click", () => { list.hidden = true; });
  document.addEventListener("click", (event) => {
    if (!event.target.closest(".search")) list.hidden = true;
  });
  input.addEventListener("focus", () => { if (input.value.trim()) show(); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement !== input) { event.preventDefault(); input.focus(); }
  });
}

setUpHints();
setUpSearch();
