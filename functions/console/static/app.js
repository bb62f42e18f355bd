// The console's shell: sign-in, the signed-in header, and a hash router over the pages.
import { onSignOut, signedIn, signInWithClient, signInWithKey, signOut, tenant } from "./api.js";
import { announce, field, h, replace, failure } from "./dom.js";

const PAGES = {
  jobs: () => import("./jobs.js"),
  upload: () => import("./upload.js"),
  schemas: () => import("./schemas.js"),
  screens: () => import("./screens.js"),
  reports: () => import("./reports.js"),
  bookings: () => import("./bookings.js"),
};
const TITLES = { jobs: "Jobs", upload: "Upload", schemas: "Schemas", screens: "Screens", reports: "Reports", bookings: "Bookings" };

const main = document.getElementById("main");
let cleanup = null;
let generation = 0;
let signOutReason = null;

function route() {
  const parts = (location.hash.replace(/^#\/?/, "") || "jobs").split("/").map(decodeURIComponent);
  const name = PAGES[parts[0]] ? parts[0] : "jobs";
  return { name, args: parts.slice(1) };
}

function showSignedIn(on) {
  document.getElementById("nav").hidden = !on;
  document.getElementById("who").hidden = !on;
  document.getElementById("tenant").textContent = on ? tenant() : "";
}

async function render() {
  if (cleanup) cleanup();
  cleanup = null;
  const mine = ++generation;
  if (!signedIn()) {
    showSignedIn(false);
    renderSignIn();
    return;
  }
  showSignedIn(true);
  const { name, args } = route();
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${TITLES[name]} · Coatro console`;
  document.body.dataset.page = name;
  document.body.dataset.state = "loading";
  const context = {
    current: () => mine === generation,
    done: () => {
      if (mine !== generation) return;
      document.body.dataset.state = "ready";
      // For make bench-console: when each page first became usable (performance.getEntriesByName).
      if (!performance.getEntriesByName(`${name}-usable`).length) performance.mark(`${name}-usable`);
    },
  };
  try {
    const page = await PAGES[name]();
    if (!context.current()) return;
    cleanup = page.render(main, args, context) || null;
  } catch (error) {
    replace(main, failure(error, render));
  }
}

function renderSignIn() {
  document.title = "Sign in · Coatro console";
  document.body.dataset.page = "sign-in";
  let mode = "client";
  const status = h("div", { id: "sign-in-status", "aria-live": "assertive" });
  const clientId = h("input", { id: "client-id", name: "client_id", autocomplete: "username", required: true, spellcheck: "false" });
  const secret = h("input", { id: "client-secret", name: "client_secret", type: "password", autocomplete: "current-password", required: true });
  const key = h("input", { id: "api-key", name: "api_key", type: "password", autocomplete: "off", required: true });
  const clientFields = h("div", {}, field("Client id", clientId), field("Client secret", secret));
  const keyFields = h("div", { hidden: true }, field("API key", key));
  keyFields.querySelector("input").disabled = true;
  const submit = h("button", { type: "submit", id: "sign-in-button" }, "Sign in");
  const choose = (value) => {
    mode = value;
    clientFields.hidden = value !== "client";
    keyFields.hidden = value !== "key";
    for (const input of clientFields.querySelectorAll("input")) input.disabled = value !== "client";
    key.disabled = value !== "key";
  };
  const radio = (value, label, checked) => h("label", { class: "choice" },
    h("input", { type: "radio", name: "mode", value, checked, onchange: () => choose(value) }), " ", label);
  const form = h("form", { id: "sign-in", class: "card narrow", novalidate: false },
    h("h1", {}, "Sign in"),
    h("p", {}, "Use your tenant's OAuth2 client (exchanged once for a token kept in this tab's memory only), or an API key."),
    h("fieldset", {}, h("legend", {}, "Sign in with"), radio("client", "OAuth2 client", true), radio("key", "API key", false)),
    clientFields, keyFields, submit, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    replace(status, h("p", { class: "state loading", role: "status" }, "Signing in…"));
    try {
      if (mode === "client") await signInWithClient(clientId.value.trim(), secret.value);
      else await signInWithKey(key.value.trim());
      secret.value = "";
      key.value = "";
      signOutReason = null;
      announce(`Signed in as tenant ${tenant()}`);
      if (!location.hash || location.hash === "#/" || location.hash === "#/sign-in") location.hash = "#/jobs";
      else render();
    } catch (error) {
      replace(status, failure(error));
      submit.disabled = false;
    }
  });
  replace(main, signOutReason ? h("p", { class: "state notice", role: "status" }, signOutReason) : null, form);
  document.body.dataset.state = "ready";
  if (!performance.getEntriesByName("sign-in-usable").length) performance.mark("sign-in-usable");
  clientId.focus();
}

onSignOut((reason) => {
  signOutReason = reason;
  render();
});
document.getElementById("sign-out").addEventListener("click", () => {
  signOut(null);
  announce("Signed out");
});
window.addEventListener("hashchange", () => {
  render();
  main.focus({ preventScroll: true });
});
render();
