/* charnn dashboard, browser side: paint the colored text, show a tooltip on hover, report a
 * text selection to Dash, and keyboard shortcuts. Loaded automatically from assets/.
 *
 * A window of a few thousand characters is painted as one HTML string of spans set at once
 * (innerHTML): far cheaper than thousands of React components. The containers are empty Dash
 * divs that Dash never re-renders, so the spans survive. After each paint,
 * window.charnnLastPaint = {id, key, t} records when it finished (benchmarks read it).
 */
(function () {
  "use strict";

  const ESC = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\n": "\u21b5\n", "\t": "\u21e5\t" };

  function spanHtml(win, colors, under, focus) {
    const n = win.chars.length;
    const marked = new Uint8Array(n);
    for (const [a, b] of under || []) marked.fill(1, Math.max(0, a), Math.min(n, b));
    const parts = new Array(n);
    for (let i = 0; i < n; i++) {
      const ch = win.chars[i];
      let cls = marked[i] ? "m" : "";
      if (i === focus) cls += " focus";
      parts[i] = '<span data-i="' + i + '"' + (cls ? ' class="' + cls + '"' : "") +
        ' style="background:' + colors[i] + '">' + (ESC[ch] || ch) + "</span>";
    }
    return parts.join("");
  }

  function fmt(x, digits) {
    return x === null || x === undefined ? "–" : Number(x).toFixed(digits);
  }

  function showChar(ch) {
    return ch === "\n" ? "\\n" : ch === " " ? "␣" : ch === "\t" ? "\\t" : ch;
  }

  function tooltipHtml(state, i) {
    const win = state.win, paint = state.paint;
    const top = (win.top[i] || "").split("").map(function (c, k) {
      return "<b>" + showChar(c).replace(/&/g, "&amp;").replace(/</g, "&lt;") + "</b> " +
        Math.round(100 * win.top_p[i][k]) + "%";
    }).join("  ");
    const ch = showChar(win.chars[i]).replace(/&/g, "&amp;").replace(/</g, "&lt;");
    let head = "pos " + (win.start + i) + "  '" + ch + "'";
    if (paint && paint.values) {
      const v = paint.values[i];
      head += "<br>" + paint.unit + " = " + fmt(v, 4);
      if (paint.kind === "c") head += "  (tanh " + fmt(Math.tanh(v), 3) + ")";
    }
    return head + "<br>loss here " + fmt(win.loss[i], 2) + " bits<br>next: " + top;
  }

  function tooltip() {
    let tip = document.getElementById("charnn-tip");
    if (!tip) {
      tip = document.createElement("div");
      tip.id = "charnn-tip";
      document.body.appendChild(tip);
    }
    return tip;
  }

  function attach(el) {
    if (el._charnnAttached) return;
    el._charnnAttached = true;
    el.addEventListener("mouseover", function (e) {
      const span = e.target.closest("span[data-i]");
      if (!span || !el._charnn) return;
      const tip = tooltip();
      tip.innerHTML = tooltipHtml(el._charnn, Number(span.dataset.i));
      tip.style.display = "block";
      const r = span.getBoundingClientRect();
      tip.style.left = Math.min(r.left, window.innerWidth - 320) + "px";
      tip.style.top = (r.bottom + 6) + "px";
    });
    el.addEventListener("mouseleave", function () { tooltip().style.display = "none"; });
    el.addEventListener("mouseup", function () { reportSelection(el); });
    el.addEventListener("click", function (e) { reportClick(el, e); });
  }

  // A click (not a selection) on a character of the neuron view asks for the unit's value there to
  // be attributed to the characters before it; window.charnnAttributeClick records when (tests read it).
  function reportClick(el, e) {
    const sel = window.getSelection();
    if (el.id !== "text" || (sel && !sel.isCollapsed) || !el._charnn || !window.dash_clientside.set_props) return;
    const span = e.target.closest("span[data-i]");
    if (!span) return;
    window.charnnAttributeClick = performance.now();
    window.dash_clientside.set_props("attr-at", { data: { pos: el._charnn.win.start + Number(span.dataset.i) } });
  }

  function reportSelection(el) {
    const sel = window.getSelection();
    if (!sel || sel.isCollapsed || !el._charnn || !window.dash_clientside.set_props) return;
    const ends = [sel.anchorNode, sel.focusNode].map(function (node) {
      const span = node && (node.nodeType === 1 ? node : node.parentElement).closest("span[data-i]");
      return span && el.contains(span) ? Number(span.dataset.i) : null;
    });
    if (ends[0] === null || ends[1] === null) return;
    const start = el._charnn.win.start;
    window.dash_clientside.set_props("span-sel", {
      data: { start: start + Math.min(ends[0], ends[1]), stop: start + Math.max(ends[0], ends[1]) + 1 },
    });
  }

  function paint(id, win, colors, paint) {
    const el = document.getElementById(id);
    if (!el || !win || !colors || colors.length !== win.chars.length) return false;
    attach(el);
    el.innerHTML = spanHtml(win, colors, paint && paint.under, paint ? paint.focus : null);
    el._charnn = { win: win, paint: paint };
    void el.offsetHeight; // include layout in the timing
    window.charnnLastPaint = { id: id, key: (paint ? paint.unit + " " : "") + win.key, t: performance.now() };
    return true;
  }

  function status(win, text) {
    return "chars " + win.start.toLocaleString() + "–" + win.stop.toLocaleString() + " of " +
      win.n.toLocaleString() + (text ? "  ·  " + text : "");
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    charnn: {
      renderNeuron: function (win, p) {
        if (!win || !p || p.key !== win.key) return window.dash_clientside.no_update;
        if (!paint("text", win, p.colors, p)) return window.dash_clientside.no_update;
        let text = p.unit;
        if (p.note) text += "  ·  " + p.note;
        if (p.under && p.under.length) text += "  ·  matches underlined";
        if (p.error) text += "  ·  " + p.error;
        return status(win, text);
      },
      renderDelta: function (result) {
        if (!result || !paint("ivn-text", result.win, result.paint.colors, result.paint)) {
          return window.dash_clientside.no_update;
        }
        const mode = result.summary.mode;
        let text = "loss change, " + result.summary.unit + (mode === "zero" ? " held at 0" : mode === "mean" ?
          " held at its mean" : " clamped to " + mode.split("=")[1]) + "  \u00b7  full color at \u00b1" +
          result.paint.scale + " bits";
        if (result.paint.under.length) text += "  \u00b7  measured matches underlined";
        return status(result.win, text);
      },
      renderLoss: function (win, tab) {
        if (!win || tab !== "model") return window.dash_clientside.no_update;
        if (!paint("loss-text", win, win.loss_colors, null)) return window.dash_clientside.no_update;
        const mean = win.loss.reduce(function (a, b) { return a + b; }, 0) / Math.max(1, win.loss.length);
        return status(win, "model loss, mean " + mean.toFixed(2) + " bits/char");
      },
    },
  });

  const KEYS = { j: "unit-next", "]": "unit-next", k: "unit-prev", "[": "unit-prev",
                 n: "page-next", p: "page-prev", s: "strong-next" };
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = (e.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || e.target.isContentEditable) return;
    const button = KEYS[e.key] && document.getElementById(KEYS[e.key]);
    if (button) {
      e.preventDefault();
      button.click();
    }
  });
})();
