// What every page shares: the language switch, the elder-friendly switch, the sign-in button
// and a small hash router (#/route?query). Each page gives its views; the shell renders the
// current one again whenever the route, the language, the mode or the sign-in changes.

import * as auth from "./auth.js";
import { fill, focusHeading, h } from "./dom.js";
import { loadMessages, t, translate } from "./i18n.js";
import { applyElder, preferences } from "./prefs.js";

/** The route of the URL's hash: {name, id, query}; `#/dataset/ab12?x=1` -> dataset, ab12. */
export function currentRoute() {
  const hash = window.location.hash.startsWith("#/") ? window.location.hash.slice(2) : "";
  const [path, search = ""] = hash.split("?");
  const [name = "", id = ""] = path.split("/").map(decodeURIComponent);
  return { name, id, query: new URLSearchParams(search) };
}

/** `#/name/id?query` for a link. */
export function href(name, { id = "", query = {} } = {}) {
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v != null));
  const path = id ? `${name}/${encodeURIComponent(id)}` : name;
  const search = params.toString();
  return `#/${path}${search ? `?${search}` : ""}`;
}

/** Say `message` to screen readers (a polite live region). */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (region) {
    region.textContent = "";
    window.setTimeout(() => {
      region.textContent = message;
    }, 50);
  }
}

/** A notice in the page (role=alert for errors, status otherwise). */
export function notice(text, { error = false } = {}) {
  return h("div", { class: error ? "notice error" : "notice", role: error ? "alert" : "status" }, text);
}

function updateSwitches() {
  const langButton = document.getElementById("lang-switch");
  const other = preferences.lang === "en" ? "zh-CN" : "en";
  langButton.textContent = other === "en" ? "English" : "中文";
  langButton.setAttribute("lang", other);
  langButton.setAttribute("aria-label", t("lang.switch"));
  document.getElementById("elder-switch").setAttribute("aria-pressed", String(preferences.elder));
  const signedIn = auth.signedIn();
  document.getElementById("sign-in").hidden = signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
  const register = document.getElementById("register"); // the public page's only
  if (register) register.hidden = signedIn;
  const who = document.getElementById("who");
  if (who) {
    const claims = auth.identity();
    who.textContent = signedIn ? claims?.name || claims?.preferred_username || "" : "";
  }
}

/**
 * Start a page: `views` maps a route name to `async (main, route) => void`; `fallback` is the
 * view name for an unknown route; `client` the registered application of this page;
 * `unavailableKey` the message shown while the authorization server offers no code flow.
 */
export async function start({ views, fallback, client, titleKey, unavailableKey = "signIn.unavailable" }) {
  applyElder();
  await loadMessages();
  auth.configure(client);
  const main = document.getElementById("main");
  let focusOnRender = false;

  let generation = 0; // a newer render (another click, the sign-in finishing) wins

  async function render() {
    const mine = ++generation;
    const hash = window.location.hash;
    const route = currentRoute();
    const view = views[route.name] ? route.name : fallback;
    main.setAttribute("aria-busy", "true");
    // the view is built off screen, then shown whole, unless a newer render started meanwhile
    const staging = document.createElement("div");
    try {
      await views[view](staging, route);
    } catch (error) {
      fill(staging, h("h1", { text: t("error.title") }), notice(error.message, { error: true }));
    }
    if (mine !== generation) return;
    main.replaceChildren(...staging.childNodes);
    main.dataset.view = view;
    main.dataset.route = hash; // which URL this view shows (the browser tests wait for it)
    for (const link of document.querySelectorAll("[data-route]")) {
      if (link.dataset.route === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    main.removeAttribute("aria-busy");
    document.title = `${main.querySelector("h1")?.textContent || ""} · ${t(titleKey)}`;
    if (focusOnRender) focusHeading(main);
    focusOnRender = true;
  }

  function refresh() {
    translate(document);
    updateSwitches();
    focusOnRender = false;
    return render();
  }

  document.getElementById("lang-switch").addEventListener("click", async () => {
    preferences.lang = preferences.lang === "en" ? "zh-CN" : "en";
    await loadMessages();
    await refresh();
    announce(t("lang.changed"));
  });
  document.getElementById("elder-switch").addEventListener("click", async () => {
    preferences.elder = !preferences.elder;
    applyElder();
    await refresh();
    announce(t(preferences.elder ? "elder.on" : "elder.off"));
  });
  document.getElementById("sign-in").addEventListener("click", async () => {
    if (await auth.provider().catch(() => null)) {
      await auth.signIn();
    } else {
      fill(main, h("h1", { text: t("signIn") }), notice(t(unavailableKey)));
      focusHeading(main);
    }
  });
  document.getElementById("sign-out").addEventListener("click", () => auth.signOut());
  auth.onChange(() => refresh());
  window.addEventListener("hashchange", () => {
    if (window.location.hash.startsWith("#/") || window.location.hash === "") render();
  });

  translate(document);
  updateSwitches();
  if (auth.startRequested() && (await auth.provider().catch(() => null))) {
    await auth.signIn();
    return;
  }
  const callback = await auth.completeSignIn().catch((error) => ({ ok: false, error: error.message }));
  await render();
  if (callback && !callback.ok) {
    main.prepend(notice(t("signIn.failed", { reason: callback.error }), { error: true }));
  }
  document.body.dataset.ready = "true"; // for the browser tests: the first view is on screen
}
