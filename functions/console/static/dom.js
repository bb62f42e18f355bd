// Building the page: every element through h(), every text through textContent. Nothing a tenant
// controls (ids, file names, error messages) is ever parsed as HTML, so it cannot become markup or
// script: an `<img src=x onerror=...>` campaign id is shown as those characters.

const SVG = "http://www.w3.org/2000/svg";

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG, tag), attrs, children);
}

export function replace(parent, ...children) {
  parent.replaceChildren();
  return build(parent, {}, children);
}

export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  window.setTimeout(() => { region.textContent = text; }, 50);
}

// The three states every page has, besides its content.
export function loading(what) {
  return h("p", { class: "state loading", role: "status", "aria-busy": "true" }, `Loading ${what}…`);
}

export function empty(text, action) {
  return h("div", { class: "state empty", role: "status" }, h("p", {}, text), action || null);
}

export function failure(error, retry) {
  const busy = error && error.status === 503;
  const text = busy
    ? "The service is busy right now. Retry in a few seconds."
    : (error && error.message) || "Something went wrong.";
  const hint = busy ? null : (error && error.hint) || "Check the values and try again; if it keeps failing, retry later.";
  return h("div", { class: "state error", role: "alert" },
    h("p", {}, h("strong", {}, busy ? "Retry: " : "Error: "), text),
    error && error.fields && error.fields.length
      ? h("ul", {}, error.fields.map((f) => h("li", {}, h("code", {}, f.field || "?"), ": ", f.message || "")))
      : null,
    hint ? h("p", {}, hint) : null,
    retry ? h("button", { type: "button", onclick: retry }, "Retry") : null);
}

export function field(label, control, help) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const helpId = help ? `${id}-help` : null;
  if (helpId) control.setAttribute("aria-describedby", helpId);
  return h("div", { class: "field" }, h("label", { for: id }, label), control,
    help ? h("small", { id: helpId }, help) : null);
}

export function select(attrs, options, chosen) {
  return h("select", attrs, options.map(([value, label]) =>
    h("option", { value, selected: value === chosen }, label)));
}

export function table(caption, columns, rows, attrs) {
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    h("table", attrs || {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(row))))))));
}

export function number(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString("en-US");
}

export function when(value) {
  return value ? value.replace("T", " ").replace(/\.\d+Z$/, "Z") : "—";
}

export function csvDownload(fileName, header, rows) {
  const quote = (v) => {
    const text = v === null || v === undefined ? "" : String(v);
    // A cell starting with = + - @ would be a formula in a spreadsheet: prefixed with ' (OWASP CSV injection).
    const safe = typeof v !== "number" && /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
    return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
  };
  const text = [header, ...rows].map((r) => r.map(quote).join(",")).join("\r\n") + "\r\n";
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const link = h("a", { href: url, download: fileName, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return text;
}
