// searchkit serve: the page works without this script; it only adds
// "/" to focus the search box and brushing across the date bars.
"use strict";

document.addEventListener("keydown", (event) => {
  const box = document.getElementById("q");
  if (event.key !== "/" || !box || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement) return;
  event.preventDefault();
  box.focus();
  box.select();
});

// Brushing: press on one bar, release on another: since/until span the bars between.
// A press and release on the same bar is a plain click on its link.
for (const svg of document.querySelectorAll("svg.bars")) {
  const bars = Array.from(svg.querySelectorAll("a.bar"));
  let start = null;
  const mark = (from, to) => {
    const [lo, hi] = from <= to ? [from, to] : [to, from];
    bars.forEach((bar, i) => bar.classList.toggle("brushed", from !== null && i >= lo && i <= hi));
  };
  bars.forEach((bar, i) => {
    bar.addEventListener("mousedown", (event) => { start = i; mark(i, i); event.preventDefault(); });
    bar.addEventListener("mouseenter", () => { if (start !== null) mark(start, i); });
    bar.addEventListener("mouseup", (event) => {
      if (start === null || start === i) { start = null; return; }
      event.preventDefault();
      const [lo, hi] = start <= i ? [start, i] : [i, start];
      start = null;
      const url = new URL(window.location.href);
      url.searchParams.set("since", bars[lo].dataset.value);
      url.searchParams.set("until", bars[hi].dataset.value);
      url.searchParams.delete("page");
      window.location.assign(url.toString());
    });
  });
  document.addEventListener("mouseup", () => { if (start !== null) { start = null; mark(null, null); } });
}
